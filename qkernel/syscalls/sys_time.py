"""Clocks and sleeping: clock_gettime, gettimeofday, time, nanosleep, clock_nanosleep.

Every reading is a qcall to the host's clock (a VM exit; a vDSO-style shared page is the planned
fast path). Sleeping is a host sleep: the sandbox has one runnable task.
"""

from __future__ import annotations

from qkernel.abi import QCALL_CLOCK, QCALL_NANOSLEEP
from qkernel.dialect import Final, addr_of, array, i64, memset, u64
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.qcall import qcall
from qkernel.syscalls.errno import EFAULT, EINVAL

CLOCK_REALTIME: Final = 0
CLOCK_MONOTONIC: Final = 1
CLOCK_PROCESS_CPUTIME_ID: Final = 2
CLOCK_THREAD_CPUTIME_ID: Final = 3
CLOCK_MONOTONIC_RAW: Final = 4
CLOCK_REALTIME_COARSE: Final = 5
CLOCK_MONOTONIC_COARSE: Final = 6
CLOCK_BOOTTIME: Final = 7
TIMER_ABSTIME: Final = 1
NSEC: Final = 1000000000

ts: array[u64, 2] = array[u64, 2]()


def now_ns(clock: u64) -> i64:
    """Nanoseconds on `clock`, or -EINVAL for clocks Linux does not have."""
    if clock == CLOCK_REALTIME or clock == CLOCK_REALTIME_COARSE:
        return i64(qcall(QCALL_CLOCK, 0, 0, 0, 0))
    if clock <= CLOCK_BOOTTIME:  # monotonic family; CPU-time clocks approximate with it
        return i64(qcall(QCALL_CLOCK, 1, 0, 0, 0))
    return -EINVAL


def sys_clock_gettime(clock: u64, tp: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    t = now_ns(clock)
    if t < 0:
        return t
    ts[0] = u64(t) // NSEC
    ts[1] = u64(t) % NSEC
    return copy_to_user(tp, addr_of(ts[0]), 16)


def sys_gettimeofday(tv: u64, tz: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if tv != 0:
        t = u64(now_ns(CLOCK_REALTIME))
        ts[0] = t // NSEC
        ts[1] = t % NSEC // 1000
        if copy_to_user(tv, addr_of(ts[0]), 16) != 0:
            return -EFAULT
    if tz != 0:
        ts[0] = 0
        ts[1] = 0
        if copy_to_user(tz, addr_of(ts[0]), 8) != 0:
            return -EFAULT
    return 0


def sys_time(tloc: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    t = u64(now_ns(CLOCK_REALTIME)) // NSEC
    if tloc != 0:
        ts[0] = t
        if copy_to_user(tloc, addr_of(ts[0]), 8) != 0:
            return -EFAULT
    return i64(t)


def sys_clock_getres(clock: u64, res: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """1 ns for every clock Linux has (high-resolution timers)."""
    if clock > CLOCK_BOOTTIME:
        return -EINVAL
    if res == 0:
        return 0
    ts[0] = 0
    ts[1] = 1
    return copy_to_user(res, addr_of(ts[0]), 16)


usage: array[u64, 18] = array[u64, 18]()  # struct rusage (144 bytes)
RUSAGE_CHILDREN: Final = 0xFFFF_FFFF_FFFF_FFFF  # -1
RUSAGE_SELF: Final = 0
RUSAGE_THREAD: Final = 1


def sys_getrusage(who: u64, buf: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """User time as the time since the kernel started the program; the rest zero (partial)."""
    if who != RUSAGE_SELF and who != RUSAGE_THREAD and who != RUSAGE_CHILDREN:
        return -EINVAL
    memset(addr_of(usage[0]), 0, 144)
    if who != RUSAGE_CHILDREN:
        t = u64(now_ns(CLOCK_MONOTONIC)) - start_ns
        usage[0] = t // NSEC
        usage[1] = t % NSEC // 1000
    return copy_to_user(buf, addr_of(usage[0]), 144)


start_ns: u64 = 0


def _sleep(clock: u64, flags: u64, req: u64, rem: u64) -> i64:
    if copy_from_user(addr_of(ts[0]), req, 16) != 0:
        return -EFAULT
    sec = ts[0]
    nsec = ts[1]
    if nsec >= NSEC or i64(sec) < 0:
        return -EINVAL
    total = sec * NSEC + nsec
    if flags & TIMER_ABSTIME != 0:
        now = now_ns(clock)
        if now < 0:
            return now
        total = total - u64(now) if total > u64(now) else 0
    if total > 0:
        qcall(QCALL_NANOSLEEP, total, 0, 0, 0)
    return 0


def sys_nanosleep(req: u64, rem: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return _sleep(CLOCK_MONOTONIC, 0, req, rem)


def sys_clock_nanosleep(clock: u64, flags: u64, req: u64, rem: u64, a4: u64, a5: u64) -> i64:
    if clock != CLOCK_REALTIME and clock != CLOCK_MONOTONIC and clock != CLOCK_BOOTTIME:
        return -EINVAL
    return _sleep(clock, flags, req, rem)
