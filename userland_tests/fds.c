/* fds: the file-descriptor table over the standard streams alone (no files): dup takes the lowest
 * free number, dup2 and F_DUPFD place copies, a copy writes to the same stream, FD_CLOEXEC is per
 * descriptor, closed numbers give EBADF and are reused, F_GETFL on stdout says it is writable,
 * lseek on stdout gives ESPIPE (the harness captures stdout through a pipe). stdout is unbuffered
 * so that its lines and the raw writes come out in program order. */
#include "ut.h"
#include <fcntl.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int d = dup(1);
    CHECK(d == 3, "dup(1) returns 3, the lowest free number");
    CHECK(write(d, "via dup\n", 8) == 8, "write through the dup");
    int d2 = dup2(1, 100);
    CHECK(d2 == 100, "dup2(1, 100) returns 100");
    CHECK(write(100, "via dup2\n", 9) == 9, "write through descriptor 100");
    CHECK(dup2(100, 100) == 100, "dup2(fd, same fd) returns fd");
    int d3 = fcntl(1, F_DUPFD, 50);
    CHECK(d3 == 50, "fcntl(F_DUPFD, 50) returns 50");
    int d4 = fcntl(1, F_DUPFD_CLOEXEC, 50);
    CHECK(d4 == 51, "fcntl(F_DUPFD_CLOEXEC, 50) returns 51");
    CHECK(fcntl(d4, F_GETFD) == FD_CLOEXEC && fcntl(d3, F_GETFD) == 0, "FD_CLOEXEC set on the one, clear on the other");
    CHECK(fcntl(d3, F_SETFD, FD_CLOEXEC) == 0 && fcntl(d3, F_GETFD) == FD_CLOEXEC && fcntl(1, F_GETFD) == 0, "F_SETFD changes only that descriptor");
    int fl = fcntl(1, F_GETFL);
    CHECK(fl != -1 && ((fl & O_ACCMODE) == O_WRONLY || (fl & O_ACCMODE) == O_RDWR), "stdout is open for writing");
    CHECK(close(d) == 0, "close(3)");
    EXPECT_ERR(write(d, "x", 1), EBADF, "write(closed 3)");
    EXPECT_ERR(close(d), EBADF, "close(3) again");
    CHECK(dup(1) == 3, "dup(1) reuses 3");
    EXPECT_ERR(dup2(1, -1), EBADF, "dup2(1, -1)");
    EXPECT_ERR(dup(4242), EBADF, "dup(4242 (not open))");
    EXPECT_ERR(fcntl(4242, F_GETFD), EBADF, "fcntl(4242, F_GETFD)");
    EXPECT_ERR(syscall(SYS_dup3, 1, 1, 0), EINVAL, "dup3(1, 1, 0)");
    EXPECT_ERR(lseek(1, 0, SEEK_CUR), ESPIPE, "lseek on stdout (a pipe)");
    return ut_exit(0);
}
