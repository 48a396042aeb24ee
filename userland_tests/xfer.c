/* xfer: data moved between descriptors in the kernel and the vectored positional calls, on
 * tmpfs (/dev/shm): sendfile (file to file, to a pipe, with and without an offset pointer,
 * count limits, EBADF/EINVAL/ESPIPE), copy_file_range (offsets, overlapping ranges of one file,
 * flags), preadv/pwritev/preadv2/pwritev2 (offset -1: the file position; RWF_* flags),
 * posix_fadvise/fadvise64 (EBADF, ESPIPE, EINVAL) and fallocate (mode 0 growing the size,
 * KEEP_SIZE, PUNCH_HOLE zeroing, O_RDONLY EBADF, pipes ESPIPE, bad ranges). */
#include "ut.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

#ifndef RWF_HIPRI
#define RWF_HIPRI 1
#define RWF_DSYNC 2
#define RWF_SYNC 4
#define RWF_NOWAIT 8
#define RWF_APPEND 16
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#define FALLOC_FL_PUNCH_HOLE 2
#endif

static char path[64], path2[64];

/* musl has no preadv2/pwritev2: the system calls themselves (the offset in one register) */
static long rv2(int fd, const struct iovec *iov, int n, long off, int flags) {
    return syscall(SYS_preadv2, fd, iov, n, off, 0, flags);
}
static long wv2(int fd, const struct iovec *iov, int n, long off, int flags) {
    return syscall(SYS_pwritev2, fd, iov, n, off, 0, flags);
}
#define preadv2 rv2
#define pwritev2 wv2

static long fsize(int fd) { struct stat st; fstat(fd, &st); return (long)st.st_size; }
static long fpos(int fd) { return (long)lseek(fd, 0, SEEK_CUR); }

