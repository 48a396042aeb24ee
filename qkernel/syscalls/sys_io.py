"""Standard I/O and file metadata: read, write, readv, writev, pread64, pwrite64, close, ioctl,
fstat, newfstatat, readlink. Descriptors 0-2 are the sandbox's stdio on the host (through
qcalls); regular files arrive with the VFS (the filesystem issue): until then other descriptors
are -EBADF and opening is not offered.
"""

from __future__ import annotations

from qkernel.abi import (QCALL_CONSOLE_READ, QCALL_CONSOLE_WRITE, QCALL_STAT, QCALL_STDIO_FSTAT,
                         QCALL_TTY_IOCTL)
from qkernel.dialect import Final, addr_of, array, i64, u8, u64
from qkernel.mm.addr import pa
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok, strncpy_from_user
from qkernel.proc import current
from qkernel.qcall import qcall
from qkernel.syscalls.errno import EBADF, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOTTY, ESPIPE

BOUNCE_SIZE: Final = 65536
IOV_MAX: Final = 1024
TCGETS: Final = 0x5401
TIOCGWINSZ: Final = 0x5413
AT_FDCWD: Final = 0xFFFF_FFFF_FFFF_FF9C  # -100
AT_SYMLINK_NOFOLLOW: Final = 0x100
AT_EMPTY_PATH: Final = 0x1000
PATH_MAX: Final = 4096

bounce: array[u8, 65536] = array[u8, 65536]()   # one CPU, no preemption: one bounce buffer
path_buf: array[u8, 4096] = array[u8, 4096]()
stdio_open: u64 = 7  # bit n: descriptor n is open


def _stdio(fd: u64) -> bool:
    return fd < 3 and (stdio_open >> fd) & 1 != 0


def do_write(fd: u64, buf: u64, n: u64) -> i64:
    """write(2) to fd 1 or 2: bytes written; -EFAULT only when nothing could be written."""
    if not _stdio(fd) or fd == 0:
        return -EBADF
    done: u64 = 0
    while done < n:
        chunk: u64 = n - done
        if chunk > BOUNCE_SIZE:
            chunk = BOUNCE_SIZE
        if copy_from_user(addr_of(bounce[0]), buf + done, chunk) != 0:
            return i64(done) if done > 0 else -EFAULT
        r = i64(qcall(QCALL_CONSOLE_WRITE, fd, pa(u64(addr_of(bounce[0]))), chunk, 0))
        if r < 0:
            return i64(done) if done > 0 else r
        done += u64(r)
        if u64(r) < chunk:
            break
    return i64(done)


def do_read(fd: u64, buf: u64, n: u64) -> i64:
    if fd != 0 or not _stdio(fd):
        return -EBADF
    if n > BOUNCE_SIZE:
        n = BOUNCE_SIZE  # a short read, as from a pipe
    if not range_ok(buf, n, True):  # checked first: a bad buffer must not consume input
        return -EFAULT
    r = i64(qcall(QCALL_CONSOLE_READ, 0, pa(u64(addr_of(bounce[0]))), n, 0))
    if r > 0 and copy_to_user(buf, addr_of(bounce[0]), u64(r)) != 0:
        return -EFAULT
    return r


