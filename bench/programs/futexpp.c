/* futex ping-pong between two threads: each waits for its turn on a shared word and wakes the
 * other, N round trips; prints ns per round trip. */
#include <linux/futex.h>  /* gcc -static builds the peers: the host headers are there */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "peers_common.h"

static atomic_int word;
static long n;

static void wait_for(int v) {
    while (atomic_load(&word) != v)
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, !v, NULL, NULL, 0);
}

static void set_and_wake(int v) {
    atomic_store(&word, v);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pong(void *arg) {
    for (long i = 0; i < n; i++) {
        wait_for(1);
        set_and_wake(0);
    }
    return arg;
}

int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 1000;
    pthread_t t;
    if (pthread_create(&t, NULL, pong, NULL) != 0) die("pthread_create");
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        set_and_wake(1);
        wait_for(0);
    }
    double b = now_ns();
    pthread_join(t, NULL);
    printf("%.1f\n", (b - a) / n);
    return 0;
}
