/* CPU time: a busy loop's user time shows in getrusage, times(), CLOCK_PROCESS_CPUTIME_ID and
   CLOCK_THREAD_CPUTIME_ID and never exceeds the time that passed; system time grows with system
   calls; a sleep adds (almost) no CPU time; a reaped child's time lands in RUSAGE_CHILDREN and
   times()'s cutime; ITIMER_VIRTUAL and ITIMER_PROF fire (SIGVTALRM, SIGPROF) after their CPU
   time with their interval, getitimer counts down, and a zero value disarms them. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }
static long long tv_ns(struct timeval t) { return t.tv_sec * 1000000000LL + t.tv_usec * 1000LL; }
static long long now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return ns(t); }
static volatile unsigned long sink;
static volatile sig_atomic_t vt, prof;
static void on_vt(int s) { (void)s; vt++; }
static void on_prof(int s) { (void)s; prof++; }

static void spin_ms(int ms) {         /* user time: at least ms of CPU */
    long long end = now(CLOCK_THREAD_CPUTIME_ID) + ms * 1000000LL;
    while (now(CLOCK_THREAD_CPUTIME_ID) < end)
        for (int i = 0; i < 20000; i++)
            sink += i * i;
}

int main(void) {
    long long w0 = now(CLOCK_MONOTONIC), p0 = now(CLOCK_PROCESS_CPUTIME_ID);
    spin_ms(200);
    long long w1 = now(CLOCK_MONOTONIC), p1 = now(CLOCK_PROCESS_CPUTIME_ID);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("process CPU clock: +%s, not past the time that passed: %s\n",
           p1 - p0 >= 200000000 ? ">=200ms" : "LESS", p1 - p0 <= w1 - w0 + 20000000 ? "yes" : "NO");
    printf("getrusage: user %s, user+system equals the CPU clock: %s\n",
           tv_ns(ru.ru_utime) >= 150000000 ? ">=150ms" : "LESS",
           tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) <= p1 + 2000000 ? "yes" : "NO");
    struct rusage th, self;
    getrusage(RUSAGE_THREAD, &th);
    getrusage(RUSAGE_SELF, &self);       /* after: the process's is at least the thread's */
    printf("RUSAGE_THREAD of the only thread: %s\n",
           tv_ns(th.ru_utime) + tv_ns(th.ru_stime) <= tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + 1000000 &&
           tv_ns(th.ru_utime) >= 150000000 ? "ok" : "BAD");
    struct tms tm;
    clock_t c = times(&tm);
    printf("times: returns %s, utime %s ticks\n", c != (clock_t)-1 ? "ok" : "-1",
           tm.tms_utime >= 15 ? ">=15" : "LESS");
    getrusage(RUSAGE_SELF, &ru);
    long long s0 = tv_ns(ru.ru_stime);
    long long until = now(CLOCK_PROCESS_CPUTIME_ID) + 40000000;   /* 40 ms of system calls */
    while (now(CLOCK_PROCESS_CPUTIME_ID) < until)
        for (int i = 0; i < 100; i++)
            getppid();
    getrusage(RUSAGE_SELF, &ru);
    printf("system time grows with system calls: %s\n", tv_ns(ru.ru_stime) > s0 ? "yes" : "NO");
    long long q0 = now(CLOCK_PROCESS_CPUTIME_ID);
    struct timespec nap = {0, 200000000};
    nanosleep(&nap, NULL);
    long long q1 = now(CLOCK_PROCESS_CPUTIME_ID);
    printf("a 200 ms sleep costs under 50 ms of CPU: %s\n", q1 - q0 < 50000000 ? "yes" : "NO");

    pid_t pid = fork();
    if (pid == 0) {
        spin_ms(150);
        _exit(0);
    }
    struct rusage before;
    getrusage(RUSAGE_CHILDREN, &before);
    int st;
    waitpid(pid, &st, 0);
    getrusage(RUSAGE_CHILDREN, &ru);
    times(&tm);
    printf("a reaped child's time: RUSAGE_CHILDREN %s -> %s, cutime %s\n",
           tv_ns(before.ru_utime) == 0 ? "0" : "not 0", tv_ns(ru.ru_utime) >= 100000000 ? ">=100ms" : "LESS",
           tm.tms_cutime >= 10 ? ">=10 ticks" : "LESS");

    signal(SIGVTALRM, on_vt);
    signal(SIGPROF, on_prof);
    struct itimerval it = {{0, 50000}, {0, 100000}};     /* 100 ms, then every 50 ms */
    setitimer(ITIMER_VIRTUAL, &it, NULL);
    setitimer(ITIMER_PROF, &it, NULL);
    struct itimerval g;
    getitimer(ITIMER_VIRTUAL, &g);
    printf("getitimer(ITIMER_VIRTUAL) right after: value about 100 ms %s, interval %ld us\n",
           g.it_value.tv_sec == 0 && g.it_value.tv_usec <= 110000 && g.it_value.tv_usec > 90000 ? "yes" : "NO",
           (long)g.it_interval.tv_usec);
    spin_ms(400);
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &zero, NULL);
    setitimer(ITIMER_PROF, &zero, NULL);
    int v = vt, pr = prof;
    printf("after 400 ms of CPU: SIGVTALRM %s, SIGPROF %s\n", v >= 3 && v <= 8 ? "3-8 times" : "WRONG",
           pr >= 3 && pr <= 8 ? "3-8 times" : "WRONG");
    spin_ms(150);
    getitimer(ITIMER_PROF, &g);
    printf("disarmed: no more signals %s, getitimer zero %s\n", vt == v && prof == pr ? "yes" : "NO",
           g.it_value.tv_sec == 0 && g.it_value.tv_usec == 0 ? "yes" : "NO");

    clockid_t tc, pc;                 /* the CPU clocks of a thread and a process by id */
    pthread_getcpuclockid(pthread_self(), &tc);
    clock_getcpuclockid(getpid(), &pc);
    long long t0 = now(tc);
    spin_ms(30);
    long long t1 = now(tc), pp = now(pc);
    struct timespec res;
    printf("pthread_getcpuclockid's clock: +%s; clock_getcpuclockid(getpid())'s: %s, resolution call %d\n",
           t1 - t0 >= 30000000 ? ">=30ms" : "LESS", pp >= t1 - 1000000 ? "at least the thread's" : "LESS",
           clock_getres(pc, &res));
    return 0;
}
