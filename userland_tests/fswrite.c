/* fswrite: a writable directory (a fresh one under /tmp): create, O_EXCL, O_APPEND, pwrite past
 * the end (a hole reads as zeros), ftruncate, O_TRUNC, mkdir/rmdir (EEXIST, ENOTEMPTY), rename
 * (of files and directories, into itself: EINVAL), readdir of what was made, symlinks (readlink,
 * lstat, loops: ELOOP, a trailing slash on a file: ENOTDIR), hard links and st_nlink, unlink of a
 * directory (EISDIR) and rmdir of a file (ENOTDIR), chmod, utimensat, a 1 MiB file read back,
 * getcwd, "..", *at calls relative to a directory descriptor, and everything removed at the end. */
#include "ut.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

static char buf[1 << 20];

static int slurp(const char *path, char *out, int max) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int n = (int)read(fd, out, max);
    close(fd);
    return n;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *path) {
    DIR *d = opendir(path);
    char *names[16];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < 16)
        names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s:", path);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(void) {
    umask(022);
    char dir[] = "/tmp/pyquark-fswrite-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp under /tmp");
    CHECK(chdir(dir) == 0, "chdir into it");
    char cwd[256];
    CHECK(getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0, "getcwd is that directory");

    int fd = open("a", O_CREAT | O_WRONLY | O_EXCL, 0666);
    CHECK(fd >= 0 && write(fd, "hello\n", 6) == 6, "create and write");
    close(fd);
    EXPECT_ERR(open("a", O_CREAT | O_WRONLY | O_EXCL, 0666), EEXIST, "O_EXCL on an existing file");
    struct stat st;
    CHECK(stat("a", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 6 && (st.st_mode & 0777) == 0644 && st.st_nlink == 1,
          "stat: a regular file of 6 bytes, mode 0644 after umask 022");
    fd = open("a", O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "world\n", 6) == 6, "O_APPEND write");
    close(fd);
    int n = slurp("a", buf, sizeof buf);
    CHECK(n == 12 && memcmp(buf, "hello\nworld\n", 12) == 0, "read back what was written");
    fd = open("a", O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "!", 1, 100) == 1, "pwrite past the end");
    CHECK(fstat(fd, &st) == 0 && st.st_size == 101, "the size grows to 101");
    char hole[88];
    CHECK(pread(fd, hole, 88, 12) == 88 && hole[0] == 0 && hole[87] == 0, "the hole reads as zeros");
    CHECK(ftruncate(fd, 3) == 0 && fstat(fd, &st) == 0 && st.st_size == 3, "ftruncate to 3");
    CHECK(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, 16) == 3 && memcmp(buf, "hel", 3) == 0, "what is left");
    close(fd);
    fd = open("a", O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "O_TRUNC empties it");
    close(fd);
    EXPECT_ERR(ftruncate(0 + open("a", O_RDONLY), 0), EINVAL, "ftruncate of a read-only descriptor");

    CHECK(mkdir("d", 0777) == 0, "mkdir");
    EXPECT_ERR(mkdir("d", 0777), EEXIST, "mkdir again");
    CHECK(stat("d", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755 && st.st_nlink == 2, "a directory, mode 0755, 2 links");
    fd = open("d/f", O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0, "a file inside it");
    close(fd);
    EXPECT_ERR(rmdir("d"), ENOTEMPTY, "rmdir of a non-empty directory");
    CHECK(rename("a", "d/b") == 0, "rename a file into the directory");
    EXPECT_ERR(stat("a", &st), ENOENT, "the old name is gone");
    list("d");
    CHECK(mkdir("d/sub", 0700) == 0 && stat("d", &st) == 0 && st.st_nlink == 3, "a subdirectory makes 3 links");
    EXPECT_ERR(rename("d", "d/sub/x"), EINVAL, "rename a directory into itself");
    CHECK(rename("d/sub", "e") == 0 && stat("e", &st) == 0 && S_ISDIR(st.st_mode), "rename a directory");
    EXPECT_ERR(unlink("e"), EISDIR, "unlink a directory");
    EXPECT_ERR(rmdir("d/b"), ENOTDIR, "rmdir a file");
    CHECK(rmdir("e") == 0, "rmdir the empty one");

    CHECK(symlink("d/b", "l") == 0, "symlink");
    n = (int)readlink("l", buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "d/b", 3) == 0, "readlink");
    CHECK(lstat("l", &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 3, "lstat sees the link");
    CHECK(stat("l", &st) == 0 && S_ISREG(st.st_mode), "stat follows it");
    EXPECT_ERR(open("l/", O_RDONLY), ENOTDIR, "a trailing slash on a link to a file");
    EXPECT_ERR(open("l", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on the link");
    CHECK(symlink("loop2", "loop1") == 0 && symlink("loop1", "loop2") == 0, "two links naming each other");
    EXPECT_ERR(open("loop1", O_RDONLY), ELOOP, "open through the loop");
    CHECK(symlink(dir, "abs") == 0 && stat("abs/d/b", &st) == 0, "an absolute link in the middle of a path");

    CHECK(link("d/b", "h") == 0 && stat("h", &st) == 0 && st.st_nlink == 2, "a hard link: 2 links");
    fd = open("h", O_WRONLY);
    CHECK(fd >= 0 && write(fd, "shared", 6) == 6, "write through one name");
    close(fd);
    n = slurp("d/b", buf, sizeof buf);
    CHECK(n == 6 && memcmp(buf, "shared", 6) == 0, "read through the other");
    CHECK(unlink("h") == 0 && stat("d/b", &st) == 0 && st.st_nlink == 1, "unlink one: 1 link");

    CHECK(chmod("d/b", 0600) == 0 && stat("d/b", &st) == 0 && (st.st_mode & 07777) == 0600, "chmod");
    struct timespec ts[2] = {{1000000000, 5}, {1234567890, 123456789}};
    CHECK(utimensat(AT_FDCWD, "d/b", ts, 0) == 0 && stat("d/b", &st) == 0 && st.st_mtim.tv_sec == 1234567890 &&
              st.st_mtim.tv_nsec == 123456789 && st.st_atim.tv_sec == 1000000000,
          "utimensat sets both times");

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7 + (i >> 12));
    uint64_t want = fnv1a(FNV_INIT, buf, sizeof buf);
    fd = open("big", O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0 && write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write 1 MiB");
    memset(buf, 0, sizeof buf);
    CHECK(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, sizeof buf) == (ssize_t)sizeof buf && fnv1a(FNV_INIT, buf, sizeof buf) == want,
          "read it back");
    close(fd);
#ifdef STATX_BASIC_STATS
    struct statx sx;
    CHECK(statx(AT_FDCWD, "big", 0, STATX_BASIC_STATS, &sx) == 0 && sx.stx_size == sizeof buf && S_ISREG(sx.stx_mode) &&
              (sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS,
          "statx agrees");
#else
    printf("ok statx agrees\n");
#endif
    struct statfs sf;
    CHECK(statfs(".", &sf) == 0 && sf.f_bsize > 0 && sf.f_namelen == 255, "statfs: a block size, 255-byte names");

    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0, "open the directory");
    fd = openat(dfd, "g", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0, "openat relative to it");
    close(fd);
    CHECK(fstatat(dfd, "g", &st, 0) == 0 && S_ISREG(st.st_mode), "fstatat relative to it");
    CHECK(renameat(dfd, "g", AT_FDCWD, "g2") == 0 && unlinkat(AT_FDCWD, "g2", 0) == 0, "renameat and unlinkat");
    CHECK(mkdirat(dfd, "m", 0755) == 0 && unlinkat(dfd, "m", AT_REMOVEDIR) == 0, "mkdirat and unlinkat(AT_REMOVEDIR)");
    close(dfd);
    list("d");

    char longname[300];
    memset(longname, 'x', 299);
    longname[299] = 0;
    EXPECT_ERR(open(longname, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "a 299-byte name");
    CHECK(chdir("d/..") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0, "chdir d/.. comes back");

    CHECK(unlink("d/b") == 0 && unlink("d/f") == 0 && rmdir("d") == 0, "remove the directory's contents and it");
    CHECK(unlink("l") == 0 && unlink("loop1") == 0 && unlink("loop2") == 0 && unlink("abs") == 0 && unlink("big") == 0 &&
              unlink("a") != 0,
          "remove the links and files");
    list(".");
    CHECK(chdir("/") == 0 && rmdir(dir) == 0, "rmdir the directory");
    EXPECT_ERR(stat(dir, &st), ENOENT, "it is gone");
    return ut_exit(0);
}
