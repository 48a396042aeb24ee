"""Calls that name files by path: open, openat, creat, newfstatat, stat, lstat, access,
faccessat, faccessat2, readlink, readlinkat, getcwd, chdir, fchdir.

Each walks the path in the kernel (qkernel/fs/namei.py, through the dentry cache: a cached
name costs no host call) and delegates to the VFS (qkernel/fs/vfs.py). The sandbox runs as
root: modes do not refuse access; a read-only mount does (-EROFS).
"""

from __future__ import annotations

from qkernel.dialect import NULL, addr_of, array, cast, i32, i64, ptr, sizeof, u8, u64
from qkernel.fs import fdtable, namei, vfs
from qkernel.fs.namei import (LOOKUP_DIRECTORY, LOOKUP_FOLLOW, WALK_A, Nameidata, Path, is_dir,
                              is_lnk)
from qkernel.fs.node import Dentry, File
from qkernel.linux.errno import (EACCES, EBADF, EEXIST, EFAULT, EINVAL, EISDIR, ELOOP, ENFILE,
                                 ENOENT, ENOTDIR, ENXIO, EOPNOTSUPP, ERANGE, EROFS)
from qkernel.linux.fcntl import (AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT,
                                 AT_SYMLINK_NOFOLLOW, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY,
                                 O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY, O_TMPFILE, O_TRUNC,
                                 O_WRONLY, PATH_MAX, R_OK, W_OK, X_OK)
from qkernel.linux.stat import S_IFMT, S_IFREG, Stat
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.syscalls.sys_io import fstat_to_user, stat_file
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

OPEN_DROP: u64 = O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_NOFOLLOW   # not kept in the File
LINK_OUT: u64 = 16384    # scratch offset of readlink's result (after the walk's buffers)


def begin_of(t: ptr[Task], dirfd: u64, out: ptr[Path]) -> i64:
    """Where the path in scratch WALK_A starts (relative ones from dirfd)."""
    if t.scratch[WALK_A] == ord(b"/"):
        out.mnt = namei.root.mnt
        out.d = namei.root.d
        return 0
    return namei.start(t, dirfd, out)


def resolve(t: ptr[Task], dirfd: u64, path: u64, flags: u64, out: ptr[Path]) -> i64:
    nd: Nameidata = Nameidata()
    r = namei.walk_user(t, dirfd, path, flags, addr_of(nd))
    if r < 0:
        return r
    out.mnt = nd.path.mnt
    out.d = nd.path.d
    return 0


def open_create(t: ptr[Task], dirfd: u64, path: u64, flags: u64, mode: u64, out: ptr[Path],
                created: ptr[bool]) -> i64:
    """O_CREAT: the last component is made when absent; an existing symlink is followed
    (unless O_NOFOLLOW or O_EXCL)."""
    n = namei.user_path(t, path)
    if n < 0:
        return n
    b: Path = Path()
    r = begin_of(t, dirfd, addr_of(b))
    if r < 0:
        return r
    nd: Nameidata = Nameidata()
    d: ptr[Dentry] = NULL
    r = vfs.parent_and_name(t, addr_of(b), t.scratch + WALK_A, u64(n), addr_of(nd), addr_of(d))
    if r == -EEXIST:
        return -EISDIR      # "/", "." or "..": a directory
    if r < 0:
        return r
    if d.inode == NULL:
        if nd.trailing:
            return -EISDIR
        r = vfs.create(t, addr_of(nd), d, S_IFREG | (mode & ~t.process.umask & 0o7777))
        if r < 0:
            return r
        created[0] = True
        out.mnt = nd.path.mnt
        out.d = d
        return 0
    if flags & O_EXCL != 0:
        return -EEXIST
    if is_lnk(d.inode):
        if flags & O_NOFOLLOW != 0:
            return -ELOOP
        return resolve(t, dirfd, path, LOOKUP_FOLLOW, out)
    out.mnt = nd.path.mnt
    out.d = d
    namei.down(out)
    return 0


