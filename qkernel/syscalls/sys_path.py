"""Calls that name files by path: open, openat, creat, newfstatat, stat, lstat, access,
faccessat, faccessat2, readlink, readlinkat, getcwd, chdir.

This slice of the VFS resolves paths on the host, inside the sandbox root (qkernel/fs/hostfile.py):
an absolute path as it is, a relative one after the working directory. The root is read-only
until the overlay lands: opening for writing or creating answers -EROFS. Paths relative to a
directory descriptor other than AT_FDCWD are not resolved yet (-ENOTDIR for a non-directory,
-EOPNOTSUPP otherwise; the dentry cache brings them).
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import NULL, Final, addr_of, array, cast, i32, i64, ptr, sizeof, u8, u64
from qkernel.fs import fdtable, hostfile
from qkernel.fs.node import File
from qkernel.linux.errno import (EACCES, EBADF, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOTDIR,
                                 EOPNOTSUPP, ERANGE, EROFS)
from qkernel.linux.fcntl import (AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW,
                                 O_ACCMODE, O_CLOEXEC, O_CREAT, O_RDONLY, O_TMPFILE, O_TRUNC,
                                 O_WRONLY, PATH_MAX, R_OK, W_OK, X_OK)
from qkernel.linux.stat import S_IFDIR, S_IFMT, Stat
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok, strncpy_from_user
from qkernel.syscalls.sys_io import fstat_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

OPEN_DROP: Final = O_CREAT | O_TRUNC | O_CLOEXEC | 0o200  # flags a File does not keep (O_EXCL is 0o200)
PATH_AT: Final = 8192      # scratch offset of the absolute path built from cwd + a relative one


def user_path(t: ptr[Task], path: u64) -> i64:
    """Copies a user path into scratch[0:PATH_MAX]; its length or -errno."""
    n = strncpy_from_user(t.scratch, path, PATH_MAX)
    if n == -1:
        return -ENAMETOOLONG
    if n == -2 or n < -2:
        return -EFAULT
    if n == 0:
        return -ENOENT
    return n


def abs_path(t: ptr[Task], dirfd: u64, path: u64, out: ptr[ptr[u8]]) -> i64:
    """The path as an absolute path of the root (in the task's scratch): its length or -errno."""
    dirfd = u64(i64(i32(dirfd)))   # an int: AT_FDCWD arrives as 0xffffff9c too
    n = user_path(t, path)
    if n < 0:
        return n
    if t.scratch[0] == ord(b"/"):
        out[0] = t.scratch
        return n
    if dirfd != AT_FDCWD:
        f = fdtable.get(t.process, dirfd)
        if f == NULL:
            return -EBADF
        if f.inode == NULL or f.inode.st.st_mode & S_IFMT != S_IFDIR:
            return -ENOTDIR
        return -EOPNOTSUPP
    p = t.process
    dst = t.scratch + PATH_AT
    m = p.cwd_len
    if m + 1 + u64(n) >= PATH_MAX:
        return -ENAMETOOLONG
    for k in range(m):
        dst[k] = p.cwd[k]
    if m == 0 or dst[m - 1] != ord(b"/"):
        dst[m] = ord(b"/")
        m += 1
    for k in range(u64(n) + 1):
        dst[m + k] = t.scratch[k]
    out[0] = dst
    return i64(m + u64(n))


def do_open(t: ptr[Task], dirfd: u64, path: u64, flags: u64) -> i64:
    if flags & O_TMPFILE == O_TMPFILE:
        return -EOPNOTSUPP
    where: ptr[u8] = NULL
    n = abs_path(t, dirfd, path, addr_of(where))
    if n < 0:
        return n
    if flags & O_ACCMODE != O_RDONLY or flags & (O_CREAT | O_TRUNC) != 0:
        return -EROFS      # the read-only root (the writable overlay is the next slice)
    f: ptr[File] = NULL
    r = hostfile.open_path(where, u64(n), flags & ~u64(OPEN_DROP), addr_of(f))
    if r < 0:
        return r
    fd = fdtable.alloc(t.process, 0, f, flags & O_CLOEXEC != 0)
    if fd < 0:
        fdtable.fput_ref(f)
    return fd


def sys_open(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, AT_FDCWD, a.a0, a.a1)


def sys_openat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, a.a0, a.a1, a.a2)


def sys_creat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_open(t, AT_FDCWD, a.a0, O_CREAT | O_WRONLY | O_TRUNC)


def stat_path(t: ptr[Task], dirfd: u64, path: u64, st: ptr[Stat], nofollow: bool) -> i64:
    where: ptr[u8] = NULL
    n = abs_path(t, dirfd, path, addr_of(where))
    if n < 0:
        return n
    return qcall.file_stat(0, where, u64(n), st, nofollow)


