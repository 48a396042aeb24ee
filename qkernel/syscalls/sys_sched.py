"""The scheduler's system calls: sched_yield, the policy and priority calls (sched_setscheduler,
sched_getscheduler, sched_setparam, sched_getparam, sched_get_priority_max/min,
sched_rr_get_interval), nice values (getpriority, setpriority), CPU affinity and getcpu.

Policies and nice values are kept per thread as Linux keeps them (Task.policy, rt_priority,
nice; inherited at clone, reset by SCHED_RESET_ON_FORK) and reported back exactly; the scheduler
itself is one FIFO queue with equal time slices, so they change no task's share of the CPU yet.
Permission checks are Linux's with "privileged" meaning effective uid 0 (as sys_cred.py): an
unprivileged caller may only act on threads of its own user, and may not lower a nice value or
choose a real-time policy."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.linux.errno import EACCES, EFAULT, EINVAL, EPERM, ESRCH
from qkernel.linux.sched import (PRIO_PGRP, PRIO_PROCESS, PRIO_USER, SCHED_BATCH, SCHED_FIFO, SCHED_IDLE,
                                 SCHED_OTHER, SCHED_RESET_ON_FORK, SCHED_RR)
from qkernel.linux.time import NSEC_PER_SEC, Timespec
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, sched
from qkernel.task.process import PROC_ZOMBIE, Process
from qkernel.task.task import TASK_ZOMBIE, Task

NICE_MIN: Final = -20
NICE_MAX: Final = 19
RT_PRIO_MAX: Final = 99
RR_TIMESLICE_NS: Final = 100_000_000      # Linux's RR_TIMESLICE (100 ms)
CPUMASK_BYTES: Final = 8


def pid_arg(v: u64) -> i64:
    """A pid_t argument (the low 32 bits, signed)."""
    return i64(i32(u32(v & 0xFFFF_FFFF)))


def target(t: ptr[Task], pid: u64) -> ptr[Task]:
    """The thread a sched_* call names (0: the caller), or NULL."""
    n = pid_arg(pid)
    if n == 0:
        return t
    if n < 0:
        return cast(ptr[Task], NULL)
    return family.find_thread(u64(n))


def privileged(t: ptr[Task]) -> bool:
    return t.process.creds.euid == 0


def may_change(t: ptr[Task], x: ptr[Task]) -> bool:
    """Linux's check_same_owner / set_one_prio: the caller's euid is the target's uid or euid."""
    if privileged(t):
        return True
    c = addr_of(x.process.creds)
    return t.process.creds.euid == c.uid or t.process.creds.euid == c.euid