static int mkfile(const char *p, const char *data) {
    int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (data) write(fd, data, strlen(data));
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void dump(const char *label, int fd, off_t at, size_t n) {
    char b[128] = {0};
    ssize_t r = pread(fd, b, n, at);
    for (ssize_t k = 0; k < r; k++) if (b[k] == 0) b[k] = '.';
    printf("%s: %ld '%s'\n", label, r, b);
}

static void t_sendfile(void) {
    int in = mkfile(path, "0123456789abcdefghij");
    int out = mkfile(path2, NULL);
    { long r_ = sendfile(out, in, NULL, 100); printf("sendfile all: %ld pos %ld\n", r_, fpos(in)); }
    dump("out", out, 0, 64);
    off_t off = 5;
    lseek(in, 2, SEEK_SET);
    { long r_ = sendfile(out, in, &off, 4); printf("sendfile off: %ld off %ld inpos %ld outpos %ld\n", r_, (long)off, fpos(in), fpos(out)); }
    dump("out", out, 0, 64);
    off = 18;
    { long r_ = sendfile(out, in, &off, 10); printf("sendfile past: %ld off %ld\n", r_, (long)off); }
    off = 30;
    { long r_ = sendfile(out, in, &off, 10); printf("sendfile at eof: %ld off %ld\n", r_, (long)off); }
    printf("sendfile zero: %ld\n", sendfile(out, in, NULL, 0));
    int p[2];
    pipe(p);
    off = 10;
    printf("sendfile to pipe: %ld\n", sendfile(p[1], in, &off, 6));
    char b[16] = {0};
    printf("pipe read: %ld '%s'\n", read(p[0], b, sizeof b - 1), b);
    EXPECT_ERR(sendfile(out, p[0], NULL, 4), EINVAL, "sendfile from pipe");
    EXPECT_ERR(sendfile(out, 99, NULL, 4), EBADF, "sendfile bad in");
    EXPECT_ERR(sendfile(99, in, NULL, 4), EBADF, "sendfile bad out");
    int ro = open(path2, O_RDONLY);
    EXPECT_ERR(sendfile(ro, in, NULL, 4), EBADF, "sendfile out rdonly");
    int wo = open(path, O_WRONLY);
    EXPECT_ERR(sendfile(out, wo, NULL, 4), EBADF, "sendfile in wronly");
    off = -1;
    EXPECT_ERR(sendfile(out, in, &off, 4), EINVAL, "sendfile negative off");
    EXPECT_ERR(sendfile(out, in, (off_t *)1, 4), EFAULT, "sendfile bad off ptr");
    int app = open(path2, O_WRONLY | O_APPEND);
    EXPECT_ERR(sendfile(app, in, NULL, 4), EINVAL, "sendfile out append");
    close(app); close(ro); close(wo); close(p[0]); close(p[1]); close(in); close(out);
}

static void t_copy_file_range(void) {
    int in = mkfile(path, "0123456789abcdefghij");
    int out = mkfile(path2, "..........");
    loff_t oi = 4, oo = 2;
    { long r_ = copy_file_range(in, &oi, out, &oo, 5, 0); printf("cfr offs: %ld oi %ld oo %ld\n", r_, (long)oi, (long)oo); }
    dump("out", out, 0, 64);
    lseek(in, 10, SEEK_SET); lseek(out, 12, SEEK_SET);
    { long r_ = copy_file_range(in, NULL, out, NULL, 100, 0); printf("cfr pos: %ld inpos %ld outpos %ld\n", r_, fpos(in), fpos(out)); }
    dump("out", out, 0, 64);
    printf("size %ld\n", fsize(out));
    printf("cfr eof: %ld\n", copy_file_range(in, NULL, out, NULL, 100, 0));
    oi = 0; oo = 5;
    EXPECT_ERR(copy_file_range(in, &oi, in, &oo, 10, 0), EINVAL, "cfr overlap");
    oi = 0; oo = 10;
    printf("cfr same file apart: %ld\n", copy_file_range(in, &oi, in, &oo, 5, 0));
    dump("in", in, 0, 64);
    oi = 0; oo = 0;
    EXPECT_ERR(copy_file_range(in, &oi, out, &oo, 5, 1), EINVAL, "cfr flags");
    int p[2];
    pipe(p);
    EXPECT_ERR(copy_file_range(p[0], NULL, out, NULL, 5, 0), EINVAL, "cfr from pipe");
    EXPECT_ERR(copy_file_range(in, NULL, p[1], NULL, 5, 0), EINVAL, "cfr to pipe");
    EXPECT_ERR(copy_file_range(99, NULL, out, NULL, 5, 0), EBADF, "cfr bad fd");
    int ro = open(path2, O_RDONLY);
    EXPECT_ERR(copy_file_range(in, NULL, ro, NULL, 5, 0), EBADF, "cfr out rdonly");
    int dfd = open("/dev/shm", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR(copy_file_range(dfd, NULL, out, NULL, 5, 0), EISDIR, "cfr from dir");
    close(dfd); close(ro); close(p[0]); close(p[1]); close(in); close(out);
}

static void t_vec(void) {
    int fd = mkfile(path, "0123456789abcdefghij");
    char a[4] = {0}, b[6] = {0};
    struct iovec iov[2] = {{a, 3}, {b, 5}};
    { long r_ = preadv(fd, iov, 2, 4); printf("preadv: %ld '%s' '%s' pos %ld\n", r_, a, b, fpos(fd)); }
    struct iovec w[2] = {{"AB", 2}, {"CDE", 3}};
    { long r_ = pwritev(fd, w, 2, 18); printf("pwritev: %ld pos %ld\n", r_, fpos(fd)); }
    dump("file", fd, 0, 64);
    lseek(fd, 1, SEEK_SET);
    memset(a, 0, 4); memset(b, 0, 6);
    { long r_ = preadv2(fd, iov, 2, -1, 0); printf("preadv2 -1: %ld '%s' '%s' pos %ld\n", r_, a, b, fpos(fd)); }
    { long r_ = pwritev2(fd, w, 2, -1, 0); printf("pwritev2 -1: %ld pos %ld\n", r_, fpos(fd)); }
    { long r_ = pwritev2(fd, w, 1, 0, RWF_DSYNC); printf("pwritev2 at: %ld pos %ld\n", r_, fpos(fd)); }
    printf("preadv2 hipri: %ld\n", preadv2(fd, iov, 1, 0, RWF_HIPRI));
    printf("pwritev2 sync: %ld\n", pwritev2(fd, w, 1, 0, RWF_SYNC));
    dump("file", fd, 0, 64);
    EXPECT_ERR(preadv2(fd, iov, 1, 0, 0x1000), EOPNOTSUPP, "preadv2 bad flag");
    EXPECT_ERR(preadv(fd, iov, 1, -2), EINVAL, "preadv negative");
    EXPECT_ERR(preadv2(fd, iov, 1, -2, 0), EINVAL, "preadv2 -2");
    EXPECT_ERR(syscall(SYS_preadv, fd, iov, -1, 0, 0), EINVAL, "preadv bad count");
    { errno = 0; long r_ = preadv2(fd, iov, 1, 0, RWF_NOWAIT); printf("preadv2 nowait file: %ld %s\n", r_, r_ < 0 ? errname(errno) : "ok"); }
    int p[2];
    pipe(p);
    EXPECT_ERR(pwritev(p[1], w, 2, 0), ESPIPE, "pwritev pipe");
    printf("pwritev2 pipe -1: %ld\n", pwritev2(p[1], w, 2, -1, 0));
    memset(a, 0, 4); memset(b, 0, 6);
    { long r_ = preadv2(p[0], iov, 2, -1, 0); printf("preadv2 pipe -1: %ld '%s' '%s'\n", r_, a, b); }
    EXPECT_ERR(preadv2(p[0], iov, 2, -1, RWF_NOWAIT), EAGAIN, "preadv2 nowait empty pipe");
    int ro = open(path, O_RDONLY);
    EXPECT_ERR(pwritev(ro, w, 2, 0), EBADF, "pwritev rdonly");
    close(ro); close(p[0]); close(p[1]); close(fd);
}

static void t_fadvise(void) {
    int fd = mkfile(path, "0123456789");
    printf("fadvise normal: %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL));
    printf("fadvise dontneed: %d\n", posix_fadvise(fd, 0, 100, POSIX_FADV_DONTNEED));
    printf("fadvise willneed: %d\n", posix_fadvise(fd, 2, 4, POSIX_FADV_WILLNEED));
    printf("fadvise bad advice: %s\n", errname(posix_fadvise(fd, 0, 0, 99)));
    printf("fadvise negative len: %s\n", errname(posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL)));
    printf("fadvise bad fd: %s\n", errname(posix_fadvise(99, 0, 0, POSIX_FADV_NORMAL)));
    int p[2];
    pipe(p);
    printf("fadvise pipe: %s\n", errname(posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL)));
    close(p[0]); close(p[1]); close(fd);
}

static void t_fallocate(void) {
    int fd = mkfile(path, "0123456789");
    { long r_ = fallocate(fd, 0, 0, 100); printf("fallocate grow: %ld size %ld\n", r_, fsize(fd)); }
    dump("file", fd, 0, 16);
    { long r_ = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8192); printf("fallocate keep: %ld size %ld\n", r_, fsize(fd)); }
    { long r_ = fallocate(fd, 0, 10, 20); printf("fallocate inside: %ld size %ld\n", r_, fsize(fd)); }
    { long r_ = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 5); printf("punch: %ld size %ld\n", r_, fsize(fd)); }
    dump("file", fd, 0, 12);
    EXPECT_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 2, 5), EOPNOTSUPP, "punch without keep");
    EXPECT_ERR(fallocate(fd, 0, -1, 10), EINVAL, "fallocate negative off");
    EXPECT_ERR(fallocate(fd, 0, 0, 0), EINVAL, "fallocate zero len");
    EXPECT_ERR(fallocate(fd, 0, 0x7fffffffffffff00LL, 0x1000), EFBIG, "fallocate overflow");
    EXPECT_ERR(fallocate(fd, 0x100, 0, 10), EOPNOTSUPP, "fallocate bad mode");
    int ro = open(path, O_RDONLY);
    EXPECT_ERR(fallocate(ro, 0, 0, 10), EBADF, "fallocate rdonly");
    EXPECT_ERR(fallocate(99, 0, 0, 10), EBADF, "fallocate bad fd");
    int p[2];
    pipe(p);
    EXPECT_ERR(fallocate(p[1], 0, 0, 10), ESPIPE, "fallocate pipe");
    int dfd = open("/dev/shm", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR(fallocate(dfd, 0, 0, 10), EBADF, "fallocate dir");
    int app = open(path, O_WRONLY | O_APPEND);
    printf("fallocate append: %d\n", fallocate(app, 0, 0, 200));
    printf("size %ld\n", fsize(fd));
    close(app); close(dfd); close(p[0]); close(p[1]); close(ro); close(fd);
}

int main(void) {
    snprintf(path, sizeof path, "/dev/shm/xfer-a-%d", (int)getpid());
    snprintf(path2, sizeof path2, "/dev/shm/xfer-b-%d", (int)getpid());
    t_sendfile();
    t_copy_file_range();
    t_vec();
    t_fadvise();
    t_fallocate();
    unlink(path);
    unlink(path2);
    return ut_exit(0);
}
