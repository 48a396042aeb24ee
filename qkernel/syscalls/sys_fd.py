"""The descriptor table's calls: close, dup, dup2, dup3, fcntl (F_DUPFD, F_DUPFD_CLOEXEC,
F_GETFD, F_SETFD, F_GETFL, F_SETFL; F_GETPIPE_SZ/F_SETPIPE_SZ through qkernel/fs/pipe.py,
F_ADD_SEALS/F_GET_SEALS through qkernel/fs/memfd.py), and memfd_create. Duplicates share one
File: its offset and status flags."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, i64, ptr, u8, u32, u64
from qkernel.fs import fdtable, memfd, pipe
from qkernel.fs.node import File, fget
from qkernel.linux.errno import EBADF, EFAULT, EINVAL
from qkernel.linux.fcntl import (F_ADD_SEALS, F_DUPFD, F_DUPFD_CLOEXEC, F_GET_SEALS, F_GETFD,
                                 F_GETFL, F_GETPIPE_SZ, F_SEAL_EXEC, F_SEAL_SEAL, F_SETFD, F_SETFL,
                                 F_SETPIPE_SZ, FD_CLOEXEC, MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_EXEC,
                                 MFD_HUGETLB, MFD_NAME_MAX, MFD_NOEXEC_SEAL, O_APPEND, O_ASYNC,
                                 O_CLOEXEC, O_DIRECT, O_NOATIME, O_NONBLOCK, O_PATH)
from qkernel.mm.uaccess import strncpy_from_user
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
    if f.flags & O_PATH != 0:
        return -EBADF
    if cmd == F_GETPIPE_SZ:
        return pipe.capacity(f)
    if cmd == F_SETPIPE_SZ:
        return pipe.set_capacity(f, arg & 0xFFFF_FFFF)
    if cmd == F_GET_SEALS:
        return memfd.get_seals(f)
    if cmd == F_ADD_SEALS:
        return memfd.add_seals(f, arg & 0xFFFF_FFFF)
    return -EINVAL


MFD_FLAGS: Final = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC


def sys_memfd_create(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """memfd_create(name, flags): an anonymous in-memory file (qkernel/fs/memfd.py) on the lowest
    free descriptor. -EINVAL for unknown flags, MFD_EXEC with MFD_NOEXEC_SEAL, a name longer
    than MFD_NAME_MAX, and MFD_HUGETLB (no hugetlbfs here); -EFAULT for the name."""
    flags = a.a1 & 0xFFFF_FFFF
    if flags & ~u64(MFD_FLAGS) != 0 or flags & MFD_HUGETLB != 0:
        return -EINVAL
    if flags & MFD_EXEC != 0 and flags & MFD_NOEXEC_SEAL != 0:
        return -EINVAL
    name: array[u8, 256] = array[u8, 256]()
    n = strncpy_from_user(addr_of(name[0]), a.a0, MFD_NAME_MAX + 1)
    if n == -EFAULT:
        return -EFAULT
    if n < 0:
        return -EINVAL
    sealing = flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0
    f: ptr[File] = NULL
    r = memfd.create(t, addr_of(name[0]), u64(n), sealing, addr_of(f))
    if r < 0:
        return r
    if flags & MFD_NOEXEC_SEAL != 0:
        f.inode.st.st_mode &= ~u32(0o111)
        f.inode.seals = (f.inode.seals & ~u64(F_SEAL_SEAL)) | F_SEAL_EXEC
    fd = fdtable.alloc(t.process, 0, f, flags & MFD_CLOEXEC != 0)
    if fd < 0:
        fdtable.fput_ref(f)
    return fd