def sys_write(fd: u64, buf: u64, n: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return do_write(fd, buf, n)


def sys_read(fd: u64, buf: u64, n: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return do_read(fd, buf, n)


def sys_pread_pwrite(fd: u64, buf: u64, n: u64, off: u64, a4: u64, a5: u64) -> i64:
    """pread64/pwrite64 on stdio (a tty or pipe): -ESPIPE, as Linux; other fds -EBADF."""
    return -ESPIPE if _stdio(fd) else -EBADF


iov: array[u64, 2048] = array[u64, 2048]()


def _iovec(fd: u64, vec: u64, count: u64, write: bool) -> i64:
    if count > IOV_MAX:
        return -EINVAL
    if not _stdio(fd):
        return -EBADF
    if copy_from_user(addr_of(iov[0]), vec, count * 16) != 0:
        return -EFAULT
    total: u64 = 0
    for i in range(count):
        base = iov[2 * i]
        length = iov[2 * i + 1]
        if length == 0:
            continue
        r = do_write(fd, base, length) if write else do_read(fd, base, length)
        if r < 0:
            return i64(total) if total > 0 else r
        total += u64(r)
        if u64(r) < length:
            break
    return i64(total)


def sys_writev(fd: u64, vec: u64, count: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return _iovec(fd, vec, count, True)


def sys_readv(fd: u64, vec: u64, count: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return _iovec(fd, vec, count, False)


def sys_close(fd: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    global stdio_open
    if not _stdio(fd):
        return -EBADF
    stdio_open &= ~(u64(1) << fd)
    return 0


def sys_ioctl(fd: u64, request: u64, arg: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if not _stdio(fd):
        return -EBADF
    size: u64 = 0
    if request == TCGETS:
        size = 36  # the kernel's struct termios (libcs convert to their own)
    elif request == TIOCGWINSZ:
        size = 8
    else:
        return -ENOTTY
    if not range_ok(arg, size, True):
        return -EFAULT
    r = i64(qcall(QCALL_TTY_IOCTL, fd, request, pa(u64(addr_of(bounce[0]))), 0))
    if r < 0:
        return r
    return copy_to_user(arg, addr_of(bounce[0]), size)


def sys_fstat(fd: u64, statbuf: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if not _stdio(fd):
        return -EBADF
    if not range_ok(statbuf, 144, True):
        return -EFAULT
    r = i64(qcall(QCALL_STDIO_FSTAT, fd, pa(u64(addr_of(bounce[0]))), 0, 0))
    if r < 0:
        return r
    return copy_to_user(statbuf, addr_of(bounce[0]), 144)


def _user_path(path: u64) -> i64:
    """Copies a user path into path_buf; its length or -errno."""
    n = strncpy_from_user(addr_of(path_buf[0]), path, PATH_MAX)
    if n == -1:
        return -ENAMETOOLONG
    if n == 0:
        return -ENOENT
    return n


def sys_newfstatat(dirfd: u64, path: u64, statbuf: u64, flags: u64, a4: u64, a5: u64) -> i64:
    if flags & AT_EMPTY_PATH != 0:
        first: array[u8, 1] = array[u8, 1]()
        if copy_from_user(addr_of(first[0]), path, 1) == 0 and first[0] == 0:
            return sys_fstat(dirfd, statbuf, 0, 0, 0, 0)
    n = _user_path(path)
    if n < 0:
        return n
    if path_buf[0] != 47 and dirfd != AT_FDCWD:  # relative to a descriptor: no directories yet
        return -EBADF
    if not range_ok(statbuf, 144, True):
        return -EFAULT
    nofollow: u64 = 1 if flags & AT_SYMLINK_NOFOLLOW != 0 else 0
    r = i64(qcall(QCALL_STAT, pa(u64(addr_of(path_buf[0]))), u64(n), pa(u64(addr_of(bounce[0]))), nofollow))
    if r < 0:
        return r
    return copy_to_user(statbuf, addr_of(bounce[0]), 144)


F_DUPFD: Final = 0
F_GETFD: Final = 1
F_SETFD: Final = 2
F_GETFL: Final = 3
F_SETFL: Final = 4
O_WRONLY: Final = 1
O_RDWR: Final = 2
cloexec: u64 = 0  # bit n: FD_CLOEXEC on descriptor n


def sys_fcntl(fd: u64, cmd: u64, arg: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """Descriptor flags of the standard streams (partial: duplicating needs the fd table)."""
    global cloexec
    if not _stdio(fd):
        return -EBADF
    if cmd == F_GETFD:
        return i64((cloexec >> fd) & 1)
    if cmd == F_SETFD:
        cloexec = (cloexec & ~(u64(1) << fd)) | ((arg & 1) << fd)
        return 0
    if cmd == F_GETFL:
        return O_RDWR if fd == 0 else O_WRONLY
    if cmd == F_SETFL:
        return 0
    return -EINVAL


PROC_SELF_EXE: Final = 14  # len(b"/proc/self/exe")


def sys_readlink(path: u64, buf: u64, size: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """readlink("/proc/self/exe") gives the executable's path; other links need the VFS."""
    n = _user_path(path)
    if n < 0:
        return n
    want = b"/proc/self/exe"
    if u64(n) == PROC_SELF_EXE:
        same = True
        for i in range(PROC_SELF_EXE):
            if path_buf[i] != want[i]:
                same = False
        if same:
            count = current.exe_len if current.exe_len < size else size
            r = copy_to_user(buf, addr_of(current.exe[0]), count)
            return r if r < 0 else i64(count)
    return -EINVAL if size == 0 else -ENOENT
