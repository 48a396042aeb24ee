"""Standard I/O and file metadata: read, write, readv, writev, pread64, pwrite64, close, ioctl,
fstat, newfstatat, readlink, fcntl. Descriptors 0-2 are the sandbox's stdio on the host (through
qcalls); regular files arrive with the VFS (the filesystem issue): until then other descriptors
are -EBADF and opening is not offered. Data passes through the task's own scratch buffer.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import Final, addr_of, array, cast, i64, ptr, u8, u64
from qkernel.linux.errno import EBADF, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOTTY, ESPIPE
from qkernel.linux.fcntl import (AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, F_GETFD, F_GETFL,
                                 F_SETFD, F_SETFL, FD_CLOEXEC, O_RDWR, O_WRONLY, PATH_MAX)
from qkernel.linux.stat import Stat
from qkernel.linux.tty import TCGETS, TIOCGWINSZ, Termios, Winsize
from qkernel.linux.uio import IOV_MAX, Iovec
from qkernel.dialect import sizeof
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok, strncpy_from_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import hostio
from qkernel.task.process import fd_is_stdio
from qkernel.task.task import SCRATCH_SIZE, Task

IOV_CHUNK: Final = 32  # iovecs copied in at a time (on the kernel stack)


def do_write(t: ptr[Task], fd: u64, buf: u64, n: u64) -> i64:
    """write(2) to fd 1 or 2: bytes written; -EFAULT only when nothing could be written."""
    if not fd_is_stdio(t.process, fd) or fd == 0:
        return -EBADF
    done: u64 = 0
    while done < n:
        chunk: u64 = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        if copy_from_user(t.scratch, buf + done, chunk) != 0:
            return i64(done) if done > 0 else -EFAULT
        r = qcall.console_write(fd, t.scratch, chunk)
        if r < 0:
            return i64(done) if done > 0 else r
        done += u64(r)
        if u64(r) < chunk:
            break
    return i64(done)


def do_read(t: ptr[Task], fd: u64, buf: u64, n: u64) -> i64:
    if fd != 0 or not fd_is_stdio(t.process, fd):
        return -EBADF
    if n > SCRATCH_SIZE:
        n = SCRATCH_SIZE  # a short read, as from a pipe
    if not range_ok(buf, n, True):  # checked first: a bad buffer must not consume input
        return -EFAULT
    r = hostio.console_read(t, 0, t.scratch, n)  # parks t, not the vCPU
    if r > 0 and copy_to_user(buf, t.scratch, u64(r)) != 0:
        return -EFAULT
    return r


def sys_write(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_write(t, a.a0, a.a1, a.a2)


def sys_read(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_read(t, a.a0, a.a1, a.a2)


def sys_pread64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """On stdio (a tty or pipe): -ESPIPE, as Linux; other fds -EBADF."""
    return -ESPIPE if fd_is_stdio(t.process, a.a0) else -EBADF


def sys_pwrite64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return -ESPIPE if fd_is_stdio(t.process, a.a0) else -EBADF


def _iovec(t: ptr[Task], fd: u64, vec: u64, count: u64, write: bool) -> i64:
    if count > IOV_MAX:
        return -EINVAL
    if not fd_is_stdio(t.process, fd):
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
            r = do_write(t, fd, iov[i].iov_base, length) if write else do_read(t, fd, iov[i].iov_base, length)
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


def sys_close(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    fd = a.a0
    if not fd_is_stdio(t.process, fd):
        return -EBADF
    t.process.files.open &= ~(u64(1) << fd)
    t.process.files.cloexec &= ~(u64(1) << fd)
    return 0


def sys_ioctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    fd = a.a0
    request = a.a1
    arg = a.a2
    if not fd_is_stdio(t.process, fd):
        return -EBADF
    size: u64 = 0
    if request == TCGETS:
        size = sizeof(Termios)  # the kernel's struct termios (libcs convert to their own)
    elif request == TIOCGWINSZ:
        size = sizeof(Winsize)
    else:
        return -ENOTTY
    if not range_ok(arg, size, True):
        return -EFAULT
    r = qcall.tty_ioctl(fd, request, t.scratch)
    if r < 0:
        return r
    return copy_to_user(arg, t.scratch, size)


def _fstat(t: ptr[Task], fd: u64, statbuf: u64) -> i64:
    if not fd_is_stdio(t.process, fd):
        return -EBADF
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = qcall.stdio_fstat(fd, addr_of(st))
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def sys_fstat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return _fstat(t, a.a0, a.a1)


def _user_path(t: ptr[Task], path: u64) -> i64:
    """Copies a user path into the task's scratch buffer; its length or -errno."""
    n = strncpy_from_user(t.scratch, path, PATH_MAX)
    if n == -1:
        return -ENAMETOOLONG
    if n == 0:
        return -ENOENT
    return n


def sys_newfstatat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Absolute paths of the root, AT_EMPTY_PATH on stdio; relative ones need the VFS."""
    dirfd = a.a0
    path = a.a1
    statbuf = a.a2
    flags = a.a3
    if flags & AT_EMPTY_PATH != 0:
        first: array[u8, 1] = array[u8, 1]()
        if copy_from_user(addr_of(first[0]), path, 1) == 0 and first[0] == 0:
            return _fstat(t, dirfd, statbuf)
    n = _user_path(t, path)
    if n < 0:
        return n
    if t.scratch[0] != ord(b"/") and dirfd != AT_FDCWD:  # relative to a descriptor: no directories yet
        return -EBADF
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = qcall.file_stat(0, t.scratch, u64(n), addr_of(st), flags & AT_SYMLINK_NOFOLLOW != 0)
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def sys_fcntl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Descriptor flags of the standard streams (partial: duplicating needs the fd table)."""
    fd = a.a0
    cmd = a.a1
    arg = a.a2
    files = addr_of(t.process.files)
    if not fd_is_stdio(t.process, fd):
        return -EBADF
    if cmd == F_GETFD:
        return i64((files.cloexec >> fd) & 1)
    if cmd == F_SETFD:
        files.cloexec = (files.cloexec & ~(u64(1) << fd)) | ((arg & FD_CLOEXEC) << fd)
        return 0
    if cmd == F_GETFL:
        return O_RDWR if fd == 0 else O_WRONLY
    if cmd == F_SETFL:
        return 0
    return -EINVAL


def sys_readlink(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """readlink("/proc/self/exe") gives the executable's path; other links need the VFS."""
    buf = a.a1
    size = a.a2
    n = _user_path(t, a.a0)
    if n < 0:
        return n
    want = b"/proc/self/exe"
    if u64(n) == 14:
        same = True
        for i in range(14):
            if t.scratch[i] != want[i]:
                same = False
        if same:
            p = t.process
            count = p.exe_len if p.exe_len < size else size
            r = copy_to_user(buf, addr_of(p.exe[0]), count)
            return r if r < 0 else i64(count)
    return -EINVAL if size == 0 else -ENOENT
