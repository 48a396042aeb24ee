/* signals [alarm]: signal delivery in one process.
 * default: a SIGUSR1 handler runs on raise(); SA_SIGINFO gets si_signo, si_code SI_TKILL for
 * raise() and SI_USER with our pid for kill(); a blocked signal stays pending until unblocked,
 * then runs; SIG_IGN drops it; a SIGSEGV handler sees si_addr of a wild write and leaves through
 * siglongjmp, with the signal mask restored; a SIGFPE handler sees FPE_INTDIV.
 * alarm: timers. setitimer(ITIMER_REAL, 5 ms) delivers SIGALRM to sigsuspend, a 20 ms timer's
 * SIGALRM interrupts a 30 s nanosleep with EINTR, and alarm(10) is pending until alarm(0)
 * cancels it (returning the seconds left). */
#include "ut.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t usr1, usr2, alrm;
static volatile int last_code, last_signo;
static volatile pid_t last_pid;
static volatile uintptr_t fault_addr;
static sigjmp_buf jb;

static void on_usr1(int sig) { (void)sig; usr1++; }
static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    usr2++;
    last_signo = si->si_signo;
    last_code = si->si_code;
    last_pid = si->si_pid;
    (void)sig;
}
static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    last_signo = sig;
    last_code = si->si_code;
    fault_addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}
static void on_alrm(int sig) { (void)sig; alrm++; }

static const char *code_name(int c) {
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    default: return "other";
    }
}

static int blocked(int sig) {
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

static int run_alarm(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction(SIGALRM)");
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct itimerval it = {{0, 0}, {0, 5000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer(ITIMER_REAL, 5 ms)");
    int r = sigsuspend(&old);
    CHECK(r == -1 && errno == EINTR && alrm == 1, "sigsuspend returns EINTR after SIGALRM ran");
    sigprocmask(SIG_SETMASK, &old, NULL);
    struct itimerval it2 = {{0, 0}, {0, 20000}};
    CHECK(setitimer(ITIMER_REAL, &it2, NULL) == 0, "setitimer(ITIMER_REAL, 20 ms)");
    struct timespec req = {30, 0};
    EXPECT_ERR(nanosleep(&req, NULL), EINTR, "nanosleep(30 s) interrupted by the timer");
    printf("SIGALRM handled %d times\n", (int)alrm);
    CHECK(alarm(10) == 0, "alarm(10) with no alarm pending returns 0");
    unsigned left = alarm(0);
    CHECK(left >= 9 && left <= 10, "alarm(0) cancels it, returning 9 or 10 seconds left");
    return ut_exit(0);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "alarm"))
        return run_alarm();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction(SIGUSR1)");
    CHECK(raise(SIGUSR1) == 0 && usr1 == 1, "raise(SIGUSR1) ran the handler once");

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction(SIGUSR2, SA_SIGINFO)");
    raise(SIGUSR2);
    printf("raise: signo=%s code=%s\n", last_signo == SIGUSR2 ? "SIGUSR2" : "other", code_name(last_code));
    kill(getpid(), SIGUSR2);
    printf("kill: signo=%s code=%s pid=%s\n", last_signo == SIGUSR2 ? "SIGUSR2" : "other", code_name(last_code),
           last_pid == getpid() ? "self" : "other");

    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block SIGUSR1");
    raise(SIGUSR1);
    sigpending(&pend);
    CHECK(usr1 == 1 && sigismember(&pend, SIGUSR1), "blocked SIGUSR1 is pending, not run");
    CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0 && usr1 == 2, "unblocking runs it");
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGUSR1), "nothing pending afterwards");
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    CHECK(usr1 == 2, "SIG_IGN drops SIGUSR1");
    struct sigaction q;
    CHECK(sigaction(SIGUSR1, NULL, &q) == 0 && q.sa_handler == SIG_IGN, "sigaction reads back SIG_IGN");
    EXPECT_ERR(sigaction(SIGKILL, &sa, NULL), EINVAL, "sigaction(SIGKILL)");
    EXPECT_ERR(kill(getpid(), 12345), EINVAL, "kill(self, signal 12345)");

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    if (sigsetjmp(jb, 1) == 0) {
        int *volatile wild = (int *)0x1008;
        *wild = 1;
        printf("FAIL the wild write did not fault\n");
        ut_failures++;
    }
    printf("SIGSEGV: signo=%s code=%s addr=%s\n", last_signo == SIGSEGV ? "SIGSEGV" : "other",
           last_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other", fault_addr == 0x1008 ? "0x1008" : "other");
    CHECK(!blocked(SIGSEGV), "siglongjmp restored the mask (SIGSEGV unblocked)");
    static volatile unsigned zero;
    if (sigsetjmp(jb, 1) == 0) {
        unsigned a = 1, d = 0, z = zero;
        __asm__ volatile("divl %2" : "+a"(a), "+d"(d) : "r"(z));
        printf("FAIL the division did not fault\n");
        ut_failures++;
    }
    printf("SIGFPE: signo=%s code=%s\n", last_signo == SIGFPE ? "SIGFPE" : "other", last_code == FPE_INTDIV ? "FPE_INTDIV" : "other");
    return ut_exit(0);
}
