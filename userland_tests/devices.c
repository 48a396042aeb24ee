/* devices: /dev/null (writes vanish, reads end at once), /dev/zero (zeros), /dev/full (ENOSPC
 * on write), /dev/urandom (random bytes), their device numbers, and /dev/shm a directory. */
#include "ut.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static char buf[8192];

int main(void) {
    int fd = open("/dev/null", O_RDWR);
    CHECK(fd >= 0 && write(fd, "discard", 7) == 7, "write to /dev/null");
    CHECK(read(fd, buf, sizeof buf) == 0, "read of /dev/null: end of file");
    close(fd);
    struct stat st;
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
          "/dev/null is character device 1:3");
    CHECK(stat("/dev/zero", &st) == 0 && S_ISCHR(st.st_mode) && minor(st.st_rdev) == 5, "/dev/zero is 1:5");
    fd = open("/dev/zero", O_RDONLY);
    memset(buf, 1, sizeof buf);
    int zero = 1;
    CHECK(fd >= 0 && read(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "read 8 KiB of /dev/zero");
    for (size_t i = 0; i < sizeof buf; i++)
        zero &= buf[i] == 0;
    CHECK(zero, "all zeros");
    close(fd);
    fd = open("/dev/full", O_WRONLY);
    EXPECT_ERR(write(fd, "x", 1), ENOSPC, "write to /dev/full");
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    unsigned char r1[32] = {0}, r2[32] = {0};
    CHECK(fd >= 0 && read(fd, r1, 32) == 32 && read(fd, r2, 32) == 32 && memcmp(r1, r2, 32) != 0,
          "two reads of /dev/urandom differ");
    close(fd);
    CHECK(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode), "/dev/shm is a directory");
    char lk[64];
    ssize_t n = readlink("/dev/fd", lk, sizeof lk - 1);
    lk[n > 0 ? n : 0] = 0;
    CHECK(strcmp(lk, "/proc/self/fd") == 0, "/dev/fd -> /proc/self/fd");
    n = readlink("/dev/stdout", lk, sizeof lk - 1);
    lk[n > 0 ? n : 0] = 0;
    CHECK(strcmp(lk, "/proc/self/fd/1") == 0, "/dev/stdout -> /proc/self/fd/1");
    struct stat a, b;
    int hf = open("/dev/null", O_RDONLY);
    char fdp[32];
    snprintf(fdp, sizeof fdp, "/dev/fd/%d", hf);
    CHECK(stat(fdp, &a) == 0 && fstat(hf, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
          "/dev/fd/N is what descriptor N is open on");
    close(hf);
    return ut_exit(0);
}