def sys_sched_yield(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    sched.schedule()  # to the tail of the run queue; at once back when nothing else is runnable
    return 0


def valid_param(policy: u64, prio: u64) -> bool:
    if policy == SCHED_FIFO or policy == SCHED_RR:
        return prio >= 1 and prio <= RT_PRIO_MAX
    return prio == 0


def set_policy(t: ptr[Task], x: ptr[Task], policy: u64, uparam: u64, keep_policy: bool) -> i64:
    if uparam == 0:
        return -EINVAL
    prio: u32 = 0
    if copy_from_user(cast(ptr[u8], addr_of(prio)), uparam, 4) != 0:
        return -EFAULT
    reset = policy & SCHED_RESET_ON_FORK != 0
    if keep_policy:
        policy = x.policy
        reset = x.sched_reset_on_fork
    else:
        policy = policy & ~u64(SCHED_RESET_ON_FORK)
        if policy != SCHED_OTHER and policy != SCHED_FIFO and policy != SCHED_RR and \
                policy != SCHED_BATCH and policy != SCHED_IDLE:
            return -EINVAL
    if not valid_param(policy, u64(prio)):
        return -EINVAL
    if not may_change(t, x):
        return -EPERM
    if not privileged(t) and (policy == SCHED_FIFO or policy == SCHED_RR):
        return -EPERM                  # RLIMIT_RTPRIO is 0 for unprivileged users
    x.policy = policy
    x.rt_priority = u64(prio)
    x.sched_reset_on_fork = reset
    return 0


def sys_sched_setscheduler(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if pid_arg(a.a0) < 0:
        return -EINVAL
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    return set_policy(t, x, a.a1, a.a2, False)


def sys_sched_setparam(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if pid_arg(a.a0) < 0:
        return -EINVAL
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    return set_policy(t, x, 0, a.a1, True)


def sys_sched_getscheduler(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if pid_arg(a.a0) < 0:
        return -EINVAL
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    return i64(x.policy | (SCHED_RESET_ON_FORK if x.sched_reset_on_fork else 0))


def sys_sched_getparam(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if pid_arg(a.a0) < 0 or a.a1 == 0:
        return -EINVAL
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    prio: u32 = u32(x.rt_priority)
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(prio)), 4)


def sys_sched_get_priority_max(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 == SCHED_FIFO or a.a0 == SCHED_RR:
        return RT_PRIO_MAX
    if a.a0 == SCHED_OTHER or a.a0 == SCHED_BATCH or a.a0 == SCHED_IDLE:
        return 0
    return -EINVAL


def sys_sched_get_priority_min(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 == SCHED_FIFO or a.a0 == SCHED_RR:
        return 1
    if a.a0 == SCHED_OTHER or a.a0 == SCHED_BATCH or a.a0 == SCHED_IDLE:
        return 0
    return -EINVAL


def sys_sched_rr_get_interval(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """SCHED_FIFO: 0 (no slice); the others Linux's RR_TIMESLICE, 100 ms (the scheduler here
    slices by timer ticks, not by a length of time)."""
    if pid_arg(a.a0) < 0:
        return -EINVAL
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    ns: u64 = RR_TIMESLICE_NS
    if x.policy == SCHED_FIFO:
        ns = 0
    ts: Timespec = Timespec()
    ts.tv_sec = i64(ns // NSEC_PER_SEC)
    ts.tv_nsec = i64(ns % NSEC_PER_SEC)
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


def sys_sched_getaffinity(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """One CPU: bit 0. Returns the bytes written (8, Linux's cpumask size here), like the syscall."""
    if target(t, a.a0) == NULL:
        return -ESRCH
    if a.a1 < CPUMASK_BYTES or a.a1 & 7 != 0:
        return -EINVAL
    one: u64 = 1
    r = copy_to_user(a.a2, cast(ptr[u8], addr_of(one)), CPUMASK_BYTES)
    return r if r < 0 else CPUMASK_BYTES


def sys_sched_setaffinity(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Any mask that includes CPU 0, the only one (EINVAL otherwise, as Linux for a mask of no
    online CPU); the thread runs there either way."""
    x = target(t, a.a0)
    if x == NULL:
        return -ESRCH
    if a.a1 == 0:
        return -EINVAL
    first: u8 = 0
    if copy_from_user(addr_of(first), a.a2, 1) != 0:
        return -EFAULT
    if not may_change(t, x):
        return -EPERM
    if first & 1 == 0:
        return -EINVAL
    return 0


def sys_getcpu(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    zero: u32 = 0
    if a.a0 != 0 and copy_to_user(a.a0, cast(ptr[u8], addr_of(zero)), 4) != 0:
        return -EFAULT
    if a.a1 != 0 and copy_to_user(a.a1, cast(ptr[u8], addr_of(zero)), 4) != 0:
        return -EFAULT
    return 0


# ---- nice values ---------------------------------------------------------------------------

def prio_matches(x: ptr[Task], which: u64, who: u64, t: ptr[Task]) -> bool:
    p = x.process
    if which == PRIO_PROCESS:
        return x.tid == (t.tid if who == 0 else who)
    if which == PRIO_PGRP:
        return p.pgid == (t.process.pgid if who == 0 else who)
    return u64(p.creds.uid) == (u64(t.process.creds.uid) if who == 0 else who)


def next_match(x: ptr[Task], which: u64, who: u64, t: ptr[Task]) -> ptr[Task]:
    """The live thread after x (NULL: the first) in the process tree that (which, who) names."""
    while True:
        if x != NULL and x.thread_next != NULL:
            x = x.thread_next
        else:
            p: ptr[Process] = family.init_process if x == NULL else family.next_in_tree(x.process)
            while p != NULL and (p.state == PROC_ZOMBIE or family.first_thread(p) == NULL):
                p = family.next_in_tree(p)
            if p == NULL:
                return cast(ptr[Task], NULL)
            x = family.first_thread(p)
        if x.state != TASK_ZOMBIE and prio_matches(x, which, who, t):
            return x


def set_one(t: ptr[Task], x: ptr[Task], nice: i64) -> i64:
    if not may_change(t, x):
        return -EPERM
    if nice < x.nice and not privileged(t):
        return -EACCES                 # RLIMIT_NICE is 0 for unprivileged users
    x.nice = nice
    return 0


def sys_getpriority(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """20 - nice of the matching thread with the lowest nice (what the system call returns;
    libc turns it into the nice value)."""
    which = a.a0
    if which != PRIO_PROCESS and which != PRIO_PGRP and which != PRIO_USER:
        return -EINVAL
    found = False
    best: i64 = NICE_MAX + 1
    x = next_match(cast(ptr[Task], NULL), which, a.a1, t)
    while x != NULL:
        found = True
        if x.nice < best:
            best = x.nice
        x = next_match(x, which, a.a1, t)
    if not found:
        return -ESRCH
    return 20 - best


def sys_setpriority(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    which = a.a0
    if which != PRIO_PROCESS and which != PRIO_PGRP and which != PRIO_USER:
        return -EINVAL
    nice = i64(i32(u32(a.a2 & 0xFFFF_FFFF)))
    if nice < NICE_MIN:
        nice = NICE_MIN
    if nice > NICE_MAX:
        nice = NICE_MAX
    found = False
    err: i64 = 0
    x = next_match(cast(ptr[Task], NULL), which, a.a1, t)
    while x != NULL:
        found = True
        r = set_one(t, x, nice)
        if r < 0:
            err = r
        x = next_match(x, which, a.a1, t)
    if not found:
        return -ESRCH
    return err
