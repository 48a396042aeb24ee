"""Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres, nanosleep,
clock_nanosleep, getrusage.

Readings come from the kernel's TSC clock (qkernel/task/clock.py: the same formula as the vDSO's,
kept on the host's clocks), so a process that calls these and one that reads the vDSO see the
same time. Sleeping is a host timer on the asynchronous qcall ring: the task parks, the vCPU
runs others (qkernel/task/hostio.py).
"""

from __future__ import annotations

from qkernel.dialect import NULL, addr_of, cast, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.linux.errno import EFAULT, EINTR, EINVAL, EPERM
from qkernel.linux.resource import RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD, Rusage
from qkernel.linux.time import (CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME,
                                CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID, CLOCK_REALTIME_COARSE, NSEC_PER_SEC,
                                NSEC_PER_TICK, NSEC_PER_USEC, TIMER_ABSTIME, ITIMER_PROF, ITIMER_REAL,
                                ITIMER_VIRTUAL, Itimerval, Timespec, Timeval, Timezone, Tms)
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls import sys_signal
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import cputime, family, hostio, signals, task, timers
from qkernel.task.process import PROC_ZOMBIE
from qkernel.task.clock import mono_ns, real_ns
from qkernel.task.task import Task


def cpu_clock_ns(t: ptr[Task], clock: u64) -> i64:
    """CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID: user + system time."""
    task.charge(t, False)
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return i64(cputime.total_ns(t.process))
    return i64(cputime.ns(t.utime_cycles + t.stime_cycles))


def now_ns(clock: u64) -> i64:
    """Nanoseconds on `clock`, or -EINVAL for clocks Linux does not have (the CPU-time clocks:
    cpu_clock_ns)."""
    if clock == CLOCK_REALTIME or clock == CLOCK_REALTIME_COARSE or clock == CLOCK_TAI:
        return i64(real_ns())        # TAI: realtime plus the kernel's TAI offset, 0 until set (Linux's default)
    if clock <= CLOCK_BOOTTIME:  # monotonic family; CPU-time clocks approximate with it
        return i64(mono_ns())
    return -EINVAL


def pid_cpu_clock_ns(t: ptr[Task], id: u64) -> i64:
    """A clock of clock_getcpuclockid/pthread_getcpuclockid: a negative clockid_t holding
    ~pid << 3 (or ~tid with bit 2: one thread) and the kind in its low bits (0 PROF: user +
    system, 1 VIRT: user, 2 SCHED: user + system); -EINVAL for no such process or thread."""
    which = id & 3
    if which == 3:
        return -EINVAL
    pid = (~(i64(i32(u32(id & 0xFFFF_FFFF))) >> 3)) & 0xFFFF_FFFF
    task.charge(t, False)
    u: u64 = 0
    s: u64 = 0
    if id & 4 != 0:
        x = t if pid == 0 else family.find_thread(u64(pid))
        if x == NULL:
            return -EINVAL
        u = x.utime_cycles
        s = x.stime_cycles
    else:
        p = t.process if pid == 0 else family.find(u64(pid))
        if p == NULL or p.state == PROC_ZOMBIE:
            return -EINVAL
        u = p.utime_cycles
        s = p.stime_cycles
    if which == 1:
        return i64(cputime.ns(u))
    return i64(cputime.ns(u + s))


def clock_ns_for(t: ptr[Task], id: u64) -> i64:
    """Nanoseconds on any clockid_t clock_gettime takes, or -EINVAL."""
    if id == CLOCK_PROCESS_CPUTIME_ID or id == CLOCK_THREAD_CPUTIME_ID:
        return cpu_clock_ns(t, id)
    if i32(u32(id & 0xFFFF_FFFF)) < 0:
        return pid_cpu_clock_ns(t, id)
    return now_ns(id)


