"""Advisory file locks, as Linux's fs/locks.c: flock(2) locks and POSIX record locks (fcntl
F_GETLK/F_SETLK/F_SETLKW) with their open-file-description form (F_OFD_*).

Every lock is a FileLock on its inode's list (Inode.locks), kept in order of start: an owner,
a kind, a type (F_RDLCK or F_WRLCK) and an inclusive byte range ([0, LOFF_MAX] for flock).
Owners: a POSIX lock belongs to its Process (l_pid its pid) and goes when the process closes any
descriptor of the file (fdtable.close, dup2 over one) or exits; an OFD lock and a flock lock
belong to the open file description (File: dup'd descriptors and forked children share it) and
go with its last reference (node.lock_hook). flock locks never conflict with record locks;
POSIX and OFD locks conflict with each other's owners. Two locks conflict when their owners
differ, their ranges overlap and one of them is F_WRLCK.

A POSIX/OFD request replaces the owner's own locks on its range: same-type locks that overlap
or touch it merge into it, others are trimmed or split around it (F_UNLCK only cuts). A flock
conversion drops the old lock first (not atomic, as Linux). A blocking request (F_SETLKW, flock
without LOCK_NB) parks the task on `waiters` until some lock goes or shrinks, and ends with
-ERESTARTSYS at a signal (EINTR, or a restart under SA_RESTART). A POSIX F_SETLKW that would
close a cycle of processes each waiting for the next one's lock is -EDEADLK
(posix_locks_deadlock: the chain followed through `blocked`, at most MAX_DEADLK steps; OFD and
flock waits are not checked, as Linux). At most MAX_LOCKS locks exist (then -ENOLCK).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, ptr, sizeof, struct, u64
from qkernel.fs import node
from qkernel.fs.node import File, Inode
from qkernel.linux.errno import EAGAIN, EDEADLK, ENOLCK, ERESTARTSYS
from qkernel.linux.fcntl import F_UNLCK, F_WRLCK
from qkernel.mm import kalloc
from qkernel.task import sched, signals
from qkernel.task.task import Task, WaitQueue

LOFF_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF
MAX_LOCKS: Final = 16384       # locks in the sandbox at once (-ENOLCK beyond)

# FileLock.kind
FL_POSIX: Final = 1
FL_OFD: Final = 2
FL_FLOCK: Final = 3


@struct
class FileLock:
    next: ptr[FileLock]        # the inode's list, in order of start
    owner: u64                 # a Process (POSIX) or a File (OFD, flock)
    pid: u64                   # what F_GETLK reports as l_pid (an OFD lock: -1)
    kind: u64                  # FL_*
    type: u64                  # F_RDLCK or F_WRLCK
    start: u64
    end: u64                   # inclusive; LOFF_MAX: to the end of the file, whatever its size


@struct
class Blocked:
    """A POSIX F_SETLKW waiting: its owner (a Process) and the owner of the lock in its way."""
    owner: u64
    blocker: u64


MAX_BLOCKED: Final = 256       # waits remembered for deadlock detection (more wait unchecked)
MAX_DEADLK: Final = 10         # Linux's MAX_DEADLK_ITERATIONS

blocked: array[Blocked, 256] = array[Blocked, 256]()
lock_pool: kalloc.Pool = kalloc.Pool()
ready: bool = False
waiters: WaitQueue = WaitQueue()   # every blocked request, woken at each release (they look again)


def alloc_lock() -> ptr[FileLock]:
    global ready
    if not ready:
        kalloc.init(addr_of(lock_pool), sizeof(FileLock), MAX_LOCKS, True)
        node.lock_hook = release_file
        ready = True
    return cast(ptr[FileLock], kalloc.alloc(addr_of(lock_pool)))


def free_lock(fl: ptr[FileLock]) -> None:
    kalloc.free(addr_of(lock_pool), cast(ptr[None], fl))


def first(i: ptr[Inode]) -> ptr[FileLock]:
    return cast(ptr[FileLock], i.locks)


def insert(i: ptr[Inode], fl: ptr[FileLock]) -> None:
    """fl into i's list, in order of start."""
    prev: ptr[FileLock] = NULL
    cur = first(i)
    while cur != NULL and cur.start <= fl.start:
        prev = cur
        cur = cur.next
    fl.next = cur
    if prev == NULL:
        i.locks = u64(fl)
    else:
        prev.next = fl


