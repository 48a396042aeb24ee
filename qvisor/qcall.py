"""The host half of qcalls: validates a request block in guest memory and serves it.

Contract (qkernel/abi.py): the guest writes the guest-physical address of a Qcall block to
QCALL_PORT. Every address and length the guest supplies is checked against guest memory by
GuestMemory (GuestFault -> -EFAULT to the guest); a block that itself lies outside guest memory
stops the VM with QcallFault (a kernel bug, reported as a crash). Handlers touch no host file
but the sandbox's stdio and, read-only, the files under its root (qvisor/fs.py confines those).
"""

from __future__ import annotations

import errno
import os
import select
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from qkernel import abi as K

from .abi import QCALL, QCALL_ARGS, QCALL_NR, QCALL_RESULT
from .fs import FILE_QCALLS, HostFiles, pack_stat
from .memory import GuestFault, GuestMemory

MAX_IO = 1 << 20  # bytes per console-write or random qcall
QCALL_STAT_SIZE = 144
LOG_TAGS = {K.LOG_ERROR: "error", K.LOG_WARN: "warn", K.LOG_INFO: "info", K.LOG_DEBUG: "debug"}


def _readable(fd: int, secs: float) -> bool:
    """Waits up to secs for fd to become readable."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(secs * 1000))


class QcallStop(Exception):
    """Raised by a handler to end the run: the guest exited or panicked."""


@dataclass
class GuestExit(QcallStop):
    status: int


@dataclass
class KernelPanic(QcallStop):
    message: str
    frame_gpa: int  # guest-physical address of a TrapFrame, 0 when panic() was called directly


@dataclass
class QcallFault(QcallStop):
    gpa: int
    reason: str


@dataclass
class QcallServer:
    memory: GuestMemory
    stdout: int | None = 1     # None: closed when qvisor started (the guest gets -EBADF)
    stderr: int | None = 2
    echo_log: bool = False  # print kernel log lines to stderr as they arrive
    log: list[str] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    unknown_logged: set[int] = field(default_factory=set)
    on_log: Callable[[int, str], None] | None = None
    files: HostFiles | None = None  # the sandbox root's files (qvisor/fs.py); None: file qcalls -ENOSYS
    stop_fd: int | None = None  # readable after a stop signal: a sleep ends early (qvisor/signals.py)

    def handle(self, gpa: int) -> None:
        """Serves the request block at guest-physical `gpa`; raises QcallStop to end the run."""
        mem = self.memory
        try:
            block = mem.read(gpa, QCALL.size)
        except GuestFault as e:
            raise QcallFault(gpa, f"qcall block outside guest memory: {e}") from None
        nr = struct.unpack_from("<Q", block, QCALL_NR)[0]
        args = struct.unpack_from("<6Q", block, QCALL_ARGS)
        self.counts[nr] = self.counts.get(nr, 0) + 1
        handler = self.HANDLERS.get(nr)
        if handler is None:
            if nr not in self.unknown_logged:
                self.unknown_logged.add(nr)
                self.log.append(f"host: unknown qcall {nr}")
            result = -errno.ENOSYS
        else:
            try:
                result = handler(self, *args)
            except GuestFault:
                result = -errno.EFAULT
        mem.write_u64(gpa + QCALL_RESULT, result & (2**64 - 1))

    # ---- handlers: (self, a0..a5) -> int result

    def console_write(self, fd: int, buf: int, length: int, *_: int) -> int:
        target = {1: self.stdout, 2: self.stderr}.get(fd)
        if target is None:
            return -errno.EBADF
        self.memory.check(buf, length)  # the whole range, as Linux's access_ok (EFAULT)
        data = self.memory.read(buf, min(length, MAX_IO))  # then a short write, as MAX_RW_COUNT
        written = 0
        while written < len(data):
            try:
                written += os.write(target, data[written:])
            except BrokenPipeError:
                return -errno.EPIPE
            except OSError as e:
                return -(e.errno or errno.EIO)
        return written

    def exit(self, status: int, *_: int) -> int:
        raise GuestExit(status & 0xFF)

    def clock(self, clock_id: int, *_: int) -> int:
        if clock_id == 0:
            return time.time_ns()
        if clock_id == 1:
            return time.monotonic_ns()
        return -errno.EINVAL

    def random(self, buf: int, length: int, *_: int) -> int:
        if length > MAX_IO:
            return -errno.EINVAL
        self.memory.check(buf, length)
        self.memory.write(buf, os.urandom(length))
        return length

    def klog(self, level: int, buf: int, length: int, *_: int) -> int:
        text = self.memory.read(buf, min(length, 4096)).decode("utf-8", "replace")
        self.log.append(text)
        if self.on_log is not None:
            self.on_log(level, text)
        if self.echo_log:
            print(f"[qkernel {LOG_TAGS.get(level, level)}] {text}", file=sys.stderr)
        return 0

    def nanosleep(self, ns: int, *_: int) -> int:
        secs = min(ns, 10**13) / 1e9
        if self.stop_fd is None:
            time.sleep(secs)
        elif _readable(self.stop_fd, secs):
            return -errno.EINTR     # a stop signal: the run ends
        return 0

    def stdio_fstat(self, fd: int, stat_pa: int, *_: int) -> int:
        host = {0: self.files.stdin if self.files else 0, 1: self.stdout, 2: self.stderr}.get(fd)
        if host is None:
            return -errno.EBADF
        self.memory.check(stat_pa, QCALL_STAT_SIZE)
        try:
            st = os.fstat(host)
        except OSError as e:
            return -(e.errno or errno.EBADF)
        self.memory.write(stat_pa, pack_stat(st))
        return 0

    def zero_pages(self, pa: int, npages: int, *_: int) -> int:
        if pa % 4096 or npages > (1 << 20):
            return -errno.EINVAL
        self.memory.fill(pa, npages * 4096, 0)
        return 0

    def panic(self, msg: int, length: int, frame_gpa: int, *_: int) -> int:
        try:
            text = self.memory.read(msg, min(length, 4096)).decode("utf-8", "replace")
        except GuestFault:
            text = "(panic message at an invalid address)"
        raise KernelPanic(text, frame_gpa)

    HANDLERS: ClassVar[dict[int, Callable[..., int]]] = {
        K.QCALL_CONSOLE_WRITE: console_write, K.QCALL_EXIT: exit, K.QCALL_CLOCK: clock,
        K.QCALL_RANDOM: random, K.QCALL_LOG: klog, K.QCALL_PANIC: panic,
        K.QCALL_NANOSLEEP: nanosleep, K.QCALL_STDIO_FSTAT: stdio_fstat, K.QCALL_ZERO_PAGES: zero_pages,
        **FILE_QCALLS,  # open, pread, close, fstat, stat, readlink, tty ioctl, console read
    }