def sys_clock_gettime(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ns = clock_ns_for(t, a.a0)
    if ns < 0:
        return ns
    ts: Timespec = Timespec()
    ts.tv_sec = ns // NSEC_PER_SEC
    ts.tv_nsec = ns % NSEC_PER_SEC
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


def sys_clock_settime(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """The sandbox cannot set the host's clocks: EPERM for CLOCK_REALTIME (a container without
    CAP_SYS_TIME), EINVAL for the clocks Linux never sets (monotonic, CPU time) and bad values."""
    if a.a0 != CLOCK_REALTIME:
        return -EINVAL
    ts: Timespec = Timespec()
    if copy_from_user(cast(ptr[u8], addr_of(ts)), a.a1, sizeof(Timespec)) != 0:
        return -EFAULT
    if ts.tv_sec < 0 or ts.tv_nsec < 0 or ts.tv_nsec >= NSEC_PER_SEC:
        return -EINVAL
    return -EPERM


def sys_settimeofday(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """EPERM, as clock_settime (the timezone alone too: Linux needs CAP_SYS_TIME for it)."""
    if a.a0 == 0 and a.a1 == 0:
        return 0
    return -EPERM


def sys_gettimeofday(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 != 0:
        ns = now_ns(CLOCK_REALTIME)
        tv: Timeval = Timeval()
        tv.tv_sec = ns // NSEC_PER_SEC
        tv.tv_usec = ns % NSEC_PER_SEC // NSEC_PER_USEC
        if copy_to_user(a.a0, cast(ptr[u8], addr_of(tv)), sizeof(Timeval)) != 0:
            return -EFAULT
    if a.a1 != 0:
        tz: Timezone = Timezone()
        if copy_to_user(a.a1, cast(ptr[u8], addr_of(tz)), sizeof(Timezone)) != 0:
            return -EFAULT
    return 0


def sys_time(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    secs = now_ns(CLOCK_REALTIME) // NSEC_PER_SEC
    if a.a0 != 0 and copy_to_user(a.a0, cast(ptr[u8], addr_of(secs)), 8) != 0:
        return -EFAULT
    return secs


def sys_clock_getres(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """1 ns for every clock Linux has (high-resolution timers), CPU clocks of processes and
    threads included."""
    if i32(u32(a.a0 & 0xFFFF_FFFF)) < 0:
        r = pid_cpu_clock_ns(t, a.a0)
        if r < 0:
            return r
    elif a.a0 > CLOCK_BOOTTIME and a.a0 != CLOCK_TAI:
        return -EINVAL
    if a.a1 == 0:
        return 0
    ts: Timespec = Timespec()
    ts.tv_nsec = 1
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


def sys_getrusage(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """User and system time of the process, the thread or the reaped children (cputime.py);
    the other fields zero."""
    who = a.a0 & 0xFFFF_FFFF           # an int: RUSAGE_CHILDREN is -1
    if who == 0xFFFF_FFFF:
        who = RUSAGE_CHILDREN
    if who != RUSAGE_SELF and who != RUSAGE_THREAD and who != RUSAGE_CHILDREN:
        return -EINVAL
    task.charge(t, False)
    ru: Rusage = Rusage()
    p = t.process
    if who == RUSAGE_SELF:
        put_tv(addr_of(ru.ru_utime), cputime.ns(p.utime_cycles))
        put_tv(addr_of(ru.ru_stime), cputime.ns(p.stime_cycles))
    elif who == RUSAGE_THREAD:
        put_tv(addr_of(ru.ru_utime), cputime.ns(t.utime_cycles))
        put_tv(addr_of(ru.ru_stime), cputime.ns(t.stime_cycles))
    else:
        put_tv(addr_of(ru.ru_utime), p.cutime_ns)
        put_tv(addr_of(ru.ru_stime), p.cstime_ns)
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ru)), sizeof(Rusage))


def sys_times(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """times(2): the process's and its reaped children's CPU times in clock ticks (CLK_TCK 100);
    returns CLOCK_MONOTONIC in ticks."""
    task.charge(t, False)
    p = t.process
    if a.a0 != 0:
        tms: Tms = Tms()
        tms.tms_utime = i64(cputime.ns(p.utime_cycles) // NSEC_PER_TICK)
        tms.tms_stime = i64(cputime.ns(p.stime_cycles) // NSEC_PER_TICK)
        tms.tms_cutime = i64(p.cutime_ns // NSEC_PER_TICK)
        tms.tms_cstime = i64(p.cstime_ns // NSEC_PER_TICK)
        if copy_to_user(a.a0, cast(ptr[u8], addr_of(tms)), sizeof(Tms)) != 0:
            return -EFAULT
    return i64(mono_ns() // NSEC_PER_TICK)


def _sleep(t: ptr[Task], clock: u64, flags: u64, req: u64, rem: u64) -> i64:
    ts: Timespec = Timespec()
    if copy_from_user(cast(ptr[u8], addr_of(ts)), req, sizeof(Timespec)) != 0:
        return -EFAULT
    if ts.tv_nsec < 0 or ts.tv_nsec >= NSEC_PER_SEC or ts.tv_sec < 0:
        return -EINVAL
    total = u64(ts.tv_sec) * NSEC_PER_SEC + u64(ts.tv_nsec)
    if flags & TIMER_ABSTIME != 0:
        now = now_ns(clock)
        if now < 0:
            return now
        total = total - u64(now) if total > u64(now) else 0
    if total == 0:
        return 0
    end = u64(now_ns(CLOCK_MONOTONIC)) + total
    while True:
        # parks t, not the vCPU, in steps of at most 10 ms so that a signal ends it (a host
        # sleep cannot be cut short yet)
        step = timers.next_step(t, total if total < timers.STEP_NS else timers.STEP_NS)
        hostio.sleep_ns(t, step)
        at = u64(now_ns(CLOCK_MONOTONIC))
        if at >= end:
            return 0
        total = end - at
        if signals.pending(t) and not sys_signal.stop_in_call(t):
            if rem != 0 and flags & TIMER_ABSTIME == 0:
                r: Timespec = Timespec()
                r.tv_sec = i64(total // NSEC_PER_SEC)
                r.tv_nsec = i64(total % NSEC_PER_SEC)
                if copy_to_user(rem, cast(ptr[u8], addr_of(r)), sizeof(Timespec)) != 0:
                    return -EFAULT
            return -EINTR      # a handler runs; a signal that is ignored was dropped at sending


def ns_of(tv: ptr[Timeval]) -> u64:
    return u64(tv.tv_sec) * NSEC_PER_SEC + u64(tv.tv_usec) * NSEC_PER_USEC


def put_tv(tv: ptr[Timeval], ns: u64) -> None:
    tv.tv_sec = i64(ns // NSEC_PER_SEC)
    tv.tv_usec = i64(ns % NSEC_PER_SEC // NSEC_PER_USEC)


def itimer_slots(t: ptr[Task], which: u64, deadline: ptr[ptr[u64]], interval: ptr[ptr[u64]]) -> u64:
    """Where timer `which` keeps its deadline and interval, and its clock's time now."""
    p = t.process
    if which == ITIMER_VIRTUAL:
        deadline[0] = addr_of(p.vtimer_deadline)
        interval[0] = addr_of(p.vtimer_interval)
        task.charge(t, False)
        return cputime.user_ns(p)
    if which == ITIMER_PROF:
        deadline[0] = addr_of(p.ptimer_deadline)
        interval[0] = addr_of(p.ptimer_interval)
        task.charge(t, False)
        return cputime.total_ns(p)
    deadline[0] = addr_of(p.itimer_deadline)
    interval[0] = addr_of(p.itimer_interval)
    return u64(now_ns(CLOCK_MONOTONIC))


def itimer_now(t: ptr[Task], which: u64, out: ptr[Itimerval]) -> None:
    """Timer `which` as getitimer reports it (the time left, the interval)."""
    dl: ptr[u64] = NULL
    iv: ptr[u64] = NULL
    at = itimer_slots(t, which, addr_of(dl), addr_of(iv))
    left: u64 = 0
    if dl[0] != 0:
        left = dl[0] - at if dl[0] > at else 1000
    put_tv(addr_of(out.it_value), left)
    put_tv(addr_of(out.it_interval), iv[0])


def sys_getitimer(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 > ITIMER_PROF:
        return -EINVAL
    v: Itimerval = Itimerval()
    itimer_now(t, a.a0, addr_of(v))
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(v)), sizeof(Itimerval))


def sys_setitimer(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """ITIMER_REAL (SIGALRM, on CLOCK_MONOTONIC), ITIMER_VIRTUAL (SIGVTALRM, on the process's
    user time) and ITIMER_PROF (SIGPROF, on its user + system time: cputime.py)."""
    if a.a0 > ITIMER_PROF:
        return -EINVAL
    v: Itimerval = Itimerval()
    if a.a1 != 0 and copy_from_user(cast(ptr[u8], addr_of(v)), a.a1, sizeof(Itimerval)) != 0:
        return -EFAULT
    for k in range(2):
        tv = addr_of(v.it_value) if k == 0 else addr_of(v.it_interval)
        if tv.tv_sec < 0 or tv.tv_usec < 0 or tv.tv_usec >= 1000000:
            return -EINVAL
    old: Itimerval = Itimerval()
    itimer_now(t, a.a0, addr_of(old))
    if a.a0 == ITIMER_REAL:
        arm(t, ns_of(addr_of(v.it_value)), ns_of(addr_of(v.it_interval)))
    else:
        dl: ptr[u64] = NULL
        iv: ptr[u64] = NULL
        at = itimer_slots(t, a.a0, addr_of(dl), addr_of(iv))
        value = ns_of(addr_of(v.it_value))
        iv[0] = ns_of(addr_of(v.it_interval))
        dl[0] = 0 if value == 0 else at + value
    if a.a2 != 0 and copy_to_user(a.a2, cast(ptr[u8], addr_of(old)), sizeof(Itimerval)) != 0:
        return -EFAULT
    return 0


def arm(t: ptr[Task], value: u64, interval: u64) -> None:
    p = t.process
    p.itimer_interval = interval
    p.itimer_deadline = 0 if value == 0 else u64(now_ns(CLOCK_MONOTONIC)) + value


def sys_alarm(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """alarm(seconds): the seconds left of the previous alarm (rounded, 1 for less than one)."""
    old: Itimerval = Itimerval()
    itimer_now(t, ITIMER_REAL, addr_of(old))
    secs = u64(old.it_value.tv_sec)
    if old.it_value.tv_usec >= 500000 or (secs == 0 and old.it_value.tv_usec > 0):
        secs += 1
    arm(t, (a.a0 & 0xFFFF_FFFF) * NSEC_PER_SEC, 0)
    return i64(secs)


def sys_nanosleep(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """A signal that runs a handler ends it with EINTR and the time left in `rem`."""
    return _sleep(t, CLOCK_MONOTONIC, 0, a.a0, a.a1)


def sys_clock_nanosleep(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    clock = a.a0
    if clock != CLOCK_REALTIME and clock != CLOCK_MONOTONIC and clock != CLOCK_BOOTTIME:
        return -EINVAL
    return _sleep(t, clock, a.a1, a.a2, a.a3)
