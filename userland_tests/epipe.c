/* epipe [ignore|default]: pipes. A round trip through a pipe, pipe2(O_CLOEXEC) setting FD_CLOEXEC,
 * then a write to a pipe whose read end is closed:
 *   ignore  (SIGPIPE ignored) the write gives EPIPE and the program exits 0;
 *   default (SIGPIPE's default action) the process dies of SIGPIPE: status 141. */
#include "ut.h"
#include <fcntl.h>
#include <signal.h>

int main(int argc, char **argv) {
    int dflt = argc > 1 && !strcmp(argv[1], "default");
    if (!dflt)
        CHECK(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "ignore SIGPIPE");
    int p[2];
    CHECK(pipe(p) == 0, "pipe()");
    char buf[16] = {0};
    CHECK(write(p[1], "hello", 5) == 5 && read(p[0], buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5), "a pipe carries 5 bytes");
    int q[2];
    CHECK(pipe2(q, O_CLOEXEC) == 0 && (fcntl(q[0], F_GETFD) & FD_CLOEXEC) && (fcntl(q[1], F_GETFD) & FD_CLOEXEC), "pipe2(O_CLOEXEC) sets FD_CLOEXEC");
    CHECK((fcntl(p[0], F_GETFD) & FD_CLOEXEC) == 0, "pipe() leaves FD_CLOEXEC clear");
    CHECK(close(p[0]) == 0, "close the read end");
    fflush(stdout);
    if (dflt) {
        printf("writing to a pipe with no reader, SIGPIPE at its default\n");
        fflush(stdout);
    }
    EXPECT_ERR(write(p[1], "x", 1), EPIPE, "write to a pipe with no reader");
    return ut_exit(0);
}
