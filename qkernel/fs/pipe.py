"""Pipes: a 64 KiB ring (Linux's default capacity) between a read end and a write end, as
one file kind (PIPE_OPS). F_SETPIPE_SZ resizes the ring (a power-of-two number of pages from
one page to PIPE_MAX_PAGES, 1 MiB: pipe-max-size), its content moved to the new ring's start.
FIFOs (named pipes in memfs directories) are the same kind: their Pipe is made at the first
open (fifo_open, Linux's fifo_open rules) and goes when the last end closes; an O_RDWR end
counts as a reader and a writer.

Linux's pipe(7) semantics: a read of an empty pipe blocks (parks the task on the pipe's
queue; the vCPU runs others) until data comes or the last writer closes (then 0: end of file);
a write blocks while the pipe is full and is atomic up to PIPE_BUF (4096) bytes; with no reader
left it fails with -EPIPE (SIGPIPE arrives with signals). O_NONBLOCK ends either wait with
-EAGAIN. poll reports POLLIN (data), POLLOUT (room for PIPE_BUF), POLLHUP (no writer left),
POLLERR (no reader left). The ring's pages are taken on first write and freed with the pipe.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, memcpy, ptr, sizeof, struct, u8, u64
from qkernel.fs import poll as poll_wait
from qkernel.fs.node import File, FileOps, Inode, free_inode, fput, new_file, new_inode
from qkernel.linux.errno import (EAGAIN, EBADF, EBUSY, EFAULT, EINVAL, ENFILE, ENOMEM, ENOTTY, ENXIO, EPERM, EPIPE,
                                 ERESTARTSYS)
from qkernel.linux.signal import SI_USER, SIGPIPE
from qkernel.linux.fcntl import O_ACCMODE, O_NONBLOCK, O_RDONLY, O_WRONLY
from qkernel.linux.stat import S_IFIFO
from qkernel.linux.tty import FIONREAD
from qkernel.linux.uio import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from qkernel.mm import frames, kalloc
from qkernel.mm.addr import va
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.task import sched, signals
from qkernel.task.task import Task, WaitQueue

PIPE_PAGES: Final = 16
PIPE_SIZE: Final = PIPE_PAGES * PAGE_SIZE
PIPE_MAX_PAGES: Final = 256     # F_SETPIPE_SZ's ceiling: 1 MiB, Linux's default pipe-max-size
PIPE_BUF: Final = 4096
PIPE_DEV: Final = 0x0D          # st_dev of pipes (pipefs)


@struct
class Pipe:
    pages: array[u64, 256]     # frames of the ring (0: not yet taken)
    head: u64                  # bytes ever read
    count: u64                 # bytes in the ring
    readers: u64               # open read ends
    writers: u64
    rd_wq: WaitQueue           # readers waiting for data
    wr_wq: WaitQueue           # writers waiting for room
    ring: u64                  # the ring's size in bytes (its capacity): PIPE_SIZE until F_SETPIPE_SZ
    r_counter: u64             # FIFOs: read / write opens ever (a blocked open waits for a change)
    w_counter: u64


pipe_pool: kalloc.Pool = kalloc.Pool()
next_ino: u64 = 0
ready: bool = False


def init() -> None:
    global ready
    if not ready:
        kalloc.init(addr_of(pipe_pool), sizeof(Pipe), 0, True)
        ready = True


def of(f: ptr[File]) -> ptr[Pipe]:
    return cast(ptr[Pipe], f.inode.priv)


def at(pp: ptr[Pipe], pos: u64) -> ptr[u8]:
    """The byte of ring position pos (its page taken now if need be; NULL: no memory)."""
    off = pos % pp.ring
    k = off // PAGE_SIZE
    if pp.pages[k] == 0:
        pp.pages[k] = frames.alloc()
        if pp.pages[k] == 0:
            return NULL
    return cast(ptr[u8], va(pp.pages[k])) + off % PAGE_SIZE


def p_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    pp = of(f)
    if n == 0:
        return 0
    while pp.count == 0:
        if pp.writers == 0:
            return 0
        if f.flags & O_NONBLOCK != 0:
            return -EAGAIN
        if signals.pending(t):
            return -ERESTARTSYS
        sched.sleep_on(addr_of(pp.rd_wq), 0)
    done: u64 = 0
    while done < n and pp.count > 0:
        off = pp.head % PAGE_SIZE
        chunk = PAGE_SIZE - off
        if chunk > pp.count:
            chunk = pp.count
        if chunk > n - done:
            chunk = n - done
        if copy_to_user(buf + done, at(pp, pp.head), chunk) != 0:
            if done == 0:
                return -EFAULT
            break
        pp.head += chunk
        pp.count -= chunk
        done += chunk
    sched.wake_all(addr_of(pp.wr_wq))
    poll_wait.notify_inode(f.inode, poll_wait.TOWARD_OUT)
    return i64(done)


def p_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    pp = of(f)
    done: u64 = 0
    while done < n:
        if pp.readers == 0:
            if done > 0:
                return i64(done)
            signals.send(t, SIGPIPE, SI_USER, 0, 0)
            return -EPIPE
        room = pp.ring - pp.count
        need: u64 = 1
        if n - done <= PIPE_BUF:
            need = n - done            # atomic: all of it at once
        if room < need:
            if f.flags & O_NONBLOCK != 0:
                return i64(done) if done > 0 else -EAGAIN
            if signals.pending(t):
                return i64(done) if done > 0 else -ERESTARTSYS
            sched.sleep_on(addr_of(pp.wr_wq), 0)
            continue
        while done < n and pp.count < pp.ring:
            tail = pp.head + pp.count
            off = tail % PAGE_SIZE
            chunk = PAGE_SIZE - off
            if chunk > pp.ring - pp.count:
                chunk = pp.ring - pp.count
            if chunk > n - done:
                chunk = n - done
            dst = at(pp, tail)
            if dst == NULL:
                return i64(done) if done > 0 else -ENOMEM
            if copy_from_user(dst, buf + done, chunk) != 0:
                if done == 0:
                    return -EFAULT
                n = done
                break
            pp.count += chunk
            done += chunk
        sched.wake_all(addr_of(pp.rd_wq))
        poll_wait.notify_inode(f.inode, poll_wait.TOWARD_IN)
    return i64(done)


def reads(f: ptr[File]) -> bool:
    return f.flags & O_ACCMODE != O_WRONLY


def writes(f: ptr[File]) -> bool:
    return f.flags & O_ACCMODE != O_RDONLY


def p_poll(t: ptr[Task], f: ptr[File]) -> u64:
    pp = of(f)
    ev: u64 = 0
    if reads(f):
        if pp.count > 0:
            ev |= POLLIN | POLLRDNORM
        if pp.writers == 0 and (f.inode.mnt == NULL or f.priv2 != pp.w_counter):
            ev |= POLLHUP      # a FIFO reader that never saw a writer gets none (as Linux)
    if writes(f):
        if pp.ring - pp.count >= PIPE_BUF:
            ev |= POLLOUT | POLLWRNORM
        if pp.readers == 0:
            ev |= POLLERR
    return ev


def p_ioctl(t: ptr[Task], f: ptr[File], request: u64, arg: u64) -> i64:
    if request != FIONREAD:
        return -ENOTTY
    v: array[u8, 4] = array[u8, 4]()
    c = of(f).count
    for k in range(4):
        v[k] = u8(c >> (8 * k))
    return copy_to_user(arg, addr_of(v[0]), 4)


def p_release(f: ptr[File]) -> None:
    pp = of(f)
    if reads(f):
        pp.readers -= 1
    if writes(f):
        pp.writers -= 1
    sched.wake_all(addr_of(pp.rd_wq))
    sched.wake_all(addr_of(pp.wr_wq))
    poll_wait.notify_inode(f.inode, poll_wait.TOWARD_BOTH)
    if pp.readers == 0 and pp.writers == 0:
        for k in range(PIPE_MAX_PAGES):
            if pp.pages[k] != 0:
                frames.free(pp.pages[k])
        kalloc.free(addr_of(pipe_pool), cast(ptr[None], pp))
        if f.inode.mnt == NULL:
            f.inode.st.st_nlink = 0  # the inode goes with its last File
        else:
            f.inode.priv = 0         # a FIFO: its name stays, a new pipe at the next open


def create(flags: u64, ends: ptr[ptr[File]]) -> i64:
    """A new pipe: ends[0] the read end, ends[1] the write end (status flags from `flags`,
    O_NONBLOCK); 0 or -ENFILE / -ENOMEM."""
    global next_ino
    init()
    pp = cast(ptr[Pipe], kalloc.alloc(addr_of(pipe_pool)))
    if pp == NULL:
        return -ENOMEM
    sched.wq_init(addr_of(pp.rd_wq))
    sched.wq_init(addr_of(pp.wr_wq))
    pp.ring = PIPE_SIZE
    ino = new_inode(NULL, S_IFIFO | 0o600, NULL, addr_of(PIPE_OPS))
    if ino == NULL:
        kalloc.free(addr_of(pipe_pool), cast(ptr[None], pp))
        return -ENOMEM
    next_ino += 1
    ino.st.st_dev = PIPE_DEV
    ino.st.st_ino = next_ino
    ino.st.st_blksize = PAGE_SIZE
    ino.st.st_nlink = 0        # anonymous: freed with its last File
    ino.priv = u64(pp)
    r = new_file(addr_of(PIPE_OPS), ino, O_RDONLY | (flags & O_NONBLOCK))
    w = new_file(addr_of(PIPE_OPS), ino, O_WRONLY | (flags & O_NONBLOCK))
    if r == NULL or w == NULL:
        # no end works without the other: undo (release is skipped, the pipe freed here)
        if r != NULL:
            r.ops = NULL
            fput(r)
        if w != NULL:
            w.ops = NULL
            fput(w)
        if r == NULL and w == NULL:
            free_inode(ino)
        kalloc.free(addr_of(pipe_pool), cast(ptr[None], pp))
        return -ENFILE
    pp.readers = 1
    pp.writers = 1
    ends[0] = r
    ends[1] = w
    return 0


def capacity(f: ptr[File]) -> i64:
    """F_GETPIPE_SZ: the ring's size; -EBADF for a File that is not a pipe (Linux's answer)."""
    if f.ops != addr_of(PIPE_OPS):
        return -EBADF
    return i64(of(f).ring)


def set_capacity(f: ptr[File], size: u64) -> i64:
    """F_SETPIPE_SZ: the ring becomes `size` rounded up to a power-of-two number of pages (at
    least one page); the new size, or -EBADF (not a pipe), -EINVAL (past 2 GiB, as
    round_pipe_size), -EPERM (past pipe-max-size, 1 MiB: the most this ring can hold), -EBUSY
    (the content would not fit), -ENOMEM. The content moves to fresh frames at the ring's start."""
    if f.ops != addr_of(PIPE_OPS):
        return -EBADF
    if size > 0x8000_0000:
        return -EINVAL
    npages: u64 = 1
    while npages * PAGE_SIZE < size:
        npages *= 2
    if npages > PIPE_MAX_PAGES:
        return -EPERM
    pp = of(f)
    ring = npages * PAGE_SIZE
    if ring == pp.ring:
        return i64(ring)
    if pp.count > ring:
        return -EBUSY
    fresh: array[u64, 256] = array[u64, 256]()
    need = (pp.count + PAGE_SIZE - 1) // PAGE_SIZE
    for k in range(need):
        fresh[k] = frames.alloc()
        if fresh[k] == 0:
            for j in range(k):
                frames.free(fresh[j])
            return -ENOMEM
    moved: u64 = 0
    while moved < pp.count:
        src = pp.head + moved
        chunk = PAGE_SIZE - src % PAGE_SIZE
        if chunk > PAGE_SIZE - moved % PAGE_SIZE:
            chunk = PAGE_SIZE - moved % PAGE_SIZE
        if chunk > pp.count - moved:
            chunk = pp.count - moved
        memcpy(cast(ptr[u8], va(fresh[moved // PAGE_SIZE])) + moved % PAGE_SIZE, at(pp, src), chunk)
        moved += chunk
    for k in range(PIPE_MAX_PAGES):
        if pp.pages[k] != 0:
            frames.free(pp.pages[k])
        pp.pages[k] = fresh[k] if u64(k) < need else 0
    pp.head = 0
    pp.ring = ring
    sched.wake_all(addr_of(pp.wr_wq))
    poll_wait.notify_inode(f.inode, poll_wait.TOWARD_OUT)
    return i64(ring)


def add_end(pp: ptr[Pipe], f: ptr[File]) -> None:
    """f becomes a reader and/or a writer of pp (by its access mode): counted, and whoever waits
    on the pipe woken."""
    if reads(f):
        pp.readers += 1
        pp.r_counter += 1
    if writes(f):
        pp.writers += 1
        pp.w_counter += 1
    f.priv2 = pp.w_counter
    sched.wake_all(addr_of(pp.rd_wq))
    sched.wake_all(addr_of(pp.wr_wq))
    poll_wait.notify_inode(f.inode, poll_wait.TOWARD_BOTH)


def reopen(t: ptr[Task], f0: ptr[File], flags: u64) -> ptr[File]:
    """A new end of f0's pipe with `flags`' access mode (an open of /proc/PID/fd/N: for a pipe
    Linux's fifo_open never waits and never gives ENXIO); NULL when out of files."""
    f = new_file(addr_of(PIPE_OPS), f0.inode, flags & (O_ACCMODE | O_NONBLOCK))
    if f == NULL:
        return NULL
    add_end(of(f0), f)
    return f


PIPE_OPS: FileOps = FileOps(read=p_read, write=p_write, poll=p_poll, ioctl=p_ioctl,
                            release=p_release, reopen=reopen)


def fifo_open(t: ptr[Task], f: ptr[File]) -> i64:
    """InodeOps.open of a FIFO (f's access mode and O_NONBLOCK as opened): the pipe made if this
    is the first end; O_RDONLY waits for a writer unless O_NONBLOCK, O_WRONLY waits for a reader
    (-ENXIO with O_NONBLOCK and none), O_RDWR never waits. -ERESTARTSYS at a signal (the end
    given back), -ENOMEM."""
    init()
    i = f.inode
    pp = cast(ptr[Pipe], i.priv)
    if pp == NULL:
        pp = cast(ptr[Pipe], kalloc.alloc(addr_of(pipe_pool)))
        if pp == NULL:
            f.ops = NULL               # not an end: nothing to release
            return -ENOMEM
        sched.wq_init(addr_of(pp.rd_wq))
        sched.wq_init(addr_of(pp.wr_wq))
        pp.ring = PIPE_SIZE
        i.priv = u64(pp)
    if writes(f) and not reads(f) and pp.readers == 0 and f.flags & O_NONBLOCK != 0:
        if pp.writers == 0:
            kalloc.free(addr_of(pipe_pool), cast(ptr[None], pp))
            i.priv = 0
        f.ops = NULL
        return -ENXIO
    add_end(pp, f)
    if reads(f) and writes(f):
        return 0
    if reads(f) and f.flags & O_NONBLOCK == 0:
        seen = pp.w_counter
        while pp.writers == 0 and pp.w_counter == seen:
            if signals.pending(t):
                f.ops = NULL           # not released as an end: undone here
                return fifo_undo(i, pp, True)
            sched.sleep_on(addr_of(pp.rd_wq), 0)
        f.priv2 = seen                 # a writer came (and may have gone): POLLHUP from here on
    elif writes(f):
        seen = pp.r_counter
        while pp.readers == 0 and pp.r_counter == seen:
            if signals.pending(t):
                f.ops = NULL
                return fifo_undo(i, pp, False)
            sched.sleep_on(addr_of(pp.wr_wq), 0)
    return 0


def fifo_undo(i: ptr[Inode], pp: ptr[Pipe], reader: bool) -> i64:
    """A blocked FIFO open interrupted: its end is given back (the pipe freed if it was the
    only one); -ERESTARTSYS."""
    if reader:
        pp.readers -= 1
    else:
        pp.writers -= 1
    if pp.readers == 0 and pp.writers == 0:
        for k in range(PIPE_MAX_PAGES):
            if pp.pages[k] != 0:
                frames.free(pp.pages[k])
        kalloc.free(addr_of(pipe_pool), cast(ptr[None], pp))
        i.priv = 0
    return -ERESTARTSYS


# ---- splice and tee (qkernel/fs/xfer.py): the ring read without consuming, and its waits ----

def is_pipe(f: ptr[File]) -> bool:
    return f.ops == addr_of(PIPE_OPS)


def wait_data(t: ptr[Task], f: ptr[File], nonblock: bool) -> i64:
    """Until f's pipe holds data: 1, or 0 at end of file (no writer), -EAGAIN, -ERESTARTSYS."""
    pp = of(f)
    while pp.count == 0:
        if pp.writers == 0:
            return 0
        if nonblock:
            return -EAGAIN
        if signals.pending(t):
            return -ERESTARTSYS
        sched.sleep_on(addr_of(pp.rd_wq), 0)
    return 1


def wait_room(t: ptr[Task], f: ptr[File], nonblock: bool) -> i64:
    """Until f's pipe has room: the bytes free, or -EPIPE (no reader: SIGPIPE sent), -EAGAIN,
    -ERESTARTSYS."""
    pp = of(f)
    while True:
        if pp.readers == 0:
            signals.send(t, SIGPIPE, SI_USER, 0, 0)
            return -EPIPE
        if pp.count < pp.ring:
            return i64(pp.ring - pp.count)
        if nonblock:
            return -EAGAIN
        if signals.pending(t):
            return -ERESTARTSYS
        sched.sleep_on(addr_of(pp.wr_wq), 0)


def held(f: ptr[File]) -> u64:
    return of(f).count


def peek(f: ptr[File], dst: ptr[u8], n: u64, skip: u64) -> u64:
    """Up to n bytes of f's pipe from `skip` bytes past its front into kernel memory, left in
    the pipe."""
    pp = of(f)
    if skip >= pp.count:
        return 0
    if n > pp.count - skip:
        n = pp.count - skip
    done: u64 = 0
    while done < n:
        pos = pp.head + skip + done
        chunk = PAGE_SIZE - pos % PAGE_SIZE
        if chunk > n - done:
            chunk = n - done
        memcpy(dst + done, at(pp, pos), chunk)
        done += chunk
    return n


def consume(f: ptr[File], n: u64) -> None:
    """n bytes peeked from f's pipe have gone elsewhere: they leave it."""
    pp = of(f)
    pp.head += n
    pp.count -= n
    sched.wake_all(addr_of(pp.wr_wq))
    poll_wait.notify_inode(f.inode, poll_wait.TOWARD_OUT)
