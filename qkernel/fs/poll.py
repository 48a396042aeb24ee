"""Waiting for files to become ready: the readiness of one File and the wait of poll/select.

A file kind's FileOps.poll gives the POLL* events ready now; kinds without one (regular files,
directories) are always ready for reading and writing (Linux's DEFAULT_POLLMASK). A task with
nothing ready parks: without a timeout on `pollers`, which every change of a pipe's state wakes
(notify); with one, in host sleeps of at most STEP_NS between looks (no in-kernel timer can end
a wait early yet, so a wakeup with a timeout may come up to STEP_NS late).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, i64, ptr, u64
from qkernel.fs.node import File
from qkernel.linux.uio import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from qkernel.task import hostio, sched, signals, timers
from qkernel.task.task import Task, WaitQueue

DEFAULT_MASK: Final = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
STEP_NS: Final = 10_000_000
FOREVER: Final = -1

pollers: WaitQueue = WaitQueue()


def notify() -> None:
    """A file's readiness may have changed: every waiting poller looks again."""
    if pollers.head != NULL:
        sched.wake_all(addr_of(pollers))


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
    if deadline == FOREVER:
        sched.sleep_on(addr_of(pollers), 0)
        return True
    left = deadline - now()
    if left <= 0:
        return False
    hostio.sleep_ns(t, u64(left) if left < STEP_NS else STEP_NS)
    return True


def remaining(deadline: i64) -> i64:
    """Nanoseconds left before the deadline (0 when passed)."""
    if deadline == FOREVER:
        return 0
    left = deadline - now()
    return left if left > 0 else 0
