/* affinity: the CPUs a static libc's sysconf and thread pools ask for. sched_getaffinity gives at
 * least one CPU (the raw syscall returns the mask size in bytes: > 0 and a multiple of 8), a mask
 * too small for the CPUs or of odd size gives EINVAL, the CPU we run on is in the mask,
 * sched_yield works, the policy is SCHED_OTHER, and sysconf(_SC_NPROCESSORS_ONLN) >= 1. */
#include "ut.h"
#include <sched.h>

int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity(0)");
    printf("cpus>=1: %s\n", CPU_COUNT(&set) >= 1 ? "yes" : "no");
    unsigned long raw[16];
    long r = syscall(SYS_sched_getaffinity, 0, sizeof raw, raw);
    CHECK(r > 0 && r % 8 == 0, "raw sched_getaffinity returns the mask size (> 0, multiple of 8)");
    EXPECT_ERR(syscall(SYS_sched_getaffinity, 0, 3, raw), EINVAL, "sched_getaffinity(size 3)");
    unsigned cpu = 99999, node = 99999;
    CHECK(syscall(SYS_getcpu, &cpu, &node, NULL) == 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set), "getcpu() is in the mask");
    CHECK(sched_yield() == 0, "sched_yield()");
    /* raw: musl's sched_getscheduler is a stub that always says ENOSYS */
    CHECK(syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER, "policy is SCHED_OTHER");
    CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "sysconf(_SC_NPROCESSORS_ONLN) >= 1");
    EXPECT_ERR(syscall(SYS_sched_getaffinity, 999999, sizeof raw, raw), ESRCH, "sched_getaffinity(no such pid)");
    return ut_exit(0);
}
