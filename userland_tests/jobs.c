/* jobs: stop and continue. SIGSTOP and SIGTSTP stop a child, which its parent sees with
 * WUNTRACED and waitid(WSTOPPED) (once), with a SIGCHLD of CLD_STOPPED unless SA_NOCLDSTOP;
 * SIGCONT continues it (WCONTINUED, CLD_CONTINUED) and runs its SIGCONT handler; a signal
 * handled by a stopped process waits for the continue; a blocking read survives a stop; a
 * stopped process is killed by SIGKILL, but SIGTERM waits for the continue; every
 * thread of a process stops; a continue discards a pending stop and a stop a pending
 * continue. */
#include "ut.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile int chld_code, chld_status, chld_count;
static void on_chld(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_count++;
}

static const char *code_name(int c) {
    switch (c) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "?";
    }
}

static void wait_chld(int count) {
    for (int i = 0; i < 2000 && chld_count < count; i++)
        usleep(1000);
}

static int cont_pipe[2];
static void on_cont(int sig) { (void)sig; (void)!write(cont_pipe[1], "C", 1); }
static void on_usr1(int sig) { (void)sig; (void)!write(cont_pipe[1], "U", 1); }

static int readable(int fd, int ms) {
    fd_set s;
    FD_ZERO(&s);
    FD_SET(fd, &s);
    struct timeval tv = {0, ms * 1000};
    int r;
    while ((r = select(fd + 1, &s, NULL, NULL, &tv)) < 0 && errno == EINTR)
        ;                        /* a SIGCHLD: look again for the time left */
    return r;
}

