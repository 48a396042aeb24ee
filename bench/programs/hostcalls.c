/* Host-call round trips from a program: N fstat(0) (a synchronous qcall: one `out` exit in the
 * sandbox), N 1-byte read(0) with stdin /dev/zero (pyquark: an asynchronous qcall on the ring,
 * the task parked until a host thread completes it) and N getppid() (no host call), each timed
 * inside the program; prints "fstat read getppid" in nanoseconds per call. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    struct stat st;
    char c;
    double a = now_ns();
    for (long i = 0; i < n; i++)
        if (fstat(0, &st) != 0) return 1;
    double b = now_ns();
    for (long i = 0; i < n; i++)
        if (read(0, &c, 1) != 1) return 2;
    double d = now_ns();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    double e = now_ns();
    printf("%.1f %.1f %.1f\n", (b - a) / n, (d - b) / n, (e - d) / n);
    return 0;
}
