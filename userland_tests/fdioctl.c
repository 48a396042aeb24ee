/* The ioctls every file has (Linux's do_vfs_ioctl): FIONBIO and FIOASYNC set and clear the
   status flags fcntl(F_GETFL) shows, FIOCLEX and FIONCLEX the descriptor's close-on-exec flag,
   FIONREAD the bytes a read would get (a regular file: after the offset; a pipe: buffered), and a
   request no file knows is ENOTTY. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
    int p[2];
    if (pipe(p) != 0)
        return 1;
    int on = 1, off = 0, n = -1, rr;
    char c;
    rr = ioctl(p[0], FIONBIO, &on);
    printf("FIONBIO on: %d, O_NONBLOCK %d\n", rr, (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    printf("read of an empty pipe: %zd %s\n", r, errno == EAGAIN ? "EAGAIN" : strerror(errno));
    rr = ioctl(p[0], FIONBIO, &off);
    printf("FIONBIO off: %d, O_NONBLOCK %d\n", rr, (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    rr = ioctl(p[1], FIOASYNC, &on);
    printf("FIOASYNC on: %d, O_ASYNC %d\n", rr, (fcntl(p[1], F_GETFL) & O_ASYNC) != 0);
    rr = ioctl(p[1], FIOASYNC, &off);
    printf("FIOASYNC off: %d, O_ASYNC %d\n", rr, (fcntl(p[1], F_GETFL) & O_ASYNC) != 0);
    rr = ioctl(p[0], FIOCLEX);
    printf("FIOCLEX: %d, FD_CLOEXEC %d\n", rr, fcntl(p[0], F_GETFD));
    rr = ioctl(p[0], FIONCLEX);
    printf("FIONCLEX: %d, FD_CLOEXEC %d\n", rr, fcntl(p[0], F_GETFD));
    write(p[1], "hello", 5);
    rr = ioctl(p[0], FIONREAD, &n);
    printf("FIONREAD of a pipe holding 5 bytes: %d, %d\n", rr, n);

    char path[] = "/tmp/fdioctl-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    write(fd, "0123456789", 10);
    lseek(fd, 3, SEEK_SET);
    n = -1;
    rr = ioctl(fd, FIONREAD, &n);
    printf("FIONREAD of a 10-byte file at offset 3: %d, %d\n", rr, n);
    lseek(fd, 20, SEEK_SET);
    n = -1;
    rr = ioctl(fd, FIONREAD, &n);
    printf("FIONREAD past the end: %d, %d\n", rr, n);
    errno = 0;
    rr = ioctl(fd, TCGETS, &n);
    printf("TCGETS on a file: %d %s\n", rr, errno == ENOTTY ? "ENOTTY" : strerror(errno));
    errno = 0;
    rr = ioctl(99, FIONBIO, &on);
    printf("FIONBIO on a closed fd: %d %s\n", rr, errno == EBADF ? "EBADF" : strerror(errno));
    return 0;
}