def do_open(t: ptr[Task], dirfd: u64, path: u64, flags: u64, mode: u64) -> i64:
    if flags & O_TMPFILE == O_TMPFILE:
        return -EOPNOTSUPP
    p: Path = Path()
    created = False
    r: i64 = 0
    if flags & O_CREAT != 0 and flags & O_PATH == 0:
        r = open_create(t, dirfd, path, flags, mode, addr_of(p), addr_of(created))
    else:
        lf: u64 = 0 if flags & O_NOFOLLOW != 0 else LOOKUP_FOLLOW
        if flags & O_DIRECTORY != 0:
            lf |= LOOKUP_DIRECTORY
        r = resolve(t, dirfd, path, lf, addr_of(p))
    if r < 0:
        return r
    if t.walk_file != 0 and flags & O_PATH == 0:
        # through /proc/PID/fd/N to a file with no path of its own (a pipe, the console, an
        # unlinked file): a new open of that same file (Linux reopens the inode)
        nf: ptr[File] = NULL
        r = vfs.reopen(t, cast(ptr[File], t.walk_file), flags & ~OPEN_DROP, addr_of(nf))
        t.walk_file = 0
        if r < 0:
            return r
        fd = fdtable.alloc(t.process, 0, nf, flags & O_CLOEXEC != 0)
        if fd < 0:
            fdtable.fput_ref(nf)
        return fd
    i = p.d.inode
    if flags & O_PATH != 0:
        flags = flags & (O_PATH | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW)
    else:
        if is_lnk(i):
            return -ELOOP
        if flags & O_DIRECTORY != 0 and not is_dir(i):
            return -ENOTDIR
        write = flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC != 0
        if is_dir(i) and (write or flags & O_CREAT != 0):
            return -EISDIR
        if i.fops == NULL:
            return -ENXIO           # a host device, FIFO or socket: not served yet
        if write:
            r = vfs.prepare_write(t, addr_of(p))
            if r < 0:
                return r
            if flags & O_TRUNC != 0 and not created and u64(i.st.st_mode) & S_IFMT == S_IFREG:
                r = vfs.truncate(t, addr_of(p), 0)
                if r < 0:
                    return r
    f = vfs.open_file(t, addr_of(p), flags & ~OPEN_DROP)
    if f == NULL:
        return -ENFILE
    if i.iops != NULL and i.iops.open != NULL and flags & O_PATH == 0:
        r = i.iops.open(t, f)
        if r < 0:
            fdtable.fput_ref(f)
            return r
    fd = fdtable.alloc(t.process, 0, f, flags & O_CLOEXEC != 0)
    if fd < 0:
        fdtable.fput_ref(f)
    return fd


def sys_open(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, AT_FDCWD, a.a0, a.a1, a.a2)


def sys_openat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, a.a0, a.a1, a.a2, a.a3)


def sys_creat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, AT_FDCWD, a.a0, O_CREAT | O_WRONLY | O_TRUNC, a.a1)


def empty_path(t: ptr[Task], path: u64, flags: u64) -> i64:
    """1 when AT_EMPTY_PATH is given and the path is "", 0 when not, -EFAULT."""
    if flags & AT_EMPTY_PATH == 0:
        return 0
    first: array[u8, 1] = array[u8, 1]()
    if copy_from_user(addr_of(first[0]), path, 1) != 0:
        return -EFAULT
    return 1 if first[0] == 0 else 0


def at_path(t: ptr[Task], dirfd: u64, path: u64, flags: u64, out: ptr[Path]) -> i64:
    """The path an *at call names: dirfd itself with AT_EMPTY_PATH and "", else the walk
    (following a last symlink unless AT_SYMLINK_NOFOLLOW)."""
    e = empty_path(t, path, flags)
    if e < 0:
        return e
    if e == 1:
        dirfd = u64(i64(i32(dirfd)))
        if dirfd == AT_FDCWD:
            namei.cwd(t, out)
            return 0
        f = fdtable.get(t.process, dirfd)
        if f == NULL:
            return -EBADF
        if not namei.file_path(f, out):
            return -ENOENT      # an anonymous file: the caller uses its File
        return 0
    lf: u64 = 0 if flags & AT_SYMLINK_NOFOLLOW != 0 else LOOKUP_FOLLOW
    return resolve(t, dirfd, path, lf, out)


