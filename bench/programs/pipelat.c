/* Pipe latency: parent and a forked child pass one byte back and forth over two pipes,
 * N round trips; prints ns per round trip. */
#include <sys/wait.h>
#include <unistd.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int ab[2], ba[2];
    char c = 'x';
    if (pipe(ab) != 0 || pipe(ba) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (long i = 0; i < n; i++) {
            if (read(ab[0], &c, 1) != 1) _exit(2);
            if (write(ba[1], &c, 1) != 1) _exit(2);
        }
        _exit(0);
    }
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        if (write(ab[1], &c, 1) != 1) die("write");
        if (read(ba[0], &c, 1) != 1) die("read");
    }
    double t = now_ns() - a;
    int st;
    if (waitpid(pid, &st, 0) != pid) die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child failed\n"); return 1; }
    printf("%.1f\n", t / n);
    return 0;
}