def do_stat(t: ptr[Task], dirfd: u64, path: u64, statbuf: u64, flags: u64) -> i64:
    if flags & ~u64(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800) != 0:
        return -EINVAL
    dirfd = u64(i64(i32(dirfd)))
    if flags & AT_EMPTY_PATH != 0:
        first: array[u8, 1] = array[u8, 1]()
        if copy_from_user(addr_of(first[0]), path, 1) != 0:
            return -EFAULT
        if first[0] == 0:
            if dirfd == AT_FDCWD:
                return stat_to_user(t, AT_FDCWD, b".", statbuf, flags)
            return fstat_to_user(t, dirfd, statbuf)
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = stat_path(t, dirfd, path, addr_of(st), flags & AT_SYMLINK_NOFOLLOW != 0)
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def stat_to_user(t: ptr[Task], dirfd: u64, path: ptr[u8], statbuf: u64, flags: u64) -> i64:
    """stat of a kernel path relative to the cwd (the AT_EMPTY_PATH of AT_FDCWD)."""
    p = t.process
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = qcall.file_stat(0, addr_of(p.cwd[0]), p.cwd_len, addr_of(st), False)
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def sys_newfstatat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, a.a0, a.a1, a.a2, a.a3)


def sys_stat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, AT_FDCWD, a.a0, a.a1, 0)


def sys_lstat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_stat(t, AT_FDCWD, a.a0, a.a1, AT_SYMLINK_NOFOLLOW)


def do_access(t: ptr[Task], dirfd: u64, path: u64, mode: u64, flags: u64) -> i64:
    """The sandbox runs as root: R and W are granted (W is -EROFS on the read-only root), X
    needs an execute bit or a directory."""
    if mode & ~u64(R_OK | W_OK | X_OK) != 0:
        return -EINVAL
    if flags & ~u64(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0:
        return -EINVAL
    st: Stat = Stat()
    r = stat_path(t, dirfd, path, addr_of(st), flags & AT_SYMLINK_NOFOLLOW != 0)
    if r < 0:
        return r
    if mode & W_OK != 0:
        return -EROFS
    if mode & X_OK != 0 and st.st_mode & S_IFMT != S_IFDIR and st.st_mode & 0o111 == 0:
        return -EACCES
    return 0


def sys_access(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, AT_FDCWD, a.a0, a.a1, 0)


def sys_faccessat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, a.a0, a.a1, a.a2, 0)


def sys_faccessat2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_access(t, a.a0, a.a1, a.a2, a.a3)


def is_proc_self_exe(s: ptr[u8], n: u64) -> bool:
    want = b"/proc/self/exe"
    if n != 14:
        return False
    for i in range(14):
        if s[i] != want[i]:
            return False
    return True


def do_readlink(t: ptr[Task], dirfd: u64, path: u64, buf: u64, size: u64) -> i64:
    """/proc/self/exe gives the executable's path (until procfs); others the host's link."""
    if i64(size) <= 0:
        return -EINVAL
    where: ptr[u8] = NULL
    n = abs_path(t, dirfd, path, addr_of(where))
    if n < 0:
        return n
    if is_proc_self_exe(where, u64(n)):
        p = t.process
        count = p.exe_len if p.exe_len < size else size
        r = copy_to_user(buf, addr_of(p.exe[0]), count)
        return r if r < 0 else i64(count)
    if not range_ok(buf, size if size < PATH_MAX else PATH_MAX, True):
        return -EFAULT
    out = t.scratch + PATH_AT + PATH_MAX   # after both path buffers
    room = size if size < PATH_MAX else PATH_MAX
    r = qcall.file_readlink(0, where, u64(n), out, room)
    if r < 0:
        return r
    c = copy_to_user(buf, out, u64(r))
    return c if c < 0 else r


def sys_readlink(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_readlink(t, AT_FDCWD, a.a0, a.a1, a.a2)


def sys_readlinkat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_readlink(t, a.a0, a.a1, a.a2, a.a3)


def sys_getcwd(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p = t.process
    need = p.cwd_len + 1
    if a.a1 < need:
        return -ERANGE
    r = copy_to_user(a.a0, addr_of(p.cwd[0]), need)
    return r if r < 0 else i64(need)


def normalise(src: ptr[u8], n: u64, dst: ptr[u8]) -> u64:
    """Lexical normalisation of an absolute path (".", "..", repeated slashes): its length."""
    m: u64 = 0
    i: u64 = 0
    while i < n:
        while i < n and src[i] == ord(b"/"):
            i += 1
        s = i
        while i < n and src[i] != ord(b"/"):
            i += 1
        ln = i - s
        if ln == 0 or (ln == 1 and src[s] == ord(b".")):
            continue
        if ln == 2 and src[s] == ord(b".") and src[s + 1] == ord(b"."):
            while m > 0 and dst[m - 1] != ord(b"/"):
                m -= 1
            if m > 0:
                m -= 1
            continue
        dst[m] = ord(b"/")
        m += 1
        for k in range(ln):
            dst[m + k] = src[s + k]
        m += ln
    if m == 0:
        dst[0] = ord(b"/")
        m = 1
    dst[m] = 0
    return m


def sys_chdir(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """The directory is checked on the host (its symlinks resolved there); the cwd kept is the
    path as given, normalised lexically."""
    where: ptr[u8] = NULL
    n = abs_path(t, AT_FDCWD, a.a0, addr_of(where))
    if n < 0:
        return n
    st: Stat = Stat()
    r = qcall.file_stat(0, where, u64(n), addr_of(st), False)
    if r < 0:
        return r
    if st.st_mode & S_IFMT != S_IFDIR:
        return -ENOTDIR
    p = t.process
    p.cwd_len = normalise(where, u64(n), addr_of(p.cwd[0]))
    return 0
