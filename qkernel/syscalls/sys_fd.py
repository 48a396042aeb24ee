"""The descriptor table's calls: close, dup, dup2, dup3, fcntl (F_DUPFD, F_DUPFD_CLOEXEC,
F_GETFD, F_SETFD, F_GETFL, F_SETFL). Duplicates share one File: its offset and status flags."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, i64, ptr, u64
from qkernel.fs import fdtable
from qkernel.fs.node import fget
from qkernel.linux.errno import EBADF, EINVAL
from qkernel.linux.fcntl import (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL,
                                 FD_CLOEXEC, O_APPEND, O_ASYNC, O_CLOEXEC, O_DIRECT, O_NOATIME,
                                 O_NONBLOCK)
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

SETFL_MASK: Final = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME  # what F_SETFL changes


def sys_close(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return fdtable.close(t.process, a.a0)


def dup_from(t: ptr[Task], fd: u64, lowest: u64, cloexec: bool) -> i64:
    f = fdtable.get(t.process, fd)
    if f == NULL:
        return -EBADF
    r = fdtable.alloc(t.process, lowest, fget(f), cloexec)
    if r < 0:
        fdtable.fput_ref(f)
    return r


def sys_dup(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return dup_from(t, a.a0, 0, False)


def dup_to(t: ptr[Task], old: u64, new: u64, cloexec: bool) -> i64:
    f = fdtable.get(t.process, old)
    if f == NULL:
        return -EBADF
    r = fdtable.install_at(t.process, new, fget(f), cloexec)
    if r < 0:
        fdtable.fput_ref(f)
    return r


def sys_dup2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 == a.a1:  # dup2(fd, fd): fd if open, no change
        return i64(a.a0) if fdtable.get(t.process, a.a0) != NULL else -EBADF
    return dup_to(t, a.a0, a.a1, False)


def sys_dup3(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a2 & ~u64(O_CLOEXEC) != 0 or a.a0 == a.a1:
        return -EINVAL
    return dup_to(t, a.a0, a.a1, a.a2 & O_CLOEXEC != 0)


def sys_fcntl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p = t.process
    fd = a.a0
    cmd = a.a1
    arg = a.a2
    f = fdtable.get(p, fd)
    if f == NULL:
        return -EBADF
    if cmd == F_DUPFD or cmd == F_DUPFD_CLOEXEC:
        if arg >= fdtable.limit(p):
            return -EINVAL
        return dup_from(t, fd, arg, cmd == F_DUPFD_CLOEXEC)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fdtable.cloexec(p, fd) else 0
    if cmd == F_SETFD:
        fdtable.set_cloexec(p, fd, arg & FD_CLOEXEC != 0)
        return 0
    if cmd == F_GETFL:
        return i64(f.flags & ~u64(O_CLOEXEC))
    if cmd == F_SETFL:
        f.flags = (f.flags & ~u64(SETFL_MASK)) | (arg & SETFL_MASK)
        return 0
    return -EINVAL
