/* splice: splice(2) with a pipe at one end or both (file to pipe, pipe to file, offsets in
 * and out, pipe to pipe, at most the pipe's room, end of file, SPLICE_F_NONBLOCK) and tee(2)
 * (copies, the input keeps its bytes), with Linux's errors (EINVAL without a pipe or for one
 * pipe twice or bad flags, ESPIPE for a pipe's offset, EBADF, EPIPE with no reader). */
#include "ut.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

static char path[64];

static void drain(const char *label, int fd) {
    char b[128] = {0};
    long n = read(fd, b, sizeof b - 1);
    printf("%s: %ld '%s'\n", label, n, n > 0 ? b : "");
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    snprintf(path, sizeof path, "/dev/shm/splice-%d", (int)getpid());
    int f = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(f, "0123456789abcdefghij", 20);
    lseek(f, 0, SEEK_SET);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    { long r = splice(f, NULL, p[1], NULL, 5, 0); printf("file to pipe %ld pos %ld\n", r, (long)lseek(f, 0, SEEK_CUR)); }
    drain("pipe has", p[0]);
    loff_t off = 10;
    { long r = splice(f, &off, p[1], NULL, 4, 0); printf("with off_in %ld off %ld pos %ld\n", r, (long)off, (long)lseek(f, 0, SEEK_CUR)); }
    drain("pipe has", p[0]);
    write(p[1], "XYZ", 3);
    off = 1;
    { long r = splice(p[0], NULL, f, &off, 100, 0); printf("pipe to file off_out %ld off %ld\n", r, (long)off); }
    write(p[1], "tail", 4);
    lseek(f, 0, SEEK_END);
    { long r = splice(p[0], NULL, f, NULL, 2, 0); printf("pipe to file pos %ld pos %ld\n", r, (long)lseek(f, 0, SEEK_CUR)); }
    { char b[64] = {0}; pread(f, b, sizeof b - 1, 0); printf("file '%s'\n", b); }
    { long r = splice(p[0], NULL, q[1], NULL, 100, 0); printf("pipe to pipe %ld\n", r); }
    drain("q has", q[0]);
    write(p[1], "teedata", 7);
    { long r = tee(p[0], q[1], 100, 0); printf("tee %ld\n", r); }
    drain("q has", q[0]);
    drain("p still has", p[0]);
    EXPECT_ERR(splice(p[0], NULL, q[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN, "nonblock empty");
    EXPECT_ERR(tee(p[0], q[1], 10, SPLICE_F_NONBLOCK), EAGAIN, "tee nonblock empty");
    int g = open(path, O_RDWR);
    EXPECT_ERR(splice(f, NULL, g, NULL, 10, 0), EINVAL, "no pipe");
    off = 0;
    EXPECT_ERR(splice(p[0], &off, f, NULL, 10, 0), ESPIPE, "offset of a pipe");
    EXPECT_ERR(splice(p[0], NULL, p[1], NULL, 10, 0), EINVAL, "same pipe");
    EXPECT_ERR(splice(f, NULL, p[1], NULL, 10, 0x100), EINVAL, "bad flags");
    EXPECT_ERR(splice(99, NULL, p[1], NULL, 10, 0), EBADF, "bad fd");
    EXPECT_ERR(splice(p[1], NULL, f, NULL, 10, 0), EBADF, "write end as input");
    EXPECT_ERR(tee(f, q[1], 10, 0), EINVAL, "tee from a file");
    EXPECT_ERR(tee(p[0], p[1], 10, 0), EINVAL, "tee same pipe");
    printf("zero %ld\n", (long)splice(f, NULL, p[1], NULL, 0, 0));
    /* at most the pipe's room */
    int big = open(path, O_RDWR | O_TRUNC);
    static char buf[100000];
    memset(buf, 'b', sizeof buf);
    write(big, buf, sizeof buf);
    lseek(big, 0, SEEK_SET);
    { long r = splice(big, NULL, q[1], NULL, sizeof buf, 0); printf("big into empty pipe %ld\n", r); }
    /* end of file: no writer left */
    close(p[1]);
    printf("eof %ld\n", (long)splice(p[0], NULL, f, NULL, 10, 0));
    close(q[0]);
    EXPECT_ERR(splice(big, NULL, q[1], NULL, 10, 0), EPIPE, "no reader");
    close(big); close(g); close(p[0]); close(q[1]); close(f);
    unlink(path);
    return ut_exit(0);
}
