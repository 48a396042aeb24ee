"""Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres, nanosleep,
clock_nanosleep, getrusage.

Readings come from the kernel's TSC clock (qkernel/task/clock.py: the same formula as the vDSO's,
kept on the host's clocks), so a process that calls these and one that reads the vDSO see the
same time. Sleeping is a host timer on the asynchronous qcall ring: the task parks, the vCPU
runs others (qkernel/task/hostio.py).
"""

from __future__ import annotations

from qkernel.dialect import addr_of, cast, i64, ptr, sizeof, u8, u64
from qkernel.linux.errno import EFAULT, EINTR, EINVAL
from qkernel.linux.resource import RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD, Rusage
from qkernel.linux.time import (CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_TAI,
                                CLOCK_REALTIME_COARSE, NSEC_PER_SEC, NSEC_PER_USEC, TIMER_ABSTIME,
                                ITIMER_PROF, ITIMER_REAL, Itimerval, Timespec, Timeval, Timezone)
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls import sys_signal
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import hostio, signals, timers
from qkernel.task.clock import mono_ns, real_ns
from qkernel.task.task import Task


def now_ns(clock: u64) -> i64:
    """Nanoseconds on `clock`, or -EINVAL for clocks Linux does not have."""
    if clock == CLOCK_REALTIME or clock == CLOCK_REALTIME_COARSE or clock == CLOCK_TAI:
        return i64(real_ns())        # TAI: realtime plus the kernel's TAI offset, 0 until set (Linux's default)
    if clock <= CLOCK_BOOTTIME:  # monotonic family; CPU-time clocks approximate with it
        return i64(mono_ns())
    return -EINVAL


def sys_clock_gettime(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ns = now_ns(a.a0)
    if ns < 0:
        return ns
    ts: Timespec = Timespec()
    ts.tv_sec = ns // NSEC_PER_SEC
    ts.tv_nsec = ns % NSEC_PER_SEC
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


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
    """1 ns for every clock Linux has (high-resolution timers)."""
    if a.a0 > CLOCK_BOOTTIME and a.a0 != CLOCK_TAI:
        return -EINVAL
    if a.a1 == 0:
        return 0
    ts: Timespec = Timespec()
    ts.tv_nsec = 1
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


def sys_getrusage(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Partial: user time as the time since the process started; the rest zero."""
    who = a.a0
    if who != RUSAGE_SELF and who != RUSAGE_THREAD and who != RUSAGE_CHILDREN:
        return -EINVAL
    ru: Rusage = Rusage()
    if who != RUSAGE_CHILDREN:
        ns = u64(now_ns(CLOCK_MONOTONIC)) - t.process.start_ns
        ru.ru_utime.tv_sec = i64(ns // NSEC_PER_SEC)
        ru.ru_utime.tv_usec = i64(ns % NSEC_PER_SEC // NSEC_PER_USEC)
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(ru)), sizeof(Rusage))


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


def itimer_now(t: ptr[Task], out: ptr[Itimerval]) -> None:
    """ITIMER_REAL as getitimer reports it (the time left, the interval)."""
    p = t.process
    left: u64 = 0
    if p.itimer_deadline != 0:
        at = u64(now_ns(CLOCK_MONOTONIC))
        left = p.itimer_deadline - at if p.itimer_deadline > at else 1000
    put_tv(addr_of(out.it_value), left)
    put_tv(addr_of(out.it_interval), p.itimer_interval)


def sys_getitimer(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """ITIMER_REAL; the CPU-time timers read as disarmed."""
    if a.a0 > ITIMER_PROF:
        return -EINVAL
    v: Itimerval = Itimerval()
    if a.a0 == ITIMER_REAL:
        itimer_now(t, addr_of(v))
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(v)), sizeof(Itimerval))


def sys_setitimer(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """ITIMER_REAL (SIGALRM); ITIMER_VIRTUAL and ITIMER_PROF are accepted and never fire."""
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
    if a.a0 == ITIMER_REAL:
        itimer_now(t, addr_of(old))
        arm(t, ns_of(addr_of(v.it_value)), ns_of(addr_of(v.it_interval)))
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
    itimer_now(t, addr_of(old))
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
