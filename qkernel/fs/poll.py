"""Waiting for files to become ready: the readiness of one File and the wait of poll/select.

A file kind's FileOps.poll gives the POLL* events ready now; kinds without one (regular files,
directories) are always ready for reading and writing (Linux's DEFAULT_POLLMASK). A kind whose
readiness changes says so with `notify_inode` (which side moved: toward reading, writing or
both), which counts the change on the inode (edge-triggered epoll reports an item again when
its side's count moved) and wakes every poller to look again. A task with nothing ready parks:
without a timeout on `pollers`; with one, or while a timerfd is armed (`timer_hook` gives the
soonest expiry), in host sleeps of at most STEP_NS between looks (no in-kernel timer can end a
wait early yet, so a wakeup with a timeout may come up to STEP_NS late).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, fn, i64, ptr, u64
from qkernel.fs.node import File, Inode
from qkernel.linux.uio import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from qkernel.task import hostio, sched, signals, timers
from qkernel.task.task import Task, WaitQueue

DEFAULT_MASK: Final = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
STEP_NS: Final = 10_000_000
FOREVER: Final = -1

TOWARD_IN: Final = 1           # notify_inode: the reading side moved (data came, a writer went)
TOWARD_OUT: Final = 2          # the writing side moved (room was made, a reader went)
TOWARD_BOTH: Final = 3

pollers: WaitQueue = WaitQueue()
timer_hook: fn[[], i64] = NULL     # the soonest armed timerfd's CLOCK_MONOTONIC expiry (FOREVER: none)


def notify() -> None:
    """Readiness may have changed: every waiting poller looks again."""
    if pollers.head != NULL:
        sched.wake_all(addr_of(pollers))


def notify_inode(ino: ptr[Inode], toward: u64) -> None:
    """ino's readiness moved on the sides `toward` (TOWARD_*): counted, and pollers look again."""
    if toward & TOWARD_IN != 0:
        ino.wake_in += 1
    if toward & TOWARD_OUT != 0:
        ino.wake_out += 1
    notify()


def events(t: ptr[Task], f: ptr[File]) -> u64:
    if f.ops == NULL or f.ops.poll == NULL:
        return DEFAULT_MASK
    return f.ops.poll(t, f)


def now() -> i64:
    return i64(timers.now())


def deadline_after(ns: i64) -> i64:
    """The monotonic deadline ns from now (FOREVER for a negative ns)."""
    if ns < 0:
        return FOREVER
    return now() + ns


def wait(t: ptr[Task], deadline: i64) -> bool:
    """Parks t until something may have changed; False once the deadline has passed or a
    signal is pending (the caller returns -EINTR then: signals.pending)."""
    if signals.pending(t):
        return False
    soonest = deadline
    if timer_hook != NULL:
        tm = timer_hook()
        if tm != FOREVER and (soonest == FOREVER or tm < soonest):
            soonest = tm
    if soonest == FOREVER:
        sched.sleep_on(addr_of(pollers), 0)
        return True
    at = now()
    if deadline != FOREVER and deadline <= at:
        return False
    left = soonest - at
    if left > 0:
        hostio.sleep_ns(t, u64(left) if left < STEP_NS else STEP_NS)
    return True


def remaining(deadline: i64) -> i64:
    """Nanoseconds left before the deadline (0 when passed)."""
    if deadline == FOREVER:
        return 0
    left = deadline - now()
    return left if left > 0 else 0
