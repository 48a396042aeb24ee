/* tgroup: thread groups. getpid is the same in every thread, gettid differs; a signal sent to
 * the process runs in the one thread that does not block it; tgkill reaches a chosen thread;
 * a timed futex wait ends with ETIMEDOUT and a wrong value with EAGAIN; pthread_cond_broadcast
 * wakes every waiter; a robust mutex whose owner thread died is EOWNERDEAD for the next locker;
 * a detached thread's exit leaves the process running; exit_group from a thread ends threads
 * blocked in read(2); execve from a thread replaces the whole process. */
#include "ut.h"
#define FUTEX_WAIT_PRIVATE 128 /* <linux/futex.h>: musl-gcc has no linux headers */
#define FUTEX_WAKE_PRIVATE 129
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, woken;
static volatile long handler_tid;
static long worker_tid;
static volatile int worker_ready;

static void on_usr1(int sig) { (void)sig; handler_tid = syscall(SYS_gettid); }

static void *sig_worker(void *arg) {
    (void)arg;
    worker_tid = syscall(SYS_gettid);
    worker_ready = 1;
    while (handler_tid == 0)
        usleep(1000);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!go)
        pthread_cond_wait(&cv, &mu);
    woken++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

static pthread_mutex_t robust;
static void *die_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&robust);
    return NULL;   /* exits with the mutex held */
}

static int pipefd[2];
static void *blocked_reader(void *arg) {
    (void)arg;
    char b;
    ssize_t r = read(pipefd[0], &b, 1);
    (void)r;
    return NULL;
}

static char *self_exe;
static void *execer(void *arg) {
    (void)arg;
    execl(self_exe, self_exe, "after-exec", (char *)NULL);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "after-exec")) {
        printf("after execve from a thread: one thread left, tid == pid: %d\n",
               (long)syscall(SYS_gettid) == (long)getpid());
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "exit-group")) {
        if (pipe(pipefd) != 0) return 2;
        pthread_t r1, r2;
        pthread_create(&r1, NULL, blocked_reader, NULL);
        pthread_create(&r2, NULL, blocked_reader, NULL);
        usleep(20000);
        exit(42);   /* exit_group: the readers end too */
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    self_exe = argv[0];

    /* signals and threads */
    signal(SIGUSR1, on_usr1);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    pthread_t w;
    pthread_create(&w, NULL, sig_worker, NULL);
    while (!worker_ready)
        usleep(1000);
    pthread_sigmask(SIG_BLOCK, &m, NULL);       /* only the worker can take it now */
    kill(getpid(), SIGUSR1);
    pthread_join(w, NULL);
    CHECK(handler_tid == worker_tid, "kill(getpid()) ran in the thread that did not block it");
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
    handler_tid = 0;
    CHECK(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1) == 0 &&
          handler_tid == syscall(SYS_gettid), "tgkill to the main thread");
    EXPECT_ERR(syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR1), ESRCH, "tgkill to a joined thread");

    /* futex */
    int word = 5;
    struct timespec ts = {0, 20000000};
    EXPECT_ERR(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 5, &ts, NULL, 0), ETIMEDOUT, "futex wait 20 ms");
    EXPECT_ERR(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 6, NULL, NULL, 0), EAGAIN, "futex wait on a changed word");
    CHECK(syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0, "futex wake with no waiter wakes 0");

    /* broadcast */
    pthread_t ws[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&ws[i], NULL, waiter, NULL);
    usleep(20000);
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 3; i++)
        pthread_join(ws[i], NULL);
    printf("broadcast woke %d waiters\n", woken);

    /* robust mutex */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &ma);
    pthread_t d;
    pthread_create(&d, NULL, die_holding, NULL);
    pthread_join(d, NULL);
    int r = pthread_mutex_lock(&robust);
    printf("lock after the owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "0" : "other");

    /* exit_group ends blocked threads */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        execl(self_exe, self_exe, "exit-group", (char *)NULL);
        _exit(99);
    }
    int st;
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st), "exit_group with threads blocked in read");
    printf("its status: %d\n", WEXITSTATUS(st));

    /* execve from a thread */
    c = fork();
    if (c == 0) {
        pthread_t e, b2;
        if (pipe(pipefd) != 0) _exit(3);
        pthread_create(&b2, NULL, blocked_reader, NULL);
        pthread_create(&e, NULL, execer, NULL);
        pthread_join(e, NULL);
        _exit(98);
    }
    CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "execve from a thread");
    return ut_exit(0);
}