static volatile long spins;
static void *spinner(void *arg) {
    (void)arg;
    for (;;) {
        spins++;
        usleep(1000);
    }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    int st;

    /* 1. raise(SIGSTOP), WUNTRACED, SIGCONT, WCONTINUED */
    int go[2];
    (void)!pipe(go);
    pid_t c = fork();
    if (c == 0) {
        char b;
        raise(SIGSTOP);
        (void)!read(go[0], &b, 1);   /* exits only once its continue was seen */
        _exit(7);
    }
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
          "WUNTRACED: stopped by SIGSTOP");
    wait_chld(1);
    printf("SIGCHLD: %s status %d\n", code_name(chld_code), chld_status);
    CHECK(waitpid(c, &st, WUNTRACED | WNOHANG) == 0, "the stop is reported once");
    kill(c, SIGCONT);
    CHECK(waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st), "WCONTINUED: continued");
    wait_chld(2);
    printf("SIGCHLD: %s status %d\n", code_name(chld_code), chld_status);
    (void)!write(go[1], "g", 1);
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 7, "then exits 7");
    wait_chld(3);

    /* 2. SIGTSTP's default stops; waitid(WSTOPPED); SIGKILL ends a stopped process */
    int p[2];
    (void)!pipe(p);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);           /* a group of its own, whose parent's group is in the session:
                                    never orphaned, wherever the test runs (SIGTSTP would be
                                    discarded in an orphaned group) */
        close(p[1]);
        char b;
        (void)!read(p[0], &b, 1);
        _exit(0);
    }
    setpgid(c, c);
    close(p[0]);
    kill(c, SIGTSTP);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, c, &si, WSTOPPED) == 0 && si.si_code == CLD_STOPPED &&
          si.si_status == SIGTSTP && si.si_pid == c, "waitid WSTOPPED: CLD_STOPPED by SIGTSTP");
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, c, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0, "not exited");
    kill(c, SIGKILL);
    CHECK(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
          "SIGKILL ends the stopped child");
    close(p[1]);

    /* 3. handlers wait for the continue; SIGCONT's handler runs; a read survives the stop */
    (void)!pipe(cont_pipe);
    int in[2];
    (void)!pipe(in);
    c = fork();
    if (c == 0) {
        struct sigaction h = {0};
        h.sa_handler = on_cont;
        h.sa_flags = SA_RESTART;
        sigaction(SIGCONT, &h, NULL);
        h.sa_handler = on_usr1;
        sigaction(SIGUSR1, &h, NULL);
        close(in[1]);
        (void)!write(cont_pipe[1], "R", 1);
        char b = 0;
        ssize_t r = read(in[0], &b, 1);
        (void)!write(cont_pipe[1], r == 1 ? &b : "E", 1);
        _exit(0);
    }
    close(in[0]);
    char got[8] = {0};
    (void)!read(cont_pipe[0], got, 1);
    usleep(20000);            /* let it block in read */
    kill(c, SIGSTOP);
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st), "stopped in read");
    kill(c, SIGUSR1);
    CHECK(readable(cont_pipe[0], 50) == 0, "SIGUSR1's handler waits while stopped");
    kill(c, SIGCONT);
    CHECK(readable(cont_pipe[0], 2000) == 1, "after SIGCONT the handlers run");
    usleep(20000);
    int n = (int)read(cont_pipe[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = 0;
    printf("handlers after continue: %d (%s)\n", n, strchr(got, 'U') && strchr(got, 'C') ? "U and C" : got);
    (void)!write(in[1], "D", 1);
    (void)!read(cont_pipe[0], got, 1);
    printf("the read went on and got: %c\n", got[0]);
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exits 0");

    /* 4. SIGTERM waits while the process is stopped, and kills it at the continue */
    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    kill(c, SIGSTOP);
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st), "stopped");
    kill(c, SIGTERM);
    usleep(30000);
    CHECK(waitpid(c, &st, WNOHANG) == 0, "SIGTERM does not end a stopped process");
    kill(c, SIGCONT);
    CHECK(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
          "SIGCONT lets SIGTERM kill it");

    /* 5. SA_NOCLDSTOP: no SIGCHLD for stop and continue */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    chld_count = 0;
    c = fork();
    if (c == 0) {
        raise(SIGSTOP);
        _exit(3);
    }
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st), "stopped (SA_NOCLDSTOP)");
    usleep(20000);
    printf("SIGCHLDs for the stop with SA_NOCLDSTOP: %d\n", chld_count);
    kill(c, SIGCONT);
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 3, "exits 3");
    wait_chld(1);
    printf("SIGCHLD at exit: %s status %d\n", code_name(chld_code), chld_status);

    /* 6. every thread stops */
    int sp[2];
    (void)!pipe(sp);
    c = fork();
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, NULL, spinner, NULL);
        for (;;) {
            usleep(10000);
            long v = spins;
            (void)!write(sp[1], &v, sizeof v);
        }
    }
    long v1 = 0, v2 = 0;
    (void)!read(sp[0], &v1, sizeof v1);
    kill(c, SIGSTOP);
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st), "threaded child stopped");
    usleep(10000);
    while (readable(sp[0], 0) == 1)
        (void)!read(sp[0], &v1, sizeof v1);
    CHECK(readable(sp[0], 60) == 0, "no thread runs while stopped");
    kill(c, SIGCONT);
    (void)!read(sp[0], &v2, sizeof v2);
    (void)!read(sp[0], &v2, sizeof v2);
    CHECK(v2 > v1, "the threads run again after SIGCONT");
    kill(c, SIGKILL);
    waitpid(c, &st, 0);

    /* 7. a stop and a continue cancel each other while blocked */
    c = fork();
    if (c == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTSTP);
        sigprocmask(SIG_BLOCK, &s, NULL);
        raise(SIGTSTP);          /* pending, blocked */
        raise(SIGCONT);          /* discards the pending stop */
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        _exit(5);
    }
    CHECK(waitpid(c, &st, WUNTRACED) == c && WIFEXITED(st) && WEXITSTATUS(st) == 5,
          "SIGCONT discarded the pending SIGTSTP");
    CHECK(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD, "no children left");
    return ut_exit(0);
}
