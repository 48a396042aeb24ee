"""Calls that change names: mkdir, mkdirat, unlink, unlinkat, rmdir, rename, renameat,
renameat2, symlink, symlinkat, link, linkat, mknod, mknodat. Each walks to the parent
directory (qkernel/fs/namei.py LOOKUP_PARENT) and delegates to qkernel/fs/vfs.py, which does
Linux's checks once. In the sandbox root the changes live in memory above the host's files.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, i64, memcpy, ptr, u8, u64
from qkernel.fs import namei, vfs
from qkernel.fs.namei import WALK_A, Nameidata, Path
from qkernel.fs.node import Dentry
from qkernel.linux.errno import EBUSY, EEXIST, EINVAL, ENOENT, EPERM
from qkernel.linux.fcntl import (AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW,
                                 AT_SYMLINK_NOFOLLOW)
from qkernel.linux.stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK
from qkernel.syscalls.sys_path import at_path, begin_of
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

SECOND: Final = 32768          # scratch: the second path of rename/link/symlink (PATH_MAX)
RENAME_NOREPLACE: Final = 1
RENAME_EXCHANGE: Final = 2
RENAME_WHITEOUT: Final = 4


def path_in(t: ptr[Task], dirfd: u64, path: u64, b: ptr[Path]) -> i64:
    """Copies the user path into WALK_A and finds where it starts: its length or -errno."""
    n = namei.user_path(t, path)
    if n < 0:
        return n
    r = begin_of(t, dirfd, b)
    return r if r < 0 else n


def do_mkdir(t: ptr[Task], dirfd: u64, path: u64, mode: u64) -> i64:
    b: Path = Path()
    n = path_in(t, dirfd, path, addr_of(b))
    if n < 0:
        return n
    return vfs.mkdir(t, addr_of(b), t.scratch + WALK_A, u64(n), mode)


def sys_mkdir(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_mkdir(t, AT_FDCWD, a.a0, a.a1)


def sys_mkdirat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_mkdir(t, a.a0, a.a1, a.a2)


def do_remove(t: ptr[Task], dirfd: u64, path: u64, dir: bool) -> i64:
    b: Path = Path()
    n = path_in(t, dirfd, path, addr_of(b))
    if n < 0:
        return n
    return vfs.remove(t, addr_of(b), t.scratch + WALK_A, u64(n), dir)


def sys_unlink(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_remove(t, AT_FDCWD, a.a0, False)


def sys_rmdir(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_remove(t, AT_FDCWD, a.a0, True)


def sys_unlinkat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a2 & ~u64(AT_REMOVEDIR) != 0:
        return -EINVAL
    return do_remove(t, a.a0, a.a1, a.a2 & AT_REMOVEDIR != 0)


def second_path(t: ptr[Task], path: u64) -> i64:
    """A second user path into scratch SECOND (the walk's buffers take the first)."""
    return namei.copy_path(t.scratch + SECOND, path)


def last_of(t: ptr[Task], dirfd: u64, src: ptr[u8], n: u64, nd: ptr[Nameidata],
            out: ptr[ptr[Dentry]]) -> i64:
    """The walk of a path (copied to WALK_A from src) to its last component and its dentry."""
    if src != t.scratch + WALK_A:
        memcpy(t.scratch + WALK_A, src, n)
        t.scratch[WALK_A + n] = 0
    b: Path = Path()
    r = begin_of(t, dirfd, addr_of(b))
    if r < 0:
        return r
    r = vfs.parent_and_name(t, addr_of(b), t.scratch + WALK_A, n, nd, out)
    return -EBUSY if r == -EEXIST else r    # "/", "." or ".." (LAST_NORM only, as Linux)


def do_rename(t: ptr[Task], olddir: u64, oldpath: u64, newdir: u64, newpath: u64, flags: u64) -> i64:
    if flags & ~u64(RENAME_NOREPLACE) != 0:
        return -EINVAL       # RENAME_EXCHANGE and RENAME_WHITEOUT: not yet
    m = second_path(t, newpath)
    if m < 0:
        return m
    n = namei.user_path(t, oldpath)
    if n < 0:
        return n
    ond: Nameidata = Nameidata()
    od: ptr[Dentry] = NULL
    r = last_of(t, olddir, t.scratch + WALK_A, u64(n), addr_of(ond), addr_of(od))
    if r < 0:
        return r
    if od.inode == NULL:
        return -ENOENT
    # the new path's walk reuses the buffers: keep what the old one found
    nnd: Nameidata = Nameidata()
    nd: ptr[Dentry] = NULL
    otrail = ond.trailing
    r = last_of(t, newdir, t.scratch + SECOND, u64(m), addr_of(nnd), addr_of(nd))
    if r < 0:
        return r
    ond.trailing = otrail and not namei.is_dir(od.inode)
    return vfs.rename(t, od, addr_of(ond), nd, addr_of(nnd), flags & RENAME_NOREPLACE != 0)


def sys_rename(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_rename(t, AT_FDCWD, a.a0, AT_FDCWD, a.a1, 0)


def sys_renameat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_rename(t, a.a0, a.a1, a.a2, a.a3, 0)


def sys_renameat2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_rename(t, a.a0, a.a1, a.a2, a.a3, a.a4)


def do_symlink(t: ptr[Task], target: u64, dirfd: u64, path: u64) -> i64:
    k = second_path(t, target)
    if k < 0:
        return k
    b: Path = Path()
    n = path_in(t, dirfd, path, addr_of(b))
    if n < 0:
        return n
    return vfs.symlink(t, t.scratch + SECOND, u64(k), addr_of(b), t.scratch + WALK_A, u64(n))


def sys_symlink(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_symlink(t, a.a0, AT_FDCWD, a.a1)


def sys_symlinkat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_symlink(t, a.a0, a.a1, a.a2)


def do_link(t: ptr[Task], olddir: u64, oldpath: u64, newdir: u64, newpath: u64, flags: u64) -> i64:
    if flags & ~u64(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0:
        return -EINVAL
    old: Path = Path()
    how = flags & AT_EMPTY_PATH
    if flags & AT_SYMLINK_FOLLOW == 0:
        how |= AT_SYMLINK_NOFOLLOW
    r = at_path(t, olddir, oldpath, how, addr_of(old))
    if r < 0:
        return r
    b: Path = Path()
    n = path_in(t, newdir, newpath, addr_of(b))
    if n < 0:
        return n
    return vfs.link(t, addr_of(old), addr_of(b), t.scratch + WALK_A, u64(n))


def sys_link(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_link(t, AT_FDCWD, a.a0, AT_FDCWD, a.a1, 0)


def sys_linkat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_link(t, a.a0, a.a1, a.a2, a.a3, a.a4)


def do_mknod(t: ptr[Task], dirfd: u64, path: u64, mode: u64, dev: u64) -> i64:
    """Regular files and FIFOs (named pipes: qkernel/fs/pipe.py; in memory only, -EPERM in a rw
    bind); device nodes and sockets need what the sandbox does not give: -EPERM; a directory
    -EPERM and unknown types -EINVAL, as may_mknod."""
    kind = mode & S_IFMT
    if kind == 0:
        kind = S_IFREG
    if kind != S_IFREG and kind != S_IFIFO:
        if kind == S_IFCHR or kind == S_IFBLK or kind == S_IFSOCK or kind == S_IFDIR:
            return -EPERM
        return -EINVAL
    b: Path = Path()
    n = path_in(t, dirfd, path, addr_of(b))
    if n < 0:
        return n
    nd: Nameidata = Nameidata()
    d: ptr[Dentry] = NULL
    r = vfs.parent_and_name(t, addr_of(b), t.scratch + WALK_A, u64(n), addr_of(nd), addr_of(d))
    if r < 0:
        return r
    if d.inode != NULL:
        return -EEXIST
    return vfs.create(t, addr_of(nd), d, kind | (mode & ~t.process.umask & 0o7777))


def sys_mknod(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_mknod(t, AT_FDCWD, a.a0, a.a1, a.a2)


def sys_mknodat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_mknod(t, a.a0, a.a1, a.a2, a.a3)
