"""pipe and pipe2: a new pipe (qkernel/fs/pipe.py) on the two lowest free descriptors."""

from __future__ import annotations

from qkernel.dialect import addr_of, array, cast, i32, i64, ptr, u8, u64
from qkernel.fs import fdtable, pipe
from qkernel.fs.node import File
from qkernel.linux.errno import EFAULT, EINVAL
from qkernel.linux.fcntl import O_CLOEXEC, O_DIRECT, O_NONBLOCK
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task


def do_pipe(t: ptr[Task], ufds: u64, flags: u64) -> i64:
    if flags & ~u64(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0:
        return -EINVAL
    if not range_ok(ufds, 8, True):
        return -EFAULT
    ends: array[ptr[File], 2] = array[ptr[File], 2]()
    r = pipe.create(flags, addr_of(ends[0]))
    if r < 0:
        return r
    p = t.process
    cloexec = flags & O_CLOEXEC != 0
    rfd = fdtable.alloc(p, 0, ends[0], cloexec)
    if rfd < 0:
        fdtable.fput_ref(ends[0])
        fdtable.fput_ref(ends[1])
        return rfd
    wfd = fdtable.alloc(p, 0, ends[1], cloexec)
    if wfd < 0:
        fdtable.close(p, u64(rfd))
        fdtable.fput_ref(ends[1])
        return wfd
    fds: array[i32, 2] = array[i32, 2]()
    fds[0] = i32(rfd)
    fds[1] = i32(wfd)
    if copy_to_user(ufds, cast(ptr[u8], addr_of(fds[0])), 8) != 0:
        fdtable.close(p, u64(rfd))
        fdtable.close(p, u64(wfd))
        return -EFAULT
    return 0


def sys_pipe(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_pipe(t, a.a0, 0)


def sys_pipe2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_pipe(t, a.a0, a.a1)
