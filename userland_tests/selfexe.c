/* selfexe: readlink("/proc/self/exe") names this program (its basename is printed; the directory
 * differs between host and sandbox), a too-small buffer truncates without a NUL, a missing
 * path gives ENOENT, and /proc/self/cmdline holds argv. */
#include "ut.h"
#include <fcntl.h>

int main(int argc, char **argv) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    CHECK(n > 0, "readlink(/proc/self/exe)");
    if (n > 0) {
        buf[n] = 0;
        CHECK(buf[0] == '/', "the link is an absolute path");
        printf("exe basename=%s\n", ut_basename(buf));
    }
    char small[3] = {'x', 'x', 'x'};
    ssize_t s = readlink("/proc/self/exe", small, 2);
    CHECK(s == 2 && small[2] == 'x', "readlink into a 2-byte buffer returns 2, writes no NUL");
    EXPECT_ERR(readlink("/nonexistent-pyquark-dir/link", buf, sizeof buf), ENOENT, "readlink(missing path)");

    int fd = open("/proc/self/cmdline", O_RDONLY);
    CHECK(fd >= 0, "open(/proc/self/cmdline)");
    if (fd >= 0) {
        char cmd[4096];
        ssize_t got = 0, r;
        while ((r = read(fd, cmd + got, sizeof cmd - got)) > 0)
            got += r;
        close(fd);
        size_t want = 0;
        for (int i = 0; i < argc; i++)
            want += strlen(argv[i]) + 1;
        CHECK((size_t)got == want, "cmdline is as long as argv with NULs");
        int i = 1;
        size_t off = strlen(cmd) + 1;
        int match = got > 0;
        for (; i < argc && off < (size_t)got; i++) {
            match &= !strcmp(cmd + off, argv[i]);
            off += strlen(cmd + off) + 1;
        }
        CHECK(match && i == argc, "cmdline's arguments match argv");
    }
    return ut_exit(0);
}
