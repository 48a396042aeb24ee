/* pollspin: multiprocessing.Pool's pattern. A thread of the parent busy-loops on poll(2) while a
 * pipe stays readable (Pool's worker handler waits on the result pipe's reader among its
 * sentinels), another thread of the parent is blocked in read(2) on that pipe (the result
 * handler), and a forked child writes the results. The spinning thread never blocks until the
 * reader has drained the pipe, so the reader must get the CPU while the spinner keeps making
 * system calls: a kernel that switches only when a task blocks hangs here. The child first
 * pokes the spinner's notifier pipe so that the spinner is runnable ahead of the reader when
 * the results come. alarm(2) turns a hang into a failure. */
#include "ut.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define NRESULTS 3

static int res[2];      /* the result pipe: the child writes, the reader thread reads */
static int note[2];     /* the spinner's notifier: 'w' from the child, 'q' from main */
static int got[NRESULTS];
static long spins;

static void *reader(void *arg) {
    (void)arg;
    for (int i = 0; i < NRESULTS; i++) {
        int v = 0;
        ssize_t n = read(res[0], &v, sizeof v);    /* blocks until the child has written */
        if (n != (ssize_t)sizeof v) {
            printf("FAIL reader read %zd (%s)\n", n, n < 0 ? errname(errno) : "short");
            return (void *)1;
        }
        got[i] = v;
    }
    return NULL;
}

static void *spinner(void *arg) {
    (void)arg;
    int pokes = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = res[0], .events = POLLIN}, {.fd = note[0], .events = POLLIN}};
        int r = poll(p, 2, -1);    /* returns at once while the results wait in the pipe */
        if (r < 0) {
            printf("FAIL poll: %s\n", errname(errno));
            return (void *)1;
        }
        spins++;
        if (p[1].revents & POLLIN) {
            char c = 0;
            if (read(note[0], &c, 1) != 1)
                return (void *)1;
            if (c == 'q')
                break;
            pokes++;
        }
    }
    return (void *)(long)(pokes == 1 ? 0 : 2);
}

int main(void) {
    alarm(20);
    setvbuf(stdout, NULL, _IONBF, 0);
    CHECK(pipe(res) == 0 && pipe(note) == 0, "pipes");
    pthread_t rt, st;
    CHECK(pthread_create(&rt, NULL, reader, NULL) == 0, "pthread_create reader");
    CHECK(pthread_create(&st, NULL, spinner, NULL) == 0, "pthread_create spinner");
    usleep(100000);    /* both threads parked: the reader in read, the spinner in poll */
    pid_t pid = fork();
    if (pid == 0) {
        /* the spinner first, then the results: it is ahead of the reader on the run queue */
        if (write(note[1], "w", 1) != 1)
            _exit(3);
        for (int i = 0; i < NRESULTS; i++) {
            int v = 100 + i;
            if (write(res[1], &v, sizeof v) != (ssize_t)sizeof v)
                _exit(4);
        }
        _exit(0);
    }
    CHECK(pid > 0, "fork");
    void *rv = (void *)-1;
    CHECK(pthread_join(rt, &rv) == 0 && rv == NULL, "reader thread");
    CHECK(got[0] == 100 && got[1] == 101 && got[2] == 102,
          "the reader got the results while the other thread polled: %d %d %d",
          got[0], got[1], got[2]);
    CHECK(write(note[1], "q", 1) == 1, "write q to the poller");
    rv = (void *)-1;
    CHECK(pthread_join(st, &rv) == 0 && rv == NULL && spins >= 2,
          "the poller saw the child's poke, then the q (status %ld)", (long)rv);
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child status %#x", status);
    return ut_exit(0);
}
