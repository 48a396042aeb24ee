"""The descriptor table's calls: close, dup, dup2, dup3, fcntl (F_DUPFD, F_DUPFD_CLOEXEC,
F_GETFD, F_SETFD, F_GETFL, F_SETFL; F_GETPIPE_SZ/F_SETPIPE_SZ through qkernel/fs/pipe.py,
F_ADD_SEALS/F_GET_SEALS through qkernel/fs/memfd.py, the record locks F_GETLK/F_SETLK/F_SETLKW
and F_OFD_* through qkernel/fs/locks.py), flock, and memfd_create. Duplicates share one
File: its offset and status flags."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i16, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.fs import fdtable, locks, memfd, pipe
from qkernel.fs.node import File, fget
from qkernel.linux.errno import EBADF, EFAULT, EINVAL, EOVERFLOW
from qkernel.linux.fcntl import (F_ADD_SEALS, F_DUPFD, F_DUPFD_CLOEXEC, F_GET_SEALS, F_GETFD,
                                 F_GETFL, F_GETLK, F_GETPIPE_SZ, F_OFD_GETLK, F_OFD_SETLK,
                                 F_OFD_SETLKW, F_RDLCK, F_SEAL_EXEC, F_SEAL_SEAL, F_SETFD, F_SETFL,
                                 F_SETLK, F_SETLKW, F_SETPIPE_SZ, F_UNLCK, F_WRLCK, FD_CLOEXEC,
                                 LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, MFD_ALLOW_SEALING, MFD_CLOEXEC,
                                 MFD_EXEC, MFD_HUGETLB, MFD_NAME_MAX, MFD_NOEXEC_SEAL, O_ACCMODE,
                                 O_APPEND, O_ASYNC, O_CLOEXEC, O_DIRECT, O_NOATIME, O_NONBLOCK,
                                 O_PATH, O_RDONLY, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET, Flock)
from qkernel.mm.uaccess import copy_from_user, copy_to_user, strncpy_from_user
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
    if (cmd == F_GETLK or cmd == F_SETLK or cmd == F_SETLKW or cmd == F_OFD_GETLK
            or cmd == F_OFD_SETLK or cmd == F_OFD_SETLKW):
        return record_lock(t, f, cmd, arg)
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


LOFF_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF


def lock_range(f: ptr[File], fl: ptr[Flock], out: ptr[u64]) -> i64:
    """struct flock's whence/start/len as an inclusive [out[0], out[1]] (flock_to_posix_lock):
    -EINVAL for a bad whence or a start before 0, -EOVERFLOW past LOFF_MAX."""
    base: i64 = 0
    w = i64(fl.l_whence)
    if w == SEEK_CUR:
        base = i64(f.pos)
    elif w == SEEK_END:
        base = i64(f.inode.st.st_size)
    elif w != SEEK_SET:
        return -EINVAL
    start = base + fl.l_start
    if (fl.l_start > 0 and start < base) or (fl.l_start < 0 and start > base):
        return -EOVERFLOW
    if start < 0:
        return -EINVAL
    end: i64 = LOFF_MAX
    n = fl.l_len
    if n > 0:
        if n - 1 > LOFF_MAX - start:
            return -EOVERFLOW
        end = start + n - 1
    elif n < 0:
        end = start - 1
        start += n
        if start < 0:
            return -EINVAL
    out[0] = u64(start)
    out[1] = u64(end)
    return 0


def record_lock(t: ptr[Task], f: ptr[File], cmd: u64, arg: u64) -> i64:
    """F_GETLK/F_SETLK/F_SETLKW (owned by the process) and F_OFD_* (owned by the open file
    description, l_pid must be 0): checks as fcntl_getlk/fcntl_setlk, then qkernel/fs/locks.py."""
    fl: Flock = Flock()
    if copy_from_user(cast(ptr[u8], addr_of(fl)), arg, sizeof(Flock)) != 0:
        return -EFAULT
    ofd = cmd == F_OFD_GETLK or cmd == F_OFD_SETLK or cmd == F_OFD_SETLKW
    getlk = cmd == F_GETLK or cmd == F_OFD_GETLK
    type = u64(i64(fl.l_type)) & 0xFFFF
    if type != F_RDLCK and type != F_WRLCK and (type != F_UNLCK or getlk):
        return -EINVAL
    if ofd and fl.l_pid != 0:
        return -EINVAL
    rng: array[u64, 2] = array[u64, 2]()
    r = lock_range(f, addr_of(fl), addr_of(rng[0]))
    if r < 0:
        return r
    owner = u64(f) if ofd else u64(t.process)
    kind: u64 = locks.FL_OFD if ofd else locks.FL_POSIX
    i = f.inode
    if getlk:
        c = locks.find_conflict(i, owner, kind, type, rng[0], rng[1])
        if c == NULL:
            fl.l_type = i16(F_UNLCK)
        else:
            fl.l_type = i16(c.type)
            fl.l_whence = i16(SEEK_SET)
            fl.l_start = i64(c.start)
            fl.l_len = 0 if c.end == LOFF_MAX else i64(c.end - c.start + 1)
            fl.l_pid = i32(-1) if c.kind != locks.FL_POSIX else i32(c.pid)
        return copy_to_user(arg, cast(ptr[u8], addr_of(fl)), sizeof(Flock))
    mode = f.flags & O_ACCMODE
    if (type == F_RDLCK and mode == O_WRONLY) or (type == F_WRLCK and mode == O_RDONLY):
        return -EBADF
    wait = cmd == F_SETLKW or cmd == F_OFD_SETLKW
    return locks.set_lock(t, i, owner, t.process.pid, kind, type, rng[0], rng[1], wait)


def sys_flock(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """flock(fd, op): LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB; on the open file description."""
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    op = a.a1 & ~u64(LOCK_NB)
    type: u64 = 0
    if op == LOCK_SH:
        type = F_RDLCK
    elif op == LOCK_EX:
        type = F_WRLCK
    elif op == LOCK_UN:
        type = F_UNLCK
    else:
        return -EINVAL
    return locks.flock(t, f, type, a.a1 & LOCK_NB == 0)