def unlink(i: ptr[Inode], fl: ptr[FileLock]) -> None:
    prev: ptr[FileLock] = NULL
    cur = first(i)
    while cur != NULL and cur != fl:
        prev = cur
        cur = cur.next
    if cur == NULL:
        return
    if prev == NULL:
        i.locks = u64(cur.next)
    else:
        prev.next = cur.next


def is_flock(kind: u64) -> bool:
    return kind == FL_FLOCK


def conflicts(fl: ptr[FileLock], owner: u64, kind: u64, type: u64, start: u64, end: u64) -> bool:
    if fl.owner == owner or is_flock(fl.kind) != is_flock(kind):
        return False
    if fl.end < start or fl.start > end:
        return False
    return fl.type == F_WRLCK or type == F_WRLCK


def find_conflict(i: ptr[Inode], owner: u64, kind: u64, type: u64, start: u64, end: u64) -> ptr[FileLock]:
    """The first lock of i in the way of the request, or NULL (F_GETLK's answer)."""
    fl = first(i)
    while fl != NULL:
        if conflicts(fl, owner, kind, type, start, end):
            return fl
        fl = fl.next
    return NULL


def mine(fl: ptr[FileLock], owner: u64, kind: u64) -> bool:
    return fl.owner == owner and is_flock(fl.kind) == is_flock(kind)


def wait_turn(t: ptr[Task]) -> i64:
    """One park on `waiters`: 0 to look again, -ERESTARTSYS at a signal."""
    if signals.pending(t):
        return -ERESTARTSYS
    sched.sleep_on(addr_of(waiters), 0)
    if signals.pending(t):
        return -ERESTARTSYS
    return 0


def apply(i: ptr[Inode], owner: u64, pid: u64, kind: u64, type: u64, start: u64, end: u64) -> i64:
    """The owner's locks on [start, end] become `type` (F_UNLCK: none): merging, trimming and
    splitting as posix_lock_inode. 0 or -ENOLCK (then nothing changed)."""
    spare = alloc_lock()
    spare2 = alloc_lock()
    if spare == NULL or spare2 == NULL:
        if spare != NULL:
            free_lock(spare)
        if spare2 != NULL:
            free_lock(spare2)
        return -ENOLCK
    lo = start
    hi = end
    if type != F_UNLCK:
        # same-type locks overlapping or adjacent: merged into the request (repeat: it grows)
        changed = True
        while changed:
            changed = False
            fl = first(i)
            while fl != NULL:
                nxt = fl.next
                if mine(fl, owner, kind) and fl.type == type:
                    touches = not (fl.end < lo and lo - fl.end > 1) and not (fl.start > hi and fl.start - hi > 1)
                    if touches:
                        if fl.start < lo:
                            lo = fl.start
                        if fl.end > hi:
                            hi = fl.end
                        unlink(i, fl)
                        free_lock(fl)
                        changed = True
                fl = nxt
    fl = first(i)
    while fl != NULL:
        nxt = fl.next
        if mine(fl, owner, kind) and fl.end >= lo and fl.start <= hi:
            if fl.start < lo and fl.end > hi:
                spare2.owner = fl.owner
                spare2.pid = fl.pid
                spare2.kind = fl.kind
                spare2.type = fl.type
                spare2.start = hi + 1
                spare2.end = fl.end
                fl.end = lo - 1
                insert(i, spare2)
                spare2 = NULL
            elif fl.start < lo:
                fl.end = lo - 1
            elif fl.end > hi:
                unlink(i, fl)
                fl.start = hi + 1
                insert(i, fl)
            else:
                unlink(i, fl)
                free_lock(fl)
        fl = nxt
    if type != F_UNLCK:
        spare.owner = owner
        spare.pid = pid
        spare.kind = kind
        spare.type = type
        spare.start = lo
        spare.end = hi
        insert(i, spare)
        spare = NULL
    if spare != NULL:
        free_lock(spare)
    if spare2 != NULL:
        free_lock(spare2)
    sched.wake_all(addr_of(waiters))
    return 0


