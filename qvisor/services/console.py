"""The sandbox's console: its stdin, stdout and stderr on the host.

Console: QCALL_CONSOLE_WRITE (fd 1|2), QCALL_CONSOLE_READ (fd 0; blocking-capable),
QCALL_STDIO_FSTAT (the host's fstat of fd 0..2), QCALL_TTY_IOCTL (TCGETS, TIOCGWINSZ).

`stdin` None means the sandbox was given no console input (QcallServer without HostFiles, as
before services existed): CONSOLE_READ and TTY_IOCTL answer -ENOSYS and STDIO_FSTAT describes
host fd 0. `closed` names the guest's stdio descriptors (of 0, 1, 2) that were closed when
qvisor started: every call on one answers -EBADF, as Linux does for a closed descriptor (qvisor
keeps those host numbers taken by /dev/null, qvisor/cli.py, so they are not its own files).
TCGETS copies the 36-byte Linux `struct termios` that ioctl(TCGETS) fills, not glibc's 60-byte
one; TIOCGWINSZ 8 bytes. CONSOLE_READ is one read(2): on the vCPU thread it blocks the vCPU
until input or EOF; from the ring (a host thread) it reads into a bounce buffer of at most
RING_READ_MAX bytes (a short read, as a pipe gives) and copies that in. On both paths it first
waits for input through the server's Wakeup (base.py), so a stop signal or the server's close()
ends the wait with -EINTR. A directory as stdin reads -EISDIR, as read(2) of one does. Every
guest range is checked before any side effect: before stdin is read, before an ioctl.
"""

from __future__ import annotations

import errno
import fcntl
import os
import termios

from qkernel import abi as K

from ..fs import MAX_RW_COUNT, STAT_SIZE, TERMIOS_SIZE, WINSIZE_SIZE, pack_stat
from .base import STOPPED, Service, in_ring_worker, qcall

MAX_IO = 1 << 20            # bytes per console-write qcall (then a short write)
RING_READ_MAX = 64 << 10    # bytes per console read served from the ring


class Console(Service):
    def __init__(self, stdin: int | None = 0, stdout: int = 1, stderr: int = 2, *,
                 closed: frozenset[int] | set[int] = frozenset()) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.closed = frozenset(closed)     # guest fds of 0..2 closed at start: -EBADF

    @qcall(K.QCALL_CONSOLE_WRITE, blocking=True)
    def console_write(self, fd: int, buf: int, length: int) -> int:
        if fd not in (1, 2) or fd in self.closed:
            return -errno.EBADF
        self.memory.check(buf, length)  # the whole range, as Linux's access_ok (EFAULT)
        data = self.memory.read(buf, min(length, MAX_IO))  # then a short write, as MAX_RW_COUNT
        target = self.stdout if fd == 1 else self.stderr
        written = 0
        while written < len(data):
            try:
                written += os.write(target, data[written:])
            except BrokenPipeError:
                return -errno.EPIPE
            except OSError as e:
                return -(e.errno or errno.EIO)
        return written

    @qcall(K.QCALL_CONSOLE_READ, blocking=True)
    def console_read(self, fd: int, buf: int, length: int) -> int:
        if 0 in self.closed and fd == 0:
            return -errno.EBADF
        if self.stdin is None:
            return -errno.ENOSYS
        if fd != 0:
            return -errno.EBADF
        mem = self.memory
        mem.check(buf, length)             # before reading: a bad buffer loses no input
        n = min(length, MAX_RW_COUNT)
        if n == 0:
            return 0
        if self.server.wakeup.wait(self.stdin) == STOPPED:   # input, EOF, an error, or a stop
            return -errno.EINTR
        try:
            if in_ring_worker():
                data = os.read(self.stdin, min(n, RING_READ_MAX))
                mem.write(buf, data)
                return len(data)
            with mem.view(buf, n) as window:
                return os.readv(self.stdin, [window])
        except OSError as e:
            return -(e.errno or errno.EIO)

    def host_fd(self, fd: int) -> int | None:
        """The host descriptor behind the guest's stdio fd 0..2 (None for any other, or one
        closed when qvisor started)."""
        if not 0 <= fd <= 2 or fd in self.closed:
            return None
        return (0 if self.stdin is None else self.stdin, self.stdout, self.stderr)[fd]

    @qcall(K.QCALL_STDIO_FSTAT)
    def stdio_fstat(self, fd: int, stat_pa: int) -> int:
        host = self.host_fd(fd)
        if host is None:
            return -errno.EBADF
        self.memory.check(stat_pa, STAT_SIZE)
        try:
            st = os.fstat(host)
        except OSError as e:
            return -(e.errno or errno.EBADF)
        self.memory.write(stat_pa, pack_stat(st))
        return 0

    @qcall(K.QCALL_TTY_IOCTL)
    def tty_ioctl(self, fd: int, request: int, buf_pa: int) -> int:
        if fd in self.closed:
            return -errno.EBADF
        if self.stdin is None and 0 not in self.closed:    # no console at all: no HostFiles
            return -errno.ENOSYS
        host = self.host_fd(fd)
        if host is None:
            return -errno.EBADF
        if request == termios.TCGETS:
            size = TERMIOS_SIZE
        elif request == termios.TIOCGWINSZ:
            size = WINSIZE_SIZE
        else:
            return -errno.EINVAL
        self.memory.check(buf_pa, size)
        try:
            self.memory.write(buf_pa, fcntl.ioctl(host, request, bytes(size)))
        except OSError as e:
            return -(e.errno or errno.EIO)
        return 0
