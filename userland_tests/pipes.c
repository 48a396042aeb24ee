/* pipes: pipe2 within one process: data in order, fstat (a FIFO), FIONREAD, O_NONBLOCK
 * (EAGAIN when empty, a full pipe holds 64 KiB), poll and select (ready, not ready with a zero
 * and a short timeout, POLLHUP once the writer is gone), ppoll, end of file, dup of an end,
 * O_CLOEXEC, and bad arguments (EFAULT, EINVAL). */
#include "ut.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>

static char big[70000];

int main(void) {
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0 && p[0] == 3 && p[1] == 4, "pipe2 gives 3 and 4");
    CHECK(fcntl(p[0], F_GETFD) == FD_CLOEXEC, "O_CLOEXEC sets FD_CLOEXEC");
    CHECK((fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY,
          "a read end and a write end");
    struct stat st;
    CHECK(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat: a FIFO");
    EXPECT_ERR(write(p[0], "x", 1), EBADF, "write to the read end");
    EXPECT_ERR(read(p[1], big, 1), EBADF, "read from the write end");
    EXPECT_ERR(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek on a pipe");

    struct pollfd pf = {p[0], POLLIN, 0};
    CHECK(poll(&pf, 1, 0) == 0 && pf.revents == 0, "poll of an empty pipe: not ready");
    CHECK(poll(&pf, 1, 30) == 0, "poll with a 30 ms timeout times out");
    CHECK(write(p[1], "hello", 5) == 5 && write(p[1], " world", 6) == 6, "two writes");
    int avail = -1;
    CHECK(ioctl(p[0], FIONREAD, &avail) == 0 && avail == 11, "FIONREAD: 11");
    CHECK(poll(&pf, 1, -1) == 1 && pf.revents == POLLIN, "poll: POLLIN");
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(p[0], &rs);
    FD_SET(p[1], &ws);
    struct timeval tv = {1, 0};
    CHECK(select(p[1] + 1, &rs, &ws, NULL, &tv) == 2 && FD_ISSET(p[0], &rs) && FD_ISSET(p[1], &ws), "select: both ready");
    char buf[64] = {0};
    CHECK(read(p[0], buf, 5) == 5 && memcmp(buf, "hello", 5) == 0, "read in order");
    CHECK(read(p[0], buf, 64) == 6 && memcmp(buf, " world", 6) == 0, "a read takes what is there");

    int fl = fcntl(p[0], F_GETFL);
    CHECK(fcntl(p[0], F_SETFL, fl | O_NONBLOCK) == 0, "F_SETFL O_NONBLOCK");
    EXPECT_ERR(read(p[0], buf, 1), EAGAIN, "a non-blocking read of an empty pipe");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    long total = 0;
    for (;;) {
        ssize_t n = write(p[1], big, sizeof big);
        if (n < 0)
            break;
        total += n;
    }
    CHECK(errno == EAGAIN && total == 65536, "a full pipe holds 64 KiB, then EAGAIN");
    struct pollfd wf = {p[1], POLLOUT, 0};
    CHECK(poll(&wf, 1, 0) == 0, "poll: a full pipe is not writable");
    long got = 0;
    for (;;) {
        ssize_t n = read(p[0], big, sizeof big);
        if (n <= 0)
            break;
        got += n;
    }
    CHECK(got == 65536, "all of it reads back");
    CHECK(poll(&wf, 1, 0) == 1 && wf.revents == POLLOUT, "poll: writable again");

    int d = dup(p[0]);
    CHECK(d == 5 && close(p[0]) == 0, "dup the read end, close the original");
    CHECK(write(p[1], "z", 1) == 1 && read(d, buf, 1) == 1 && buf[0] == 'z', "the duplicate reads");
    CHECK(close(p[1]) == 0, "close the write end");
    struct pollfd hf = {d, POLLIN, 0};
    CHECK(poll(&hf, 1, 0) == 1 && (hf.revents & POLLHUP), "POLLHUP once no writer is left");
    CHECK(read(d, buf, 1) == 0, "then read returns 0 (end of file)");
    struct timespec ts = {0, 1000000};
    struct pollfd nf = {99, POLLIN, 0};
    CHECK(ppoll(&nf, 1, &ts, NULL) == 1 && nf.revents == POLLNVAL, "ppoll: POLLNVAL for a closed descriptor");
    FD_ZERO(&rs);
    FD_SET(40, &rs);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    EXPECT_ERR(select(41, &rs, NULL, NULL, &tv), EBADF, "select of a closed descriptor");
    close(d);
    EXPECT_ERR(pipe2(p, 0x12345678), EINVAL, "pipe2 with unknown flags");
    EXPECT_ERR(syscall(SYS_pipe2, (void *)8, 0), EFAULT, "pipe2 to a bad address");
    CHECK(pipe(p) == 0 && p[0] == 3 && p[1] == 4, "the descriptors were given back");
    return ut_exit(0);
}
