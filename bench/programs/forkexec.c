/* fork + execve + waitpid, N times: the child execs this same static binary with "-x", which
 * exits at once; prints ns per child. argv[0] must be a path to the binary. */
#include <sys/wait.h>
#include <unistd.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-x") == 0) return 0;
    long n = argc > 1 ? atol(argv[1]) : 1000;
    char *args[] = {argv[0], "-x", NULL}, *env[] = {NULL};
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) { execve(argv[0], args, env); _exit(127); }
        int st;
        if (waitpid(pid, &st, 0) != pid) die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "exec failed\n"); return 1; }
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
