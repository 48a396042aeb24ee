/* spawn: execve of this same program (argv[0]) in a forked child, with its own argv and envp:
 * the child prints what it was given and exits 5, the parent reports the status; then posix_spawn
 * (clone(CLONE_VM|CLONE_VFORK) + execve in both libcs) does the same with exit 6; and execve of
 * a missing path gives ENOENT. Run with "child N" the program is the child: it prints its args and
 * env and exits N. */
#include "ut.h"
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "child")) {
        printf("child: argc=%d arg2=%s PQ_FROM_PARENT=%s envc=", argc, argv[2], getenv("PQ_FROM_PARENT") ? getenv("PQ_FROM_PARENT") : "(unset)");
        int n = 0;
        for (char **e = environ; *e; e++)
            n++;
        printf("%d\n", n);
        return atoi(argv[2]);
    }
    char *cargv[] = {argv[0], "child", "5", NULL};
    char *cenv[] = {"PQ_FROM_PARENT=yes", NULL};
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        execve(argv[0], cargv, cenv);
        _exit(127);
    }
    int st = 0;
    CHECK(c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st), "fork + execve + waitpid");
    printf("exec'd child exit status=%d\n", WEXITSTATUS(st));

    char *sargv[] = {argv[0], "child", "6", NULL};
    pid_t sp = 0;
    fflush(stdout);
    int rc = posix_spawn(&sp, argv[0], NULL, NULL, sargv, cenv);
    CHECK(rc == 0 && sp > 0, "posix_spawn");
    st = 0;
    CHECK(waitpid(sp, &st, 0) == sp && WIFEXITED(st), "waitpid(spawned)");
    printf("spawned child exit status=%d\n", WEXITSTATUS(st));

    char *margv[] = {"/nonexistent-pyquark-dir/prog", NULL};
    EXPECT_ERR(execve(margv[0], margv, cenv), ENOENT, "execve(missing path)");
    return ut_exit(0);
}
