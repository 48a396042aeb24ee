"""eventfd: a 64-bit counter as a file (eventfd(2)), one file kind (EVENTFD_OPS).

A write of 8 bytes adds to the counter (2^64-1 is refused: EINVAL), blocking while the sum would
pass 2^64-2; a read of 8 bytes takes the whole counter (EFD_SEMAPHORE: takes 1), blocking
while it is 0. O_NONBLOCK ends either wait with -EAGAIN. poll: POLLIN while the counter is
above 0, POLLOUT while 1 more can be added.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, sizeof, struct, u8, u64
from qkernel.fs import anon, poll
from qkernel.fs.node import File, FileOps
from qkernel.linux.errno import EAGAIN, EFAULT, EINVAL, ERESTARTSYS
from qkernel.linux.fcntl import O_NONBLOCK
from qkernel.linux.uio import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from qkernel.mm import kalloc
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.task import sched, signals
from qkernel.task.task import Task, WaitQueue

COUNT_MAX: Final = 0xFFFF_FFFF_FFFF_FFFE


@struct
class EventFd:
    count: u64
    semaphore: bool
    readers: WaitQueue         # waiting for the counter to leave 0
    writers: WaitQueue         # waiting for room


pool: kalloc.Pool = kalloc.Pool()
ready: bool = False


def of(f: ptr[File]) -> ptr[EventFd]:
    return cast(ptr[EventFd], f.inode.priv)


def wait_on(t: ptr[Task], f: ptr[File], q: ptr[WaitQueue]) -> i64:
    """0 once woken, or why not to wait (-EAGAIN, -ERESTARTSYS)."""
    if f.flags & O_NONBLOCK != 0:
        return -EAGAIN
    if signals.pending(t):
        return -ERESTARTSYS
    sched.sleep_on(q, 0)
    return 0


def e_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    e = of(f)
    if n < 8:
        return -EINVAL
    if not range_ok(buf, 8, True):
        return -EFAULT
    while e.count == 0:
        r = wait_on(t, f, addr_of(e.readers))
        if r < 0:
            return r
    v: u64 = 1 if e.semaphore else e.count
    e.count -= v
    if copy_to_user(buf, cast(ptr[u8], addr_of(v)), 8) != 0:
        e.count += v
        return -EFAULT
    sched.wake_all(addr_of(e.writers))
    poll.notify_inode(f.inode, poll.TOWARD_OUT)
    return 8


def e_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    e = of(f)
    if n < 8:
        return -EINVAL
    v: u64 = 0
    if copy_from_user(cast(ptr[u8], addr_of(v)), buf, 8) != 0:
        return -EFAULT
    if v > COUNT_MAX:
        return -EINVAL
    while COUNT_MAX - e.count < v:
        r = wait_on(t, f, addr_of(e.writers))
        if r < 0:
            return r
    if v == 0:
        return 8
    e.count += v
    sched.wake_all(addr_of(e.readers))
    poll.notify_inode(f.inode, poll.TOWARD_IN)
    return 8


def e_poll(t: ptr[Task], f: ptr[File]) -> u64:
    e = of(f)
    ev: u64 = 0
    if e.count > 0:
        ev |= POLLIN | POLLRDNORM
    if e.count < COUNT_MAX:
        ev |= POLLOUT | POLLWRNORM
    return ev


def e_release(f: ptr[File]) -> None:
    kalloc.free(addr_of(pool), cast(ptr[None], of(f)))


EVENTFD_OPS: FileOps = FileOps(read=e_read, write=e_write, poll=e_poll, release=e_release)


def create(initval: u64, semaphore: bool, flags: u64) -> ptr[File]:
    """A new eventfd holding initval (flags: O_NONBLOCK); NULL when out of memory or files."""
    global ready
    if not ready:
        kalloc.init(addr_of(pool), sizeof(EventFd), 0, True)
        ready = True
    e = cast(ptr[EventFd], kalloc.alloc(addr_of(pool)))
    if e == NULL:
        return NULL
    e.count = initval
    e.semaphore = semaphore
    sched.wq_init(addr_of(e.readers))
    sched.wq_init(addr_of(e.writers))
    f = anon.new_anon(addr_of(EVENTFD_OPS), b"anon_inode:[eventfd]", u64(e), flags & O_NONBLOCK)
    if f == NULL:
        kalloc.free(addr_of(pool), cast(ptr[None], e))
    return f
