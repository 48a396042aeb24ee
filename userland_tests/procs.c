/* procs: process trees and the signals between them.
 * A tree of three generations where each parent waits for its children; waitid with P_PID,
 * P_PGID, WNOHANG and WNOWAIT (the zombie stays collectable); wait4 on a process group after
 * setpgid; SIGCHLD's handler runs once per child with CLD_EXITED or CLD_KILLED; SIG_IGN for
 * SIGCHLD reaps children at once (wait gives ECHILD); a handler without SA_RESTART makes a
 * blocked pipe read fail with EINTR, one with SA_RESTART lets it finish; a SIGSEGV handler on
 * a sigaltstack survives a stack overflow and leaves with siglongjmp; the signal mask and
 * dispositions across fork and exec; kill of a process group; SIGPIPE kills a writer whose
 * reader is gone. Everything printed is the same natively and in the sandbox. */
#include "ut.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t chld, chld_exited, chld_killed, usr1;
static sigjmp_buf jb;
static char *altstack;

static void on_chld(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    chld++;
    if (si->si_code == CLD_EXITED) chld_exited++;
    if (si->si_code == CLD_KILLED) chld_killed++;
}
static void on_usr1(int sig) { (void)sig; usr1++; }
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)si; (void)uc;
    char here;
    int on_alt = &here >= altstack && &here < altstack + 65536;
    siglongjmp(jb, on_alt ? 1 : 2);
}

static void nap_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int tree(int depth) {
    if (depth == 0) return 1;
    int n = 1;
    for (int i = 0; i < 2; i++) {
        pid_t c = fork();
        if (c == 0) _exit(tree(depth - 1));
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st)) return 100;
        n += WEXITSTATUS(st);
    }
    return n;
}

static volatile int depth_reached;
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int n) {
    volatile char pad[4096];
    pad[0] = (char)n;
    depth_reached = n;
    return recurse(n + 1) + pad[0];
}

/* read(pipe) while a child sends SIGUSR1 after a nap, then writes one byte */
static long read_with_signal(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    int p[2];
    if (pipe(p) != 0) return -100;
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        nap_ms(50);
        kill(parent, SIGUSR1);
        nap_ms(50);
        ssize_t w = write(p[1], "x", 1);
        _exit(w == 1 ? 0 : 1);
    }
    char b;
    long r = read(p[0], &b, 1);
    if (r < 0) r = -errno;
    waitpid(c, NULL, 0);
    close(p[0]);
    close(p[1]);
    return r;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child-mask")) {
        sigset_t cur;
        sigprocmask(SIG_BLOCK, NULL, &cur);
        struct sigaction old;
        sigaction(SIGUSR2, NULL, &old);
        struct sigaction o1;
        sigaction(SIGUSR1, NULL, &o1);
        printf("after exec: SIGUSR2 blocked=%d, SIGUSR2 ignored=%d, SIGUSR1 handler reset=%d\n",
               sigismember(&cur, SIGUSR2), old.sa_handler == SIG_IGN, o1.sa_handler == SIG_DFL);
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);

    printf("tree of 3 generations: %d processes\n", tree(3));

    /* waitid */
    pid_t c = fork();
    if (c == 0) _exit(5);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, c, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == c, "waitid WNOWAIT sees the child");
    printf("waitid: code=%s status=%d\n", si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status);
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, c, &si, WEXITED) == 0 && si.si_pid == c && si.si_status == 5, "waitid reaps it after WNOWAIT");
    EXPECT_ERR(waitid(P_PID, c, &si, WEXITED), ECHILD, "waitid for a reaped child");
    EXPECT_ERR(waitid(P_ALL, 0, &si, 0), EINVAL, "waitid without WEXITED/WSTOPPED/WCONTINUED");

    int hold[2];
    CHECK(pipe(hold) == 0, "pipe");
    c = fork();
    if (c == 0) {
        char b;
        close(hold[1]);
        ssize_t r = read(hold[0], &b, 1);
        _exit(r == 0 ? 6 : 60);
    }
    close(hold[0]);
    memset(&si, 0xff, sizeof si);
    CHECK(waitid(P_PID, c, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0, "waitid WNOHANG with a live child");
    close(hold[1]);
    int st;
    CHECK(waitpid(c, &st, 0) == c && WEXITSTATUS(st) == 6, "the child saw EOF once the pipe closed");

    /* process groups */
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        nap_ms(20);
        _exit(8);
    }
    setpgid(c, c);
    CHECK(getpgid(c) == c, "setpgid made the child a group leader");
    CHECK(waitpid(-c, &st, 0) == c && WEXITSTATUS(st) == 8, "waitpid(-pgid)");
    EXPECT_ERR(getpgid(c), ESRCH, "getpgid of a reaped child");

    /* kill a whole group */
    pid_t g = fork();
    if (g == 0) {
        setpgid(0, 0);
        if (fork() == 0) { pause(); _exit(1); }
        pause();
        _exit(1);
    }
    setpgid(g, g);
    nap_ms(50);
    CHECK(kill(-g, SIGTERM) == 0, "kill(-pgid, SIGTERM)");
    CHECK(waitpid(g, &st, 0) == g && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the group leader died of SIGTERM");

    /* SIGCHLD */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) { raise(SIGKILL); _exit(0); }
    waitpid(c, NULL, 0);
    printf("SIGCHLD ran %d times: exited=%d killed=%d\n", (int)chld, (int)chld_exited, (int)chld_killed);
    signal(SIGCHLD, SIG_IGN);
    c = fork();
    if (c == 0) _exit(0);
    nap_ms(50);
    EXPECT_ERR(waitpid(c, &st, 0), ECHILD, "SIGCHLD ignored: no zombie to wait for");
    signal(SIGCHLD, SIG_DFL);

    /* EINTR and SA_RESTART */
    long r = read_with_signal(0);
    printf("read interrupted without SA_RESTART: %s (handler ran %d)\n", r < 0 ? errname((int)-r) : "completed", (int)usr1);
    r = read_with_signal(1);
    printf("read with SA_RESTART: %ld byte (handler ran %d)\n", r, (int)usr1);

    /* stack overflow caught on an alternate stack */
    c = fork();
    if (c == 0) {
        altstack = malloc(65536);
        stack_t ss = {.ss_sp = altstack, .ss_size = 65536, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        struct sigaction sv;
        memset(&sv, 0, sizeof sv);
        sv.sa_sigaction = on_segv;
        sv.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sv, NULL);
        int j = sigsetjmp(jb, 1);
        if (j == 0) recurse(0);
        _exit(j == 1 && depth_reached > 100 ? 0 : 10 + j);
    }
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "stack overflow handled on the sigaltstack");

    /* SIGPIPE */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    close(p[0]);                  /* no reader anywhere before the writer starts */
    c = fork();
    if (c == 0) {
        ssize_t w = write(p[1], "x", 1);
        _exit(w == 1 ? 20 : 21);
    }
    close(p[1]);
    CHECK(waitpid(c, &st, 0) == c, "waitpid(writer)");
    printf("writer to a pipe without readers: signaled=%d sig=%s\n", WIFSIGNALED(st),
           WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE ? "SIGPIPE" : "other");

    /* masks and dispositions across exec */
    c = fork();
    if (c == 0) {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGUSR2);
        sigprocmask(SIG_BLOCK, &m, NULL);
        signal(SIGUSR2, SIG_IGN);
        signal(SIGUSR1, on_usr1);
        execl("/proc/self/exe", argv[0], "child-mask", (char *)NULL);
        _exit(30);
    }
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the exec'd child ran");
    return ut_exit(0);
}