def deadlock(owner: u64, blocker: u64) -> bool:
    """Would `owner` waiting for `blocker` close a cycle of waiting POSIX owners?"""
    cur = blocker
    for step in range(MAX_DEADLK):
        if cur == owner:
            return True
        nxt: u64 = 0
        for k in range(MAX_BLOCKED):
            if blocked[k].owner == cur and cur != 0:
                nxt = blocked[k].blocker
                break
        if nxt == 0:
            return False
        cur = nxt
    return False


def set_lock(t: ptr[Task], i: ptr[Inode], owner: u64, pid: u64, kind: u64, type: u64, start: u64,
             end: u64, wait: bool) -> i64:
    """F_SETLK/F_SETLKW and the OFD forms: 0, -EAGAIN (a conflict, not waiting), -EDEADLK,
    -ERESTARTSYS, -ENOLCK."""
    if type != F_UNLCK:
        while True:
            c = find_conflict(i, owner, kind, type, start, end)
            if c == NULL:
                break
            if not wait:
                return -EAGAIN
            slot: i64 = -1
            if kind == FL_POSIX and c.kind == FL_POSIX:
                if deadlock(owner, c.owner):
                    return -EDEADLK
                for k in range(MAX_BLOCKED):
                    if blocked[k].owner == 0:
                        blocked[k].owner = owner
                        blocked[k].blocker = c.owner
                        slot = k
                        break
            r = wait_turn(t)
            if slot >= 0:
                blocked[slot].owner = 0
                blocked[slot].blocker = 0
            if r < 0:
                return r
    return apply(i, owner, pid, kind, type, start, end)


def flock(t: ptr[Task], f: ptr[File], type: u64, wait: bool) -> i64:
    """flock(2) on f's description: F_RDLCK (LOCK_SH), F_WRLCK (LOCK_EX) or F_UNLCK."""
    i = f.inode
    owner = u64(f)
    fl = first(i)
    while fl != NULL:
        if fl.owner == owner and fl.kind == FL_FLOCK:
            break
        fl = fl.next
    if fl != NULL:
        if fl.type == type:
            return 0
        unlink(i, fl)                  # a conversion starts by dropping the old lock
        free_lock(fl)
        sched.wake_all(addr_of(waiters))
    if type == F_UNLCK:
        return 0
    return set_lock(t, i, owner, 0, FL_FLOCK, type, 0, LOFF_MAX, wait)


def drop_owned(i: ptr[Inode], owner: u64, posix: bool) -> None:
    """Every lock of `owner` on i: its POSIX locks (posix) or its OFD and flock locks."""
    fl = first(i)
    gone = False
    while fl != NULL:
        nxt = fl.next
        if fl.owner == owner and (fl.kind == FL_POSIX) == posix:
            unlink(i, fl)
            free_lock(fl)
            gone = True
        fl = nxt
    if gone:
        sched.wake_all(addr_of(waiters))


def posix_close(owner: u64, i: ptr[Inode]) -> None:
    """A process closed a descriptor of i: its record locks on i go (POSIX's rule)."""
    if i != NULL and i.locks != 0:
        drop_owned(i, owner, True)


def release_file(f: ptr[File]) -> None:
    """node.lock_hook: the description's last reference went: its OFD and flock locks go."""
    drop_owned(f.inode, u64(f), False)
