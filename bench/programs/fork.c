/* fork + _exit + waitpid, N times; prints ns per child. */
#include <sys/wait.h>
#include <unistd.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) _exit(0);
        int st;
        if (waitpid(pid, &st, 0) != pid) die("waitpid");
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
