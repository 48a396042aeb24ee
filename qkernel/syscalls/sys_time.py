"""Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres, nanosleep,
clock_nanosleep, getrusage.

Every reading is a qcall to the host's clock (a VM exit; a vDSO-style shared page is the planned
fast path). Sleeping is a host timer on the asynchronous qcall ring: the task parks, the vCPU
runs others (qkernel/task/hostio.py).
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import addr_of, cast, i64, ptr, sizeof, u8, u64
from qkernel.linux.errno import EFAULT, EINVAL
from qkernel.linux.resource import RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD, Rusage
from qkernel.linux.time import (CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME,
                                CLOCK_REALTIME_COARSE, NSEC_PER_SEC, NSEC_PER_USEC, TIMER_ABSTIME,
                                Timespec, Timeval, Timezone)
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import hostio
from qkernel.task.task import Task


def now_ns(clock: u64) -> i64:
    """Nanoseconds on `clock`, or -EINVAL for clocks Linux does not have."""
    if clock == CLOCK_REALTIME or clock == CLOCK_REALTIME_COARSE:
        return qcall.clock_ns(0)
    if clock <= CLOCK_BOOTTIME:  # monotonic family; CPU-time clocks approximate with it
        return qcall.clock_ns(1)
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
    if a.a0 > CLOCK_BOOTTIME:
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


def _sleep(t: ptr[Task], clock: u64, flags: u64, req: u64) -> i64:
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
    if total > 0:
        hostio.sleep_ns(t, total)  # parks t, not the vCPU
    return 0


def sys_nanosleep(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Partial: nothing can interrupt the sleep yet (no signals), so `rem` is never written."""
    return _sleep(t, CLOCK_MONOTONIC, 0, a.a0)


def sys_clock_nanosleep(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    clock = a.a0
    if clock != CLOCK_REALTIME and clock != CLOCK_MONOTONIC and clock != CLOCK_BOOTTIME:
        return -EINVAL
    return _sleep(t, clock, a.a1, a.a2)
