/* Pipe bandwidth: the parent writes N chunks of 64 KiB into a pipe that a forked child drains;
 * prints ns per 64 KiB chunk (the caller converts to MiB/s). */
#include <sys/wait.h>
#include <unistd.h>
#include "peers_common.h"

#define CHUNK 65536
static char buf[CHUNK];

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    int p[2];
    if (pipe(p) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(p[1]);
        long total = 0;
        ssize_t r;
        while ((r = read(p[0], buf, CHUNK)) > 0)
            total += r;
        _exit(total == n * CHUNK ? 0 : 2);
    }
    close(p[0]);
    memset(buf, 'x', CHUNK);
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        size_t off = 0;
        while (off < CHUNK) {
            ssize_t w = write(p[1], buf + off, CHUNK - off);
            if (w <= 0) die("write");
            off += w;
        }
    }
    close(p[1]);
    int st;
    if (waitpid(pid, &st, 0) != pid) die("waitpid");
    double t = now_ns() - a;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "reader failed\n"); return 1; }
    printf("%.1f\n", t / n);
    return 0;
}
