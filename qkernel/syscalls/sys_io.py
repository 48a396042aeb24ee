"""Reading and writing open files: read, write, readv, writev, pread64, pwrite64, lseek, ioctl,
fstat, getdents64. Each handler finds the File in the descriptor table, checks the access mode
and delegates to the file kind's ops table (qkernel/fs/node.py FileOps); a NULL operation gives
the Linux error for it.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, ptr, sizeof, u8, u32, u64
from qkernel.fs import fdtable
from qkernel.fs.node import File
from qkernel.linux.errno import EBADF, EFAULT, EINVAL, EISDIR, ENOTDIR, ENOTTY, ESPIPE
from qkernel.linux.fcntl import O_ACCMODE, O_ASYNC, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY
from qkernel.linux.tty import FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD
from qkernel.linux.stat import S_IFDIR, S_IFMT, S_IFREG, Stat
from qkernel.linux.uio import IOV_MAX, Iovec
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

IOV_CHUNK: Final = 32  # iovecs copied in at a time (on the kernel stack)
LOFF_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF


def readable(t: ptr[Task], fd: u64) -> ptr[File]:
    """The File of fd when open for reading, else NULL (-EBADF for the caller)."""
    f = fdtable.get(t.process, fd)
    if f == NULL or f.flags & O_PATH != 0 or f.flags & O_ACCMODE == O_WRONLY:
        return NULL
    return f


def writable(t: ptr[Task], fd: u64) -> ptr[File]:
    f = fdtable.get(t.process, fd)
    if f == NULL or f.flags & O_PATH != 0 or f.flags & O_ACCMODE == O_RDONLY:
        return NULL
    return f


def is_dir(f: ptr[File]) -> bool:
    return f.inode != NULL and f.inode.st.st_mode & S_IFMT == S_IFDIR


def file_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.ops.read == NULL:
        return -EISDIR if is_dir(f) else -EINVAL
    return f.ops.read(t, f, buf, n, pos)


def file_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.ops.write == NULL:
        return -EBADF if not is_dir(f) else -EISDIR
    return f.ops.write(t, f, buf, n, pos)


def sys_read(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = readable(t, a.a0)
    if f == NULL:
        return -EBADF
    return file_read(t, f, a.a1, a.a2, addr_of(f.pos))


def sys_write(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = writable(t, a.a0)
    if f == NULL:
        return -EBADF
    return file_write(t, f, a.a1, a.a2, addr_of(f.pos))


def positional(t: ptr[Task], a: ptr[SyscallArgs], write: bool) -> i64:
    """pread64/pwrite64: at offset a3, the File's own offset untouched; -ESPIPE where there
    are no offsets (pipes, the console)."""
    f = writable(t, a.a0) if write else readable(t, a.a0)
    if f == NULL:
        return -EBADF
    if f.ops.llseek == NULL:
        return -ESPIPE
    if a.a3 > LOFF_MAX:
        return -EINVAL
    pos = a.a3
    if write:
        return file_write(t, f, a.a1, a.a2, addr_of(pos))
    return file_read(t, f, a.a1, a.a2, addr_of(pos))


def sys_pread64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return positional(t, a, False)


def sys_pwrite64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return positional(t, a, True)


def _iovec(t: ptr[Task], fd: u64, vec: u64, count: u64, write: bool) -> i64:
    if count > IOV_MAX:
        return -EINVAL
    f = writable(t, fd) if write else readable(t, fd)
    if f == NULL:
        return -EBADF
    iov: array[Iovec, 32] = array[Iovec, 32]()
    total: u64 = 0
    base: u64 = 0
    while base < count:
        n = count - base
        if n > IOV_CHUNK:
            n = IOV_CHUNK
        if copy_from_user(cast(ptr[u8], addr_of(iov[0])), vec + base * sizeof(Iovec), n * sizeof(Iovec)) != 0:
            return i64(total) if total > 0 else -EFAULT
        for i in range(n):
            length = iov[i].iov_len
            if length == 0:
                continue
            r: i64 = 0
            if write:
                r = file_write(t, f, iov[i].iov_base, length, addr_of(f.pos))
            else:
                r = file_read(t, f, iov[i].iov_base, length, addr_of(f.pos))
            if r < 0:
                return i64(total) if total > 0 else r
            total += u64(r)
            if u64(r) < length:
                return i64(total)
        base += n
    return i64(total)


def sys_writev(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return _iovec(t, a.a0, a.a1, a.a2, True)


def sys_readv(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return _iovec(t, a.a0, a.a1, a.a2, False)


def sys_lseek(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL:
        return -EBADF
    if f.ops.llseek == NULL:
        return -ESPIPE
    return f.ops.llseek(f, i64(a.a1), a.a2)


def flag_ioctl(f: ptr[File], flag: u64, arg: u64) -> i64:
    """FIONBIO/FIOASYNC: an int at arg, nonzero sets the status flag, zero clears it."""
    on: u32 = 0
    if copy_from_user(cast(ptr[u8], addr_of(on)), arg, 4) != 0:
        return -EFAULT
    f.flags = f.flags | flag if on != 0 else f.flags & ~flag
    return 0


def sys_ioctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """The requests every file has (Linux's do_vfs_ioctl: FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC;
    FIONREAD of a regular file: the bytes after the offset), then the file's own ops."""
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    req = a.a1 & 0xFFFF_FFFF
    if req == FIOCLEX or req == FIONCLEX:
        fdtable.set_cloexec(t.process, a.a0, req == FIOCLEX)
        return 0
    if req == FIONBIO:
        return flag_ioctl(f, O_NONBLOCK, a.a2)
    if req == FIOASYNC:
        return flag_ioctl(f, O_ASYNC, a.a2)       # kept; no SIGIO is sent
    if req == FIONREAD and u64(f.inode.st.st_mode) & S_IFMT == S_IFREG:
        size = u64(f.inode.st.st_size)
        left: u32 = u32((size - f.pos) & 0xFFFF_FFFF)     # an int, negative past the end (Linux's)
        return copy_to_user(a.a2, cast(ptr[u8], addr_of(left)), 4)
    if f.ops.ioctl == NULL:
        return -ENOTTY
    return f.ops.ioctl(t, f, req, a.a2)


def stat_file(f: ptr[File], st: ptr[Stat]) -> i64:
    if f.ops.fstat != NULL:
        return f.ops.fstat(f, st)
    st[0] = f.inode.st
    return 0


def fstat_to_user(t: ptr[Task], fd: u64, statbuf: u64) -> i64:
    f = fdtable.get(t.process, fd)
    if f == NULL:
        return -EBADF
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = stat_file(f, addr_of(st))
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def sys_fstat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return fstat_to_user(t, a.a0, a.a1)


def sys_getdents64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    if f.ops.getdents == NULL:
        return -ENOTDIR
    return f.ops.getdents(t, f, a.a1, a.a2)
