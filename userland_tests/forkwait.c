/* forkwait: processes. fork's child has its own pid, the parent's pid as getppid, a copy of memory
 * (its writes are not seen by the parent) and exits 7, which waitpid reports; a child that makes a
 * wild write is reported as killed by SIGSEGV; vfork's child _exits 9; waiting with no children
 * left gives ECHILD. Children print nothing, so the output never depends on scheduling. */
#include "ut.h"
#include <signal.h>
#include <sys/wait.h>

static int shared_var = 1;

int main(void) {
    fflush(stdout);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        int ok = getpid() != parent && getppid() == parent && shared_var == 1;
        shared_var = 99;
        _exit(ok ? 7 : 70);
    }
    CHECK(c > 0, "fork()");
    int st = 0;
    CHECK(waitpid(c, &st, 0) == c, "waitpid(child)");
    CHECK(WIFEXITED(st), "the child exited");
    printf("child exit status=%d\n", WEXITSTATUS(st));
    CHECK(shared_var == 1, "the child's write stayed in the child");

    fflush(stdout);
    c = fork();
    if (c == 0) {
        int *volatile wild = (int *)0x10;
        *wild = 1;
        _exit(0);
    }
    st = 0;
    CHECK(c > 0 && waitpid(c, &st, 0) == c, "fork + waitpid (faulting child)");
    printf("faulting child: signaled=%d signal=%s\n", WIFSIGNALED(st), WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : "other");

    c = vfork();
    if (c == 0)
        _exit(9);
    st = 0;
    CHECK(c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st), "vfork + waitpid");
    printf("vfork child exit status=%d\n", WEXITSTATUS(st));
    EXPECT_ERR(wait(&st), ECHILD, "wait() with no children");
    return ut_exit(0);
}
