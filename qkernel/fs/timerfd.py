"""timerfd: a timer as a file (timerfd_create(2)), one file kind (TIMERFD_OPS).

Each timer counts on its clock (CLOCK_REALTIME, MONOTONIC, BOOTTIME and their _ALARM forms):
`deadline` is its next expiry in that clock's nanoseconds (0: disarmed) and `interval` its
period. Expirations are counted when looked at (`update`: a read, a poll, gettime), never
early; a read of 8 bytes takes the count, blocking while it is 0. The armed timers are listed
so that a poll or epoll wait with nothing else to wake it naps only until the soonest one
(poll.timer_hook). Partial: TFD_TIMER_CANCEL_ON_SET is accepted and never cancels (the
sandbox's clock is never set).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, sizeof, struct, u8, u64
from qkernel.fs import anon, poll
from qkernel.fs.node import File, FileOps, Inode
from qkernel.linux.errno import EAGAIN, EFAULT, EINVAL, ERESTARTSYS
from qkernel.linux.fcntl import O_NONBLOCK
from qkernel.linux.time import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC,
                                CLOCK_REALTIME, CLOCK_REALTIME_ALARM, NSEC_PER_SEC, Itimerspec,
                                Timespec)
from qkernel.linux.uio import POLLIN, POLLRDNORM
from qkernel.mm import kalloc
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.task import hostio, sched, signals
from qkernel.task.clock import mono_ns, real_ns
from qkernel.task.task import Task

STEP_NS: Final = 10_000_000    # a blocking read looks again at least this often (signals, settime)


@struct
class TimerFd:
    clock: u64
    deadline: u64              # next expiry on `clock` (ns; 0: disarmed)
    interval: u64
    ticks: u64                 # expirations not yet read
    next: ptr[TimerFd]         # every timerfd (the armed ones give poll its soonest expiry)
    prev: ptr[TimerFd]
    inode: ptr[Inode]          # its File's inode (counts the readiness changes)


pool: kalloc.Pool = kalloc.Pool()
timers: ptr[TimerFd] = NULL
armed: u64 = 0
ready: bool = False


def valid_clock(clock: u64) -> bool:
    return clock == CLOCK_REALTIME or clock == CLOCK_MONOTONIC or clock == CLOCK_BOOTTIME or \
        clock == CLOCK_REALTIME_ALARM or clock == CLOCK_BOOTTIME_ALARM


def clock_now(clock: u64) -> u64:
    if clock == CLOCK_REALTIME or clock == CLOCK_REALTIME_ALARM:
        return real_ns()
    return mono_ns()


def of(f: ptr[File]) -> ptr[TimerFd]:
    return cast(ptr[TimerFd], f.inode.priv)


def disarm(tf: ptr[TimerFd]) -> None:
    global armed
    if tf.deadline != 0:
        tf.deadline = 0
        armed -= 1


def update(tf: ptr[TimerFd]) -> None:
    """Counts the expirations that passed (an interval timer moves on; a one-shot disarms)."""
    if tf.deadline == 0:
        return
    at = clock_now(tf.clock)
    if at < tf.deadline:
        return
    if tf.interval == 0:
        tf.ticks += 1
        disarm(tf)
    else:
        k = (at - tf.deadline) // tf.interval + 1
        tf.ticks += k
        tf.deadline += k * tf.interval
    poll.notify_inode(tf.inode, poll.TOWARD_IN)


def soonest() -> i64:
    """poll.timer_hook: the CLOCK_MONOTONIC time of the next expiry (poll.FOREVER: none)."""
    if armed == 0:
        return poll.FOREVER
    mono = clock_now(CLOCK_MONOTONIC)
    best: i64 = poll.FOREVER
    tf = timers
    while tf != NULL:
        update(tf)            # a passed expiry is counted (and moves the deadline on)
        if tf.deadline != 0:
            at = clock_now(tf.clock) if tf.clock != CLOCK_MONOTONIC and tf.clock != CLOCK_BOOTTIME else mono
            d = i64(mono) + (i64(tf.deadline) - i64(at))
            if best == poll.FOREVER or d < best:
                best = d
        tf = tf.next
    return best


def left_of(tf: ptr[TimerFd]) -> u64:
    """Nanoseconds to the next expiry (0: disarmed)."""
    if tf.deadline == 0:
        return 0
    at = clock_now(tf.clock)
    return tf.deadline - at if tf.deadline > at else 1


def t_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    tf = of(f)
    if n < 8:
        return -EINVAL
    if not range_ok(buf, 8, True):
        return -EFAULT
    while True:
        update(tf)
        if tf.ticks > 0:
            break
        if f.flags & O_NONBLOCK != 0:
            return -EAGAIN
        if signals.pending(t):
            return -ERESTARTSYS
        if tf.deadline == 0:
            sched.sleep_on(addr_of(poll.pollers), 0)    # until a settime (it notifies)
        else:
            left = left_of(tf)
            hostio.sleep_ns(t, left if left < STEP_NS else STEP_NS)
    v = tf.ticks
    tf.ticks = 0
    if copy_to_user(buf, cast(ptr[u8], addr_of(v)), 8) != 0:
        tf.ticks = v
        return -EFAULT
    return 8


def t_poll(t: ptr[Task], f: ptr[File]) -> u64:
    tf = of(f)
    update(tf)
    return POLLIN | POLLRDNORM if tf.ticks > 0 else 0


def t_release(f: ptr[File]) -> None:
    global timers
    tf = of(f)
    disarm(tf)
    if tf.prev != NULL:
        tf.prev.next = tf.next
    else:
        timers = tf.next
    if tf.next != NULL:
        tf.next.prev = tf.prev
    kalloc.free(addr_of(pool), cast(ptr[None], tf))


TIMERFD_OPS: FileOps = FileOps(read=t_read, poll=t_poll, release=t_release)


def create(clock: u64, flags: u64) -> ptr[File]:
    """A disarmed timerfd on `clock` (checked by the caller); NULL when out of memory or files."""
    global ready, timers
    if not ready:
        kalloc.init(addr_of(pool), sizeof(TimerFd), 0, True)
        poll.timer_hook = soonest
        ready = True
    tf = cast(ptr[TimerFd], kalloc.alloc(addr_of(pool)))
    if tf == NULL:
        return NULL
    tf.clock = clock
    f = anon.new_anon(addr_of(TIMERFD_OPS), b"anon_inode:[timerfd]", u64(tf), flags & O_NONBLOCK)
    if f == NULL:
        kalloc.free(addr_of(pool), cast(ptr[None], tf))
        return NULL
    tf.inode = f.inode
    tf.next = timers
    if timers != NULL:
        timers.prev = tf
    timers = tf
    return f


def ns_of(ts: ptr[Timespec]) -> i64:
    """A timespec as nanoseconds, -1 when out of range (EINVAL)."""
    if ts.tv_sec < 0 or ts.tv_nsec < 0 or ts.tv_nsec >= NSEC_PER_SEC:
        return -1
    return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec


def put_ts(ts: ptr[Timespec], ns: u64) -> None:
    ts.tv_sec = i64(ns // NSEC_PER_SEC)
    ts.tv_nsec = i64(ns % NSEC_PER_SEC)


def gettime(f: ptr[File], out: ptr[Itimerspec]) -> None:
    tf = of(f)
    update(tf)
    put_ts(addr_of(out.it_value), left_of(tf))
    put_ts(addr_of(out.it_interval), tf.interval)


def settime(f: ptr[File], absolute: bool, new: ptr[Itimerspec], old: ptr[Itimerspec]) -> i64:
    """Arms (or with a zero value disarms) the timer; the previous setting in old; 0 or -EINVAL."""
    global armed
    value = ns_of(addr_of(new.it_value))
    interval = ns_of(addr_of(new.it_interval))
    if value < 0 or interval < 0:
        return -EINVAL
    tf = of(f)
    gettime(f, old)
    disarm(tf)
    tf.ticks = 0
    tf.interval = u64(interval)
    if value != 0:
        tf.deadline = u64(value) if absolute else clock_now(tf.clock) + u64(value)
        if tf.deadline == 0:
            tf.deadline = 1
        armed += 1
    poll.notify_inode(f.inode, poll.TOWARD_IN)
    return 0
