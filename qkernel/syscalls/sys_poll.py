"""Waiting on descriptors: poll, ppoll, select, pselect6 (qkernel/fs/poll.py does the wait).

Linux's rules: poll reports POLLNVAL for a descriptor that is not open and ignores negative
ones; select fails with -EBADF for a descriptor in a set that is not open; both return the
number of ready descriptors, 0 on timeout. ppoll, select and pselect6 write the time left
back (as Linux does). The signal masks of ppoll and pselect6 hold for the wait (and for the
handler of the signal that ended it). select takes at most SELECT_MAX descriptors.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i16, i32, i64, memset, ptr, sizeof, u8, u64
from qkernel.fs import fdtable, poll
from qkernel.linux.errno import EBADF, EFAULT, EINTR, EINVAL, ERESTARTNOHAND
from qkernel.linux.time import NSEC_PER_SEC, NSEC_PER_USEC, Timespec, Timeval
from qkernel.linux.uio import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, Pollfd
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import signals
from qkernel.task.task import Task

CHUNK: Final = 64                  # pollfds copied in at a time (on the kernel stack)
SELECT_MAX: Final = 65536          # fds select takes (scratch holds six sets of 8 KiB)
SET_BYTES: Final = 8192
IN_SET: Final = POLLIN | POLLHUP | POLLERR
OUT_SET: Final = POLLOUT | POLLERR


# ---- poll -----------------------------------------------------------------------------------

def scan_poll(t: ptr[Task], ufds: u64, nfds: u64) -> i64:
    """One look at every pollfd, revents written back: how many are ready, or -EFAULT."""
    chunk: array[Pollfd, 64] = array[Pollfd, 64]()
    ready: i64 = 0
    done: u64 = 0
    while done < nfds:
        k = nfds - done
        if k > CHUNK:
            k = CHUNK
        at = ufds + done * sizeof(Pollfd)
        if copy_from_user(cast(ptr[u8], addr_of(chunk[0])), at, k * sizeof(Pollfd)) != 0:
            return -EFAULT
        for j in range(k):
            pf = addr_of(chunk[j])
            rev: u64 = 0
            if pf.fd >= 0:
                f = fdtable.get(t.process, u64(i64(pf.fd)))
                if f == NULL:
                    rev = POLLNVAL
                else:
                    want = u64(i64(pf.events)) & 0xFFFF
                    rev = poll.events(t, f) & (want | POLLERR | POLLHUP)
            pf.revents = i16(i64(rev))
            if rev != 0:
                ready += 1
        if copy_to_user(at, cast(ptr[u8], addr_of(chunk[0])), k * sizeof(Pollfd)) != 0:
            return -EFAULT
        done += k
    return ready


def do_poll(t: ptr[Task], ufds: u64, nfds: u64, deadline: i64) -> i64:
    if nfds > fdtable.limit(t.process):
        return -EINVAL
    while True:
        r = scan_poll(t, ufds, nfds)
        if r != 0:
            return r
        if not poll.wait(t, deadline):
            return -ERESTARTNOHAND if signals.pending(t) else 0


def sys_poll(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ms = i64(i32(a.a2))
    deadline = poll.deadline_after(ms * 1000000 if ms >= 0 else -1)
    if ms == 0:
        deadline = 0
    return do_poll(t, a.a0, a.a1, deadline)


def read_timespec(user: u64, out: ptr[i64]) -> i64:
    """A user timespec as nanoseconds in out[0] (-1: NULL, forever); 0 or -EFAULT/-EINVAL."""
    if user == 0:
        out[0] = -1
        return 0
    ts: Timespec = Timespec()
    if copy_from_user(cast(ptr[u8], addr_of(ts)), user, sizeof(Timespec)) != 0:
        return -EFAULT
    if ts.tv_sec < 0 or ts.tv_nsec < 0 or ts.tv_nsec >= NSEC_PER_SEC:
        return -EINVAL
    out[0] = ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec
    return 0


def write_timespec(user: u64, deadline: i64) -> None:
    if user == 0 or deadline == poll.FOREVER:
        return
    left = poll.remaining(deadline) if deadline != 0 else 0
    ts: Timespec = Timespec()
    ts.tv_sec = left // NSEC_PER_SEC
    ts.tv_nsec = left % NSEC_PER_SEC
    copy_to_user(user, cast(ptr[u8], addr_of(ts)), sizeof(Timespec))


def deadline_of(ns: i64) -> i64:
    if ns == 0:
        return 0               # a look, no wait
    return poll.deadline_after(ns)


def read_sigmask(user: u64, size: u64, out: ptr[u64]) -> i64:
    """A wait's signal mask: 1 with out[0] set, 0 when none is given, or -EINVAL / -EFAULT."""
    if user == 0:
        return 0
    if size != 8:
        return -EINVAL
    if copy_from_user(cast(ptr[u8], out), user, 8) != 0:
        return -EFAULT
    return 1


def masked_wait_done(t: ptr[Task], masked: i64, r: i64) -> None:
    if masked == 1:
        signals.wait_mask_done(t, r == -ERESTARTNOHAND or r == -EINTR)


