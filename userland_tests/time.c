/* time: clocks and sleeps, printing only facts that hold on any honest kernel: CLOCK_MONOTONIC
 * never goes back over many reads, nanosleep(1 ms) and clock_nanosleep(1 ms) last at least 1 ms
 * of CLOCK_MONOTONIC, the wall clock is after 2020 and agrees with gettimeofday and time(),
 * the other clocks answer, bad arguments give EINVAL, _SC_CLK_TCK is 100, getrusage and times
 * work. Nothing about how long anything took beyond lower bounds. */
#include "ut.h"
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

static long long ns(const struct timespec *t) { return (long long)t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(void) {
    struct timespec a, b;
    int mono_ok = clock_gettime(CLOCK_MONOTONIC, &a) == 0, nondecreasing = 1;
    for (int i = 0; i < 1000 && mono_ok; i++) {
        mono_ok = clock_gettime(CLOCK_MONOTONIC, &b) == 0;
        if (ns(&b) < ns(&a))
            nondecreasing = 0;
        a = b;
    }
    CHECK(mono_ok, "clock_gettime(CLOCK_MONOTONIC)");
    CHECK(nondecreasing, "CLOCK_MONOTONIC non-decreasing over 1000 reads");
    CHECK(a.tv_nsec >= 0 && a.tv_nsec < 1000000000L, "tv_nsec in [0, 1e9)");
    /* the raw syscall too: libc may read the vDSO instead */
    struct timespec r1, r2;
    CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &r1) == 0 && clock_gettime(CLOCK_MONOTONIC, &r2) == 0 && ns(&r2) >= ns(&r1),
          "raw clock_gettime syscall agrees with libc's (monotonic)");

    struct timespec t0, t1, req = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int slept = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(slept == 0, "nanosleep(1 ms) returns 0");
    CHECK(ns(&t1) - ns(&t0) >= 1000000, "nanosleep(1 ms) lasted at least 1 ms");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int cn = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(cn == 0 && ns(&t1) - ns(&t0) >= 1000000, "clock_nanosleep(CLOCK_MONOTONIC, 1 ms) lasted at least 1 ms");
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 2000000;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    cn = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(cn == 0 && ns(&t1) >= ns(&abs), "clock_nanosleep(TIMER_ABSTIME) wakes after the deadline");
    struct timespec bad = {0, 1000000000L};
    EXPECT_ERR(syscall(SYS_nanosleep, &bad, NULL), EINVAL, "nanosleep(tv_nsec = 1e9)");
    struct timespec neg = {-1, 0};
    EXPECT_ERR(syscall(SYS_nanosleep, &neg, NULL), EINVAL, "nanosleep(tv_sec = -1)");

    struct timeval tv;
    struct timespec rt;
    CHECK(gettimeofday(&tv, NULL) == 0, "gettimeofday");
    CHECK(tv.tv_sec > 1577836800 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday after 2020-01-01, tv_usec in range");
    /* within 2 s either way: time() and SYS_time read coarse clocks that may lag a tick behind */
    CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0 && llabs((long long)rt.tv_sec - tv.tv_sec) <= 2,
          "CLOCK_REALTIME agrees with gettimeofday (within 2 s)");
    time_t now = time(NULL);
    CHECK(llabs((long long)now - tv.tv_sec) <= 2, "time() agrees with gettimeofday (within 2 s)");
    time_t tt = 0;
    long traw = syscall(SYS_time, &tt);
    CHECK(traw == (long)tt && llabs((long long)tt - tv.tv_sec) <= 2, "raw time syscall returns and fills the time");

    const struct {
        clockid_t id;
        const char *name;
    } clocks[] = {
        {CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE"}, {CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE"},
        {CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW"},     {CLOCK_BOOTTIME, "CLOCK_BOOTTIME"},
        {CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID"}, {CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID"},
    };
    for (unsigned i = 0; i < sizeof clocks / sizeof *clocks; i++) {
        struct timespec t;
        CHECK(clock_gettime(clocks[i].id, &t) == 0 && t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000L,
              "clock_gettime(%s)", clocks[i].name);
    }
    struct timespec res;
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec > 0 || res.tv_nsec > 0), "clock_getres(CLOCK_MONOTONIC) > 0");
    EXPECT_ERR(syscall(SYS_clock_gettime, 1000, &rt), EINVAL, "clock_gettime(clock 1000)");
    EXPECT_ERR(syscall(SYS_clock_getres, 1000, &res), EINVAL, "clock_getres(clock 1000)");

    printf("sysconf(_SC_CLK_TCK)=%ld\n", sysconf(_SC_CLK_TCK));
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_utime.tv_usec < 1000000, "getrusage(RUSAGE_SELF)");
    EXPECT_ERR(syscall(SYS_getrusage, 12345, &ru), EINVAL, "getrusage(who 12345)");
    struct tms tm;
    CHECK(times(&tm) != (clock_t)-1, "times()");
    return ut_exit(0);
}
