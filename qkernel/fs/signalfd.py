"""signalfd: pending signals read as records (signalfd(2)), one file kind (SIGNALFD_OPS).

The file holds a signal mask (its inode's priv); a read takes pending signals of that mask from
the reading thread (then from the other threads of its process, where a process-directed
signal waits here) as signalfd_siginfo records, as many as fit, blocking while none is pending.
Programs block those signals first, so a send does not wake the reader: signals.send_hook makes
every send wake the pollers, and a reader sleeps with them. poll: POLLIN while one is pending
for the polling thread's process. Partial: a signalfd passed to another process reads that
process's signals (Linux: the reader's, the same rule), and no ssi_utime/ssi_stime.
"""

from __future__ import annotations

from qkernel.dialect import NULL, addr_of, cast, i32, i64, memset, ptr, sizeof, u8, u32, u64
from qkernel.fs import anon, poll
from qkernel.fs.node import File, FileOps
from qkernel.linux.errno import EAGAIN, EFAULT, EINVAL, ERESTARTSYS
from qkernel.linux.events import SignalfdSiginfo
from qkernel.linux.fcntl import O_NONBLOCK
from qkernel.linux.signal import (SIGBUS, SIGCHLD, SIGFPE, SIGILL, SIGSEGV, SIGTRAP, SI_KERNEL,
                                  Siginfo)
from qkernel.linux.uio import POLLIN, POLLRDNORM
from qkernel.mm.uaccess import copy_to_user
from qkernel.task import sched, signals
from qkernel.task.signals import UNBLOCKABLE
from qkernel.task.task import Task


def mask_of(f: ptr[File]) -> u64:
    return f.inode.priv


def fill(out: ptr[SignalfdSiginfo], info: ptr[Siginfo]) -> None:
    """A siginfo as signalfd reports it (which union fields mean what depends on the signal)."""
    memset(cast(ptr[u8], out), 0, sizeof(SignalfdSiginfo))
    sig = u64(info.si_signo)
    code = info.si_code
    out.ssi_signo = u32(sig)
    out.ssi_code = code
    f0 = info.fields[0]
    f1 = info.fields[1]
    fault = sig == SIGSEGV or sig == SIGBUS or sig == SIGILL or sig == SIGFPE or sig == SIGTRAP
    if fault and code > 0 and code != SI_KERNEL:
        out.ssi_addr = f0
    elif code <= 0 or (sig == SIGCHLD and code != SI_KERNEL):
        out.ssi_pid = u32(f0 & 0xFFFF_FFFF)
        out.ssi_uid = u32(f0 >> 32)
        if sig == SIGCHLD and code > 0:
            out.ssi_status = i32(i64(f1))
        else:
            out.ssi_int = i32(i64(f1 & 0xFFFF_FFFF))
            out.ssi_ptr = f1


def s_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    rec: u64 = sizeof(SignalfdSiginfo)
    if n < rec:
        return -EINVAL
    done: u64 = 0
    info: Siginfo = Siginfo()
    out: SignalfdSiginfo = SignalfdSiginfo()
    while done + rec <= n:
        h = signals.holder(t, mask_of(f))
        if h == NULL:
            if done > 0:
                break
            if f.flags & O_NONBLOCK != 0:
                return -EAGAIN
            if signals.pending(t):
                return -ERESTARTSYS
            sched.sleep_on(addr_of(poll.pollers), 0)
            continue
        sig = signals.lowest(h.sigpending & mask_of(f))
        signals.take(h, sig, addr_of(info))
        fill(addr_of(out), addr_of(info))
        if copy_to_user(buf + done, cast(ptr[u8], addr_of(out)), rec) != 0:
            h.sigpending |= signals.bit(sig)       # not lost: still pending
            return i64(done) if done > 0 else -EFAULT
        done += rec
    return i64(done)


def s_poll(t: ptr[Task], f: ptr[File]) -> u64:
    if f.inode.priv2 != signals.sent:
        f.inode.priv2 = signals.sent          # a send since the last look: an edge for epoll
        f.inode.wake_in += 1
    return POLLIN | POLLRDNORM if signals.holder(t, mask_of(f)) != NULL else 0


SIGNALFD_OPS: FileOps = FileOps(read=s_read, poll=s_poll)


def is_signalfd(f: ptr[File]) -> bool:
    return anon.is_kind(f, addr_of(SIGNALFD_OPS))


def set_mask(f: ptr[File], mask: u64) -> None:
    f.inode.priv = mask & ~u64(UNBLOCKABLE)     # SIGKILL and SIGSTOP are never read
    poll.notify_inode(f.inode, poll.TOWARD_IN)


def create(mask: u64, flags: u64) -> ptr[File]:
    """A signalfd for mask (flags: O_NONBLOCK); NULL when out of memory or files."""
    signals.send_hook = poll.notify
    f = anon.new_anon(addr_of(SIGNALFD_OPS), b"anon_inode:[signalfd]", 0, flags & O_NONBLOCK)
    if f != NULL:
        set_mask(f, mask)
        f.inode.priv2 = signals.sent
    return f
