/* fileio: files under the root, reading this program's own executable (argv[0]): open takes the
 * lowest free descriptor, the first bytes are the ELF magic, fstat/stat agree on a regular file's
 * size and inode, lseek and pread, stdio over a file, missing paths give ENOENT, O_DIRECTORY on a
 * file ENOTDIR, writing a read-only descriptor EBADF, "/" lists entries, getcwd is absolute. */
#include "ut.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    (void)argc;
    const char *self = argv[0];
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    CHECK(fd == 3, "open(argv[0]) returns 3");
    if (fd < 0)
        return ut_exit(0);
    unsigned char magic[4];
    CHECK(read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4), "the first 4 bytes are the ELF magic");
    struct stat st, st2;
    CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 4096, "fstat: a regular file of more than 4 KiB");
    CHECK(stat(self, &st2) == 0 && st2.st_size == st.st_size && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev, "stat agrees with fstat");
    CHECK(lseek(fd, 0, SEEK_CUR) == 4, "lseek(SEEK_CUR) after the read is 4");
    CHECK(lseek(fd, 0, SEEK_END) == st.st_size, "lseek(SEEK_END) is the size");
    CHECK(read(fd, magic, 4) == 0, "read at the end returns 0");
    CHECK(pread(fd, magic, 3, 1) == 3 && !memcmp(magic, "ELF", 3), "pread(3 bytes at 1) is ELF");
    CHECK(lseek(fd, 0, SEEK_CUR) == st.st_size, "pread leaves the offset alone");
    EXPECT_ERR(write(fd, "x", 1), EBADF, "write to a read-only descriptor");
    EXPECT_ERR(lseek(fd, -1, SEEK_SET), EINVAL, "lseek to -1");
    CHECK(close(fd) == 0, "close");
    EXPECT_ERR(close(fd), EBADF, "close again");

    FILE *f = fopen(self, "rb");
    unsigned char hdr[64];
    CHECK(f && fread(hdr, 1, sizeof hdr, f) == sizeof hdr && hdr[4] == 2 && hdr[5] == 1, "fopen/fread: a 64-bit little-endian ELF header");
    if (f)
        fclose(f);

    EXPECT_ERR(open("/nonexistent-pyquark-dir/file", O_RDONLY), ENOENT, "open(missing path)");
    EXPECT_ERR(open(self, O_RDONLY | O_DIRECTORY), ENOTDIR, "open(a file, O_DIRECTORY)");
    struct stat sr;
    CHECK(stat("/", &sr) == 0 && S_ISDIR(sr.st_mode), "stat(/) is a directory");
    DIR *dir = opendir("/");
    int entries = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)))
        entries++;
    CHECK(dir && entries > 2, "/ lists more than . and ..");
    if (dir)
        closedir(dir);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) && cwd[0] == '/', "getcwd is an absolute path");
    return ut_exit(0);
}
