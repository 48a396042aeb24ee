"""statx, statfs and fstatfs: a file's attributes in struct statx, and its filesystem's
figures (sys_path.py does the walk; the mount says which filesystem).

statfs reports Linux's magic numbers for what each mount is (the root's overlay as overlayfs,
tmpfs, procfs) and, for in-memory filesystems, guest memory as their blocks; a host tree's own
free space is not asked of the host (its blocks show as guest memory too). Partial: f_fsid is
the mount's st_dev.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u16, u32, u64
from qkernel.fs import fdtable, namei
from qkernel.fs.namei import Path
from qkernel.fs.node import MNT_RDONLY, Mount
from qkernel.linux.errno import EBADF, EFAULT, EINVAL
from qkernel.linux.fcntl import AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW
from qkernel.linux.stat import STATX_BASIC_STATS, Stat, Statfs, Statx
from qkernel.mm import frames
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.syscalls.sys_io import stat_file
from qkernel.syscalls.sys_path import at_path, empty_path
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

AT_STATX_SYNC_TYPE: Final = 0x6000
ST_RDONLY: Final = 1


def sys_statx(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """statx(dirfd, path, flags, mask, buf): every basic field is filled whatever the mask
    asks (as Linux may); no birth time."""
    flags = a.a2
    if flags & ~u64(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0:
        return -EINVAL
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or a.a3 & 0x8000_0000 != 0:
        return -EINVAL
    if not range_ok(a.a4, sizeof(Statx), True):
        return -EFAULT
    st: Stat = Stat()
    e = empty_path(t, a.a1, flags)
    if e < 0:
        return e
    if e == 1 and u64(i64(i32(a.a0))) != AT_FDCWD:
        f = fdtable.get(t.process, a.a0)
        if f == NULL:
            return -EBADF
        r = stat_file(f, addr_of(st))
        if r < 0:
            return r
    else:
        p: Path = Path()
        r = at_path(t, a.a0, a.a1, flags, addr_of(p))
        if r < 0:
            return r
        st = p.d.inode.st
    x: Statx = Statx()
    x.stx_mask = STATX_BASIC_STATS
    x.stx_blksize = u32(st.st_blksize)
    x.stx_nlink = u32(st.st_nlink)
    x.stx_uid = st.st_uid
    x.stx_gid = st.st_gid
    x.stx_mode = u16(st.st_mode)
    x.stx_ino = st.st_ino
    x.stx_size = st.st_size
    x.stx_blocks = st.st_blocks
    x.stx_atime.tv_sec = i64(st.st_atime)
    x.stx_atime.tv_nsec = u32(st.st_atime_nsec)
    x.stx_mtime.tv_sec = i64(st.st_mtime)
    x.stx_mtime.tv_nsec = u32(st.st_mtime_nsec)
    x.stx_ctime.tv_sec = i64(st.st_ctime)
    x.stx_ctime.tv_nsec = u32(st.st_ctime_nsec)
    x.stx_rdev_major = u32(major(st.st_rdev))
    x.stx_rdev_minor = u32(minor(st.st_rdev))
    x.stx_dev_major = u32(major(st.st_dev))
    x.stx_dev_minor = u32(minor(st.st_dev))
    return copy_to_user(a.a4, cast(ptr[u8], addr_of(x)), sizeof(Statx))


def major(dev: u64) -> u64:
    """glibc's gnu_dev_major."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~u64(0xFFF))


def minor(dev: u64) -> u64:
    return (dev & 0xFF) | ((dev >> 12) & ~u64(0xFF))


def fill_statfs(m: ptr[Mount], out: u64) -> i64:
    s: Statfs = Statfs()
    s.f_type = i64(m.magic)
    s.f_bsize = 4096
    s.f_frsize = 4096
    s.f_blocks = frames.nframes
    s.f_bfree = frames.nfree
    s.f_bavail = frames.nfree
    s.f_files = frames.nframes
    s.f_ffree = frames.nfree
    s.f_fsid[0] = i32(i64(m.dev & 0x7FFF_FFFF))
    s.f_namelen = 255
    s.f_flags = ST_RDONLY if m.flags & MNT_RDONLY != 0 else 0
    return copy_to_user(out, cast(ptr[u8], addr_of(s)), sizeof(Statfs))


def sys_statfs(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = at_path(t, AT_FDCWD, a.a0, 0, addr_of(p))
    if r < 0:
        return r
    return fill_statfs(p.mnt, a.a1)


def sys_fstatfs(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL:
        return -EBADF
    p: Path = Path()
    if not namei.file_path(f, addr_of(p)):
        return fill_statfs(namei.root.mnt, a.a1)     # pipes and the console: as pipefs would
    return fill_statfs(p.mnt, a.a1)