def sys_ppoll(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ns: i64 = 0
    r = read_timespec(a.a2, addr_of(ns))
    if r < 0:
        return r
    mask: u64 = 0
    masked = read_sigmask(a.a3, a.a4, addr_of(mask))
    if masked < 0:
        return masked
    deadline = deadline_of(ns)
    if masked == 1:
        signals.wait_mask(t, mask)
    r = do_poll(t, a.a0, a.a1, deadline)
    masked_wait_done(t, masked, r)
    write_timespec(a.a2, deadline)
    return r


# ---- select ---------------------------------------------------------------------------------

def set_bit(s: ptr[u8], fd: u64) -> bool:
    return s[fd >> 3] & u8(1 << (fd & 7)) != 0


def scan_select(t: ptr[Task], nfds: u64, ins: ptr[u8], outs: ptr[u8], present: ptr[bool]) -> i64:
    """One look at the sets (ins: read, write, except; outs: the results): how many bits are
    set in the results, or -EBADF."""
    nbytes = (nfds + 7) // 8
    for s in range(3):
        memset(outs + s * SET_BYTES, 0, nbytes)
    ready: i64 = 0
    for fd in range(nfds):
        r = present[0] and set_bit(ins, fd)
        w = present[1] and set_bit(ins + SET_BYTES, fd)
        e = present[2] and set_bit(ins + 2 * SET_BYTES, fd)
        if not (r or w or e):
            continue
        f = fdtable.get(t.process, fd)
        if f == NULL:
            return -EBADF
        ev = poll.events(t, f)
        bit = u8(1 << (fd & 7))
        if r and ev & IN_SET != 0:
            outs[fd >> 3] |= bit
            ready += 1
        if w and ev & OUT_SET != 0:
            outs[SET_BYTES + (fd >> 3)] |= bit
            ready += 1
        if e and ev & POLLPRI != 0:
            outs[2 * SET_BYTES + (fd >> 3)] |= bit
            ready += 1
    return ready


def do_select(t: ptr[Task], nfds: u64, sets: ptr[u64], deadline: i64) -> i64:
    """select over the user sets sets[0..2] (0: none); they are rewritten with the result."""
    if i64(i32(nfds)) < 0:
        return -EINVAL
    lim = fdtable.limit(t.process)
    if nfds > lim:
        nfds = lim
    if nfds > SELECT_MAX:
        return -EINVAL
    nbytes = (nfds + 63) // 64 * 8
    ins = t.scratch
    outs = t.scratch + 3 * SET_BYTES
    present: array[bool, 3] = array[bool, 3]()
    for k in range(3):
        present[k] = sets[k] != 0
        if present[k] and copy_from_user(ins + k * SET_BYTES, sets[k], nbytes) != 0:
            return -EFAULT
    r: i64 = 0
    while True:
        r = scan_select(t, nfds, ins, outs, addr_of(present[0]))
        if r != 0:
            break
        if not poll.wait(t, deadline):
            if signals.pending(t):
                r = -ERESTARTNOHAND
            break
    if r < 0:
        return r
    for k in range(3):
        if present[k] and copy_to_user(sets[k], outs + k * SET_BYTES, nbytes) != 0:
            return -EFAULT
    return r


def sys_select(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    deadline: i64 = poll.FOREVER
    if a.a4 != 0:
        tv: Timeval = Timeval()
        if copy_from_user(cast(ptr[u8], addr_of(tv)), a.a4, sizeof(Timeval)) != 0:
            return -EFAULT
        if tv.tv_sec < 0 or tv.tv_usec < 0 or tv.tv_usec >= 1000000:
            return -EINVAL
        deadline = deadline_of(tv.tv_sec * NSEC_PER_SEC + tv.tv_usec * NSEC_PER_USEC)
    sets: array[u64, 3] = array[u64, 3]()
    sets[0] = a.a1
    sets[1] = a.a2
    sets[2] = a.a3
    r = do_select(t, a.a0, addr_of(sets[0]), deadline)
    if a.a4 != 0 and deadline != poll.FOREVER:
        left = poll.remaining(deadline) if deadline != 0 else 0
        tv2: Timeval = Timeval()
        tv2.tv_sec = left // NSEC_PER_SEC
        tv2.tv_usec = left % NSEC_PER_SEC // NSEC_PER_USEC
        copy_to_user(a.a4, cast(ptr[u8], addr_of(tv2)), sizeof(Timeval))
    return r


def sys_pselect6(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ns: i64 = 0
    r = read_timespec(a.a4, addr_of(ns))
    if r < 0:
        return r
    mask: u64 = 0
    masked: i64 = 0
    if a.a5 != 0:        # { const sigset_t *ss; size_t ss_len; }
        ms: array[u64, 2] = array[u64, 2]()
        if copy_from_user(cast(ptr[u8], addr_of(ms[0])), a.a5, 16) != 0:
            return -EFAULT
        masked = read_sigmask(ms[0], ms[1], addr_of(mask))
        if masked < 0:
            return masked
    deadline = deadline_of(ns)
    sets: array[u64, 3] = array[u64, 3]()
    sets[0] = a.a1
    sets[1] = a.a2
    sets[2] = a.a3
    if masked == 1:
        signals.wait_mask(t, mask)
    r = do_select(t, a.a0, addr_of(sets[0]), deadline)
    masked_wait_done(t, masked, r)
    write_timespec(a.a4, deadline)
    return r
