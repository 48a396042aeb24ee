"""The console: the sandbox's stdio on the host (qvisor's fds 0-2) as one file kind.

File.priv is the host descriptor (0, 1 or 2). Reads park the task on the qcall ring (the vCPU
keeps running others), writes and terminal ioctls are synchronous qcalls, fstat is the host's
fstat of that descriptor (a pipe, a tty or /dev/null shows as itself). Not seekable (-ESPIPE).
Data passes through the task's scratch buffer.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import NULL, addr_of, i64, ptr, sizeof, u64
from qkernel.fs.node import File, FileOps, new_file
from qkernel.linux.errno import EFAULT, ENOTTY
from qkernel.linux.fcntl import O_RDWR, O_WRONLY
from qkernel.linux.stat import Stat
from qkernel.linux.tty import TCGETS, TIOCGWINSZ, Termios, Winsize
from qkernel.linux.uio import POLLIN, POLLOUT
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.task import hostio
from qkernel.task.task import SCRATCH_SIZE, Task


def con_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if n > SCRATCH_SIZE:
        n = SCRATCH_SIZE  # a short read, as from a pipe
    if not range_ok(buf, n, True):  # checked first: a bad buffer must not consume input
        return -EFAULT
    r = hostio.console_read(t, f.priv, t.scratch, n)
    if r > 0 and copy_to_user(buf, t.scratch, u64(r)) != 0:
        return -EFAULT
    return r


def con_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    """Bytes written; -EFAULT only when nothing could be written."""
    done: u64 = 0
    while done < n:
        chunk: u64 = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        if copy_from_user(t.scratch, buf + done, chunk) != 0:
            return i64(done) if done > 0 else -EFAULT
        r = qcall.console_write(f.priv, t.scratch, chunk)
        if r < 0:
            return i64(done) if done > 0 else r
        done += u64(r)
        if u64(r) < chunk:
            break
    return i64(done)


def con_ioctl(t: ptr[Task], f: ptr[File], request: u64, arg: u64) -> i64:
    size: u64 = 0
    if request == TCGETS:
        size = sizeof(Termios)  # the kernel's struct termios (libcs convert to their own)
    elif request == TIOCGWINSZ:
        size = sizeof(Winsize)
    else:
        return -ENOTTY
    if not range_ok(arg, size, True):
        return -EFAULT
    r = qcall.tty_ioctl(f.priv, request, t.scratch)
    if r < 0:
        return r
    return copy_to_user(arg, t.scratch, size)


def con_poll(t: ptr[Task], f: ptr[File]) -> u64:
    return POLLOUT if f.priv != 0 else POLLIN | POLLOUT


def con_fstat(f: ptr[File], st: ptr[Stat]) -> i64:
    return qcall.stdio_fstat(f.priv, st)


def con_reopen(t: ptr[Task], f0: ptr[File], flags: u64) -> ptr[File]:
    """Another File on the same host stream (an open of /dev/stdin, /proc/self/fd/1, ...)."""
    f = new_file(f0.ops, NULL, flags)
    if f != NULL:
        f.priv = f0.priv
    return f


CONSOLE_OPS: FileOps = FileOps(read=con_read, write=con_write, ioctl=con_ioctl, poll=con_poll,
                               fstat=con_fstat, reopen=con_reopen)


def open_stdio(fd: u64) -> ptr[File]:
    """A File for host descriptor fd (0: read-write as a terminal is, 1 and 2: write-only)."""
    f = new_file(addr_of(CONSOLE_OPS), NULL, O_RDWR if fd == 0 else O_WRONLY)
    if f != NULL:
        f.priv = fd
    return f
