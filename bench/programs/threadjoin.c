/* pthread_create + pthread_join of a thread that returns at once, N times; prints ns per thread. */
#include <pthread.h>
#include "peers_common.h"

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0) die("pthread_create");
        if (pthread_join(t, NULL) != 0) die("pthread_join");
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
