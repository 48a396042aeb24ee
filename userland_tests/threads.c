/* threads: POSIX threads (clone with CLONE_THREAD|CLONE_SETTLS|CLONE_CHILD_CLEARTID, futex).
 * Four threads each add 1..1000 to a mutex-protected total and to their own __thread counter,
 * have their own tid (not the pid) and TLS block, and return a value join collects; a condition
 * variable hands a token back and forth 100 times. What is printed are sums and counts, the same
 * on every run whatever the scheduling. */
#include "ut.h"
#include <pthread.h>

#define NT 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long total;
static __thread long mine = 1000000;
static int turn, rounds_done;
static long tids[NT];
static uintptr_t tls_addrs[NT];

static void *worker(void *arg) {
    long id = (long)arg;
    tids[id] = syscall(SYS_gettid);
    tls_addrs[id] = (uintptr_t)&mine;
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&mu);
        total += i;
        pthread_mutex_unlock(&mu);
        mine += i;
    }
    return (void *)(mine - 1000000 + id);
}

static void *pingpong(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 1)
            pthread_cond_wait(&cv, &mu);
        turn = 0;
        rounds_done++;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int main(void) {
    pthread_t th[NT];
    int created = 1;
    for (long i = 0; i < NT; i++)
        created &= pthread_create(&th[i], NULL, worker, (void *)i) == 0;
    CHECK(created, "pthread_create x4");
    long rets = 0;
    int joined = 1;
    for (int i = 0; i < NT; i++) {
        void *r;
        joined &= pthread_join(th[i], &r) == 0;
        rets += (long)r;
    }
    CHECK(joined, "pthread_join x4");
    printf("total=%ld (want %d)\n", total, NT * 500500);
    printf("join values sum=%ld (want %d)\n", rets, NT * 500500 + 0 + 1 + 2 + 3);
    CHECK(mine == 1000000, "the main thread's __thread counter untouched");
    int distinct = 1;
    long pid = getpid();
    for (int i = 0; i < NT; i++) {
        distinct &= tids[i] != pid && tids[i] > 0 && tls_addrs[i] != (uintptr_t)&mine;
        for (int j = 0; j < i; j++)
            distinct &= tids[i] != tids[j] && tls_addrs[i] != tls_addrs[j];
    }
    CHECK(distinct, "each thread had its own tid and TLS block");

    pthread_t pp;
    CHECK(pthread_create(&pp, NULL, pingpong, NULL) == 0, "pthread_create ping-pong");
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&mu);
        turn = 1;
        pthread_cond_signal(&cv);
        while (turn != 0)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(pp, NULL);
    printf("condvar rounds=%d\n", rounds_done);
    return ut_exit(0);
}