def do_stat(t: ptr[Task], dirfd: u64, path: u64, statbuf: u64, flags: u64) -> i64:
    if flags & ~u64(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0:
        return -EINVAL
    e = empty_path(t, path, flags)
    if e < 0:
        return e
    if e == 1 and u64(i64(i32(dirfd))) != AT_FDCWD:
        return fstat_to_user(t, dirfd, statbuf)
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    p: Path = Path()
    r = at_path(t, dirfd, path, flags, addr_of(p))
    if r < 0:
        return r
    if t.walk_file != 0:             # a magic link to a file without a path: that file's stat
        st: Stat = Stat()
        r = stat_file(cast(ptr[File], t.walk_file), addr_of(st))
        t.walk_file = 0
        if r < 0:
            return r
        return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(p.d.inode.st)), sizeof(Stat))


def sys_newfstatat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, a.a0, a.a1, a.a2, a.a3)


def sys_stat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, AT_FDCWD, a.a0, a.a1, 0)


def sys_lstat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, AT_FDCWD, a.a0, a.a1, AT_SYMLINK_NOFOLLOW)


def do_access(t: ptr[Task], dirfd: u64, path: u64, mode: u64, flags: u64) -> i64:
    """As root: R and W are granted (W is -EROFS on a read-only mount), X needs an execute
    bit or a directory."""
    if mode & ~u64(R_OK | W_OK | X_OK) != 0:
        return -EINVAL
    if flags & ~u64(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0:
        return -EINVAL
    p: Path = Path()
    r = at_path(t, dirfd, path, flags, addr_of(p))
    if r < 0:
        return r
    i = p.d.inode
    if mode & W_OK != 0 and vfs.readonly(addr_of(p)):
        return -EROFS
    if mode & X_OK != 0 and not is_dir(i) and u64(i.st.st_mode) & 0o111 == 0:
        return -EACCES
    return 0


def sys_access(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, AT_FDCWD, a.a0, a.a1, 0)


def sys_faccessat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, a.a0, a.a1, a.a2, 0)


def sys_faccessat2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, a.a0, a.a1, a.a2, a.a3)


def do_readlink(t: ptr[Task], dirfd: u64, path: u64, buf: u64, size: u64) -> i64:
    """The link's target, cut to size (no NUL added), as readlink(2)."""
    if i64(size) <= 0:
        return -EINVAL
    p: Path = Path()
    r = resolve(t, dirfd, path, 0, addr_of(p))
    if r < 0:
        return r
    if not is_lnk(p.d.inode):
        return -EINVAL
    room = size if size < PATH_MAX else PATH_MAX
    out = t.scratch + LINK_OUT
    k = namei.read_link(t, p.d.inode, out)
    if k < 0:
        return k
    if u64(k) > room:
        k = i64(room)
    c = copy_to_user(buf, out, u64(k))
    return c if c < 0 else k


def sys_readlink(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_readlink(t, AT_FDCWD, a.a0, a.a1, a.a2)


def sys_readlinkat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_readlink(t, a.a0, a.a1, a.a2, a.a3)


def sys_getcwd(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    namei.cwd(t, addr_of(p))
    if p.d.inode == NULL:
        return -ENOENT          # the working directory was removed
    n = namei.d_path(addr_of(p), t.scratch, PATH_MAX)
    if n < 0:
        return n
    need = u64(n) + 1
    if a.a1 < need:
        return -ERANGE
    r = copy_to_user(a.a0, t.scratch, need)
    return r if r < 0 else i64(need)


def set_cwd(t: ptr[Task], p: ptr[Path]) -> i64:
    if not is_dir(namei.path_inode(p)):
        return -ENOTDIR
    pr = t.process
    pr.cwd_mnt = u64(p.mnt)
    pr.cwd_dentry = u64(p.d)
    return 0


def sys_chdir(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p: Path = Path()
    r = resolve(t, AT_FDCWD, a.a0, LOOKUP_FOLLOW | LOOKUP_DIRECTORY, addr_of(p))
    if r < 0:
        return r
    return set_cwd(t, addr_of(p))


def sys_fchdir(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL:
        return -EBADF
    p: Path = Path()
    if not namei.file_path(f, addr_of(p)):
        return -ENOTDIR
    return set_cwd(t, addr_of(p))
