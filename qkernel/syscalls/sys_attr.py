"""Calls that change a file's size or attributes: truncate, ftruncate, fallocate, chmod, fchmod,
fchmodat, chown, fchown, lchown, fchownat, utimensat, fadvise64 (a hint: checked, then
nothing to do), and the sync family (fsync, fdatasync, sync,
syncfs: the sandbox's writes live in memory, so there is nothing to flush).

Attributes change in the inode (in the sandbox root, a host file's new mode or owner is the
sandbox's own; the host's file is untouched). A read-only mount refuses (-EROFS).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.abi import SETATTR_MODE, SETATTR_OWNER, SETATTR_TIMES, UTIME_OMIT_NS
from qkernel.fs import fdtable, memfs, namei, vfs
from qkernel.fs.namei import LOOKUP_FOLLOW, Path
from qkernel.linux.errno import EBADF, EFAULT, EFBIG, EINVAL, EISDIR, ENODEV, EOPNOTSUPP, ESPIPE
from qkernel.linux.fcntl import (AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, FALLOC_FL_COLLAPSE_RANGE,
                                 FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
                                 FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES, FALLOC_FL_ZERO_RANGE,
                                 O_ACCMODE, O_PATH, O_RDONLY, POSIX_FADV_NOREUSE)
from qkernel.linux.stat import S_IFDIR, S_IFIFO, S_IFMT, S_IFREG
from qkernel.linux.time import Timespec
from qkernel.mm.uaccess import copy_from_user
from qkernel.syscalls.sys_path import at_path, resolve
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

UTIME_NOW: Final = 0x3FFFFFFF
UTIME_OMIT: Final = 0x3FFFFFFE
LOFF_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF
NO_ID: Final = 0xFFFF_FFFF


def fd_path(t: ptr[Task], fd: u64, out: ptr[Path]) -> i64:
    f = fdtable.get(t.process, fd)
    if f == NULL:
        return -EBADF
    if not namei.file_path(f, out):
        return -EINVAL          # a pipe or the console
    return 0


def sys_truncate(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a1 > LOFF_MAX:
        return -EINVAL
    p: Path = Path()
    r = resolve(t, AT_FDCWD, a.a0, LOOKUP_FOLLOW, addr_of(p))
    if r < 0:
        return r
    return vfs.truncate(t, addr_of(p), a.a1)


def sys_ftruncate(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    if a.a1 > LOFF_MAX:
        return -EINVAL
    if f.flags & O_ACCMODE == O_RDONLY:
        return -EINVAL          # Linux: not open for writing
    p: Path = Path()
    if not namei.file_path(f, addr_of(p)) or u64(f.inode.st.st_mode) & S_IFMT != S_IFREG:
        return -EINVAL
    return vfs.truncate(t, addr_of(p), a.a1)


FALLOC_MODES: Final = (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE
                       | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES)


def sys_fallocate(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """fallocate(fd, mode, offset, len) with vfs_fallocate's checks in its order, then the
    filesystem's own (memfs: tmpfs's modes; other kinds -EOPNOTSUPP)."""
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    mode = a.a1 & 0xFFFF_FFFF
    off = i64(a.a2)
    n = i64(a.a3)
    if off < 0 or n <= 0:
        return -EINVAL
    if mode & ~u64(FALLOC_MODES | FALLOC_FL_KEEP_SIZE) != 0:
        return -EOPNOTSUPP
    op = mode & FALLOC_MODES
    keep = mode & FALLOC_FL_KEEP_SIZE != 0
    if op == FALLOC_FL_PUNCH_HOLE:
        if not keep:
            return -EOPNOTSUPP
    elif op == FALLOC_FL_COLLAPSE_RANGE or op == FALLOC_FL_INSERT_RANGE or op == FALLOC_FL_WRITE_ZEROES:
        if keep:
            return -EOPNOTSUPP
    elif op != 0 and op != FALLOC_FL_ZERO_RANGE and op != FALLOC_FL_UNSHARE_RANGE:
        return -EOPNOTSUPP
    if f.flags & O_ACCMODE == O_RDONLY:
        return -EBADF
    i = f.inode
    kind: u64 = 0 if i == NULL else u64(i.st.st_mode) & S_IFMT
    if kind == S_IFIFO:
        return -ESPIPE
    if kind == S_IFDIR:
        return -EISDIR
    if kind != S_IFREG:
        return -ENODEV
    if off + n < 0:
        return -EFBIG
    p: Path = Path()
    if not namei.file_path(f, addr_of(p)):
        return -ENODEV
    r = vfs.prepare_write(t, addr_of(p))
    if r < 0:
        return r
    if i.iops == NULL or i.iops.fallocate == NULL:
        return -EOPNOTSUPP
    return i.iops.fallocate(t, i, mode, u64(off), u64(n))


def sys_fadvise64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """fadvise64(fd, offset, len, advice): -EBADF, -ESPIPE for a pipe or FIFO, -EINVAL for a
    negative length or an unknown advice; else 0 (the page cache keeps what it has)."""
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    if f.inode != NULL and u64(f.inode.st.st_mode) & S_IFMT == S_IFIFO:
        return -ESPIPE
    if i64(a.a2) < 0 or a.a3 > POSIX_FADV_NOREUSE:
        return -EINVAL
    return 0


def chmod_path(t: ptr[Task], p: ptr[Path], mode: u64) -> i64:
    r = vfs.setattr(t, p, SETATTR_MODE, mode & 0o7777, 0)
    if r < 0:
        return r
    i = namei.path_inode(p)
    i.st.st_mode = u32((u64(i.st.st_mode) & S_IFMT) | (mode & 0o7777))
    memfs.stamp(addr_of(i.st), False, False)
    return 0


def sys_chmod(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = resolve(t, AT_FDCWD, a.a0, LOOKUP_FOLLOW, addr_of(p))
    return r if r < 0 else chmod_path(t, addr_of(p), a.a1)


def sys_fchmod(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = fd_path(t, a.a0, addr_of(p))
    return r if r < 0 else chmod_path(t, addr_of(p), a.a1)


def sys_fchmodat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = resolve(t, a.a0, a.a1, LOOKUP_FOLLOW, addr_of(p))
    return r if r < 0 else chmod_path(t, addr_of(p), a.a2)


def chown_path(t: ptr[Task], p: ptr[Path], uid: u64, gid: u64) -> i64:
    """As root: any owner; -1 (as u32) leaves that id. Set-id bits of a non-directory go (Linux)."""
    r = vfs.setattr(t, p, SETATTR_OWNER, u64(u32(uid)), u64(u32(gid)))
    if r < 0:
        return r
    i = namei.path_inode(p)
    if u64(u32(uid)) != NO_ID:
        i.st.st_uid = u32(uid)
    if u64(u32(gid)) != NO_ID:
        i.st.st_gid = u32(gid)
    if u64(i.st.st_mode) & S_IFMT == S_IFREG:
        i.st.st_mode = u32(u64(i.st.st_mode) & ~u64(0o6000))
    memfs.stamp(addr_of(i.st), False, False)
    return 0


def sys_chown(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = resolve(t, AT_FDCWD, a.a0, LOOKUP_FOLLOW, addr_of(p))
    return r if r < 0 else chown_path(t, addr_of(p), a.a1, a.a2)


def sys_lchown(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = resolve(t, AT_FDCWD, a.a0, 0, addr_of(p))
    return r if r < 0 else chown_path(t, addr_of(p), a.a1, a.a2)


def sys_fchown(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = fd_path(t, a.a0, addr_of(p))
    return r if r < 0 else chown_path(t, addr_of(p), a.a1, a.a2)


def sys_fchownat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a4 & ~u64(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0:
        return -EINVAL
    p: Path = Path()
    r = at_path(t, a.a0, a.a1, a.a4, addr_of(p))
    return r if r < 0 else chown_path(t, addr_of(p), a.a2, a.a3)


def sys_utimensat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """utimensat(dirfd, path, times[2], flags); path NULL: dirfd itself (futimens)."""
    if a.a3 & ~u64(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0:
        return -EINVAL
    ts: array[Timespec, 2] = array[Timespec, 2]()
    now = memfs.now()
    if a.a2 != 0:
        if copy_from_user(cast(ptr[u8], addr_of(ts[0])), a.a2, 2 * sizeof(Timespec)) != 0:
            return -EFAULT
        for k in range(2):
            ns = ts[k].tv_nsec
            if ns != UTIME_NOW and ns != UTIME_OMIT and (ns < 0 or ns >= 1000000000):
                return -EINVAL
    else:
        for k in range(2):
            ts[k].tv_nsec = UTIME_NOW
    p: Path = Path()
    r: i64 = 0
    if a.a1 == 0:
        r = fd_path(t, a.a0, addr_of(p)) if u64(i64(i32(a.a0))) != AT_FDCWD else -EFAULT
    else:
        r = at_path(t, a.a0, a.a1, a.a3, addr_of(p))
    if r < 0:
        return r
    for k in range(2):
        if ts[k].tv_nsec == UTIME_NOW:
            ts[k].tv_sec = now // 1000000000
            ts[k].tv_nsec = now % 1000000000
    an: u64 = UTIME_OMIT_NS if ts[0].tv_nsec == UTIME_OMIT else u64(ts[0].tv_sec * 1000000000 + ts[0].tv_nsec)
    mn: u64 = UTIME_OMIT_NS if ts[1].tv_nsec == UTIME_OMIT else u64(ts[1].tv_sec * 1000000000 + ts[1].tv_nsec)
    r = vfs.setattr(t, addr_of(p), SETATTR_TIMES, an, mn)
    if r < 0:
        return r
    st = addr_of(namei.path_inode(addr_of(p)).st)
    for k in range(2):
        s: i64 = ts[k].tv_sec
        n: i64 = ts[k].tv_nsec
        if n == UTIME_OMIT:
            continue
        if n == UTIME_NOW:
            s = now // 1000000000
            n = now % 1000000000
        if k == 0:
            st.st_atime = u64(s)
            st.st_atime_nsec = u64(n)
        else:
            st.st_mtime = u64(s)
            st.st_mtime_nsec = u64(n)
    memfs.stamp(st, False, False)
    return 0


def sys_fsync(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return 0 if fdtable.get(t.process, a.a0) != NULL else -EBADF


def sys_fdatasync(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return sys_fsync(t, a)


def sys_syncfs(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return sys_fsync(t, a)


def sys_sync(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return 0
