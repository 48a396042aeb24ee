/* The scheduler's calls: nice values (getpriority/setpriority for the process, its group and its
   user; inherited by a forked child), policies and priorities (sched_setscheduler/getscheduler,
   sched_setparam/getparam, SCHED_RESET_ON_FORK), their limits, sched_rr_get_interval, CPU
   affinity, and the errors Linux gives for bad arguments and missing threads. Run as root (the
   sandbox's user). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(int r) { return r == -1 ? strerror(errno) : "ok"; }

/* the system calls themselves: musl's sched_setscheduler & co. are ENOSYS stubs by design */
static int getsched(pid_t pid) { return (int)syscall(SYS_sched_getscheduler, pid); }
static int setsched(pid_t pid, int policy, const struct sched_param *sp) {
    return (int)syscall(SYS_sched_setscheduler, pid, policy, sp);
}
static int getparam(pid_t pid, struct sched_param *sp) { return (int)syscall(SYS_sched_getparam, pid, sp); }
static int setparam(pid_t pid, const struct sched_param *sp) { return (int)syscall(SYS_sched_setparam, pid, sp); }

int main(void) {
    errno = 0;
    printf("nice at start: %d\n", getpriority(PRIO_PROCESS, 0));
    printf("setpriority(PRIO_PROCESS, 0, 5): %s\n", err(setpriority(PRIO_PROCESS, 0, 5)));
    printf("getpriority(PRIO_PROCESS, 0): %d\n", getpriority(PRIO_PROCESS, 0));
    printf("getpriority(PRIO_PROCESS, getpid()): %d\n", getpriority(PRIO_PROCESS, getpid()));
    const char *e = err(setpriority(PRIO_PROCESS, 0, 100));
    printf("setpriority(.., 100) clamps: %s, now %d\n", e, getpriority(PRIO_PROCESS, 0));
    e = err(setpriority(PRIO_PROCESS, 0, -3));
    printf("setpriority(.., -3) as root: %s, now %d\n", e, getpriority(PRIO_PROCESS, 0));
    errno = 0;
    int r = getpriority(PRIO_PROCESS, 999999);
    printf("getpriority of no such process: %d %s\n", r, strerror(errno));
    errno = 0;
    r = getpriority(7, 0);
    printf("getpriority(which 7): %d %s\n", r, strerror(errno));
    r = nice(2);
    printf("nice(2): %d\n", r);
    pid_t pid = fork();
    if (pid == 0)
        _exit(getpriority(PRIO_PROCESS, 0) + 20);
    int st;
    waitpid(pid, &st, 0);
    printf("a forked child's nice: %d\n", WEXITSTATUS(st) - 20);
    pid = fork();
    if (pid == 0) {                  /* a group of its own: PRIO_PGRP sees only this process */
        setpgid(0, 0);
        setpriority(PRIO_PGRP, 0, 7);
        _exit(getpriority(PRIO_PGRP, 0) + 20);
    }
    waitpid(pid, &st, 0);
    printf("PRIO_PGRP of a group of one: %d\n", WEXITSTATUS(st) - 20);

    printf("policy at start: %d\n", getsched(0));
    struct sched_param sp = {0};
    getparam(0, &sp);
    printf("priority at start: %d\n", sp.sched_priority);
    printf("max/min FIFO %d %d, RR %d %d, OTHER %d %d, BATCH %d, IDLE %d\n",
           sched_get_priority_max(SCHED_FIFO), sched_get_priority_min(SCHED_FIFO),
           sched_get_priority_max(SCHED_RR), sched_get_priority_min(SCHED_RR),
           sched_get_priority_max(SCHED_OTHER), sched_get_priority_min(SCHED_OTHER),
           sched_get_priority_max(SCHED_BATCH), sched_get_priority_max(SCHED_IDLE));
    errno = 0;
    r = sched_get_priority_max(42);
    printf("max of policy 42: %d %s\n", r, strerror(errno));
    sp.sched_priority = 5;
    printf("SCHED_OTHER with priority 5: %s\n", err(setsched(0, SCHED_OTHER, &sp)));
    sp.sched_priority = 0;
    e = err(setsched(0, SCHED_BATCH, &sp));
    printf("SCHED_BATCH: %s, policy %d\n", e, getsched(0));
    e = err(setsched(0, SCHED_IDLE, &sp));
    printf("SCHED_IDLE: %s, policy %d\n", e, getsched(0));
    printf("policy 42: %s\n", err(setsched(0, 42, &sp)));
    printf("pid -1: %s\n", err(setsched(-1, SCHED_OTHER, &sp)));
    printf("no such pid: %s\n", err(setsched(999999, SCHED_OTHER, &sp)));
    printf("NULL param: %s\n", err((int)syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL)));
    e = err(setsched(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp));
    printf("back to SCHED_OTHER with RESET_ON_FORK: %s, policy %#x\n", e, getsched(0));
    sp.sched_priority = 3;
    printf("sched_setparam(3) under SCHED_OTHER: %s\n", err(setparam(0, &sp)));
    struct timespec ts = {9, 9};
    e = err(sched_rr_get_interval(0, &ts));
    printf("sched_rr_get_interval: %s, below one second: %d\n", e, ts.tv_sec == 0 && ts.tv_nsec >= 0);
    printf("sched_rr_get_interval of no such pid: %s\n", err(sched_rr_get_interval(999999, &ts)));

    cpu_set_t set;
    CPU_ZERO(&set);
    e = err(sched_getaffinity(0, sizeof set, &set));
    printf("sched_getaffinity: %s, CPU 0 in it: %d\n", e, CPU_ISSET(0, &set) ? 1 : 0);
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    printf("sched_setaffinity(CPU 0): %s\n", err(sched_setaffinity(0, sizeof set, &set)));
    CPU_ZERO(&set);
    printf("sched_setaffinity(no CPU): %s\n", err(sched_setaffinity(0, sizeof set, &set)));
    printf("sched_getaffinity with 3 bytes: %s\n", err((int)syscall(SYS_sched_getaffinity, 0, 3, &set)));
    return 0;
}
