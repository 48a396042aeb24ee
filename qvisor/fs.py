"""The host side of the sandbox's file access: confined path resolution, file handles, stat and
readlink (qcalls QCALL_OPEN .. QCALL_READLINK).

Owns: one sandbox's view of its root (a host directory, default "/") and the table of host file
descriptors behind the guest's file handles. HostFiles is a host service (qvisor/services): its
@qcall methods are registered with the QcallServer that is given it as `files` (no HostFiles:
those qcalls answer -ENOSYS). The console's tty ioctls and stdin are the Console service's
(qvisor/services/console.py); HostFiles only carries `stdin` to it (None: the sandbox's fd 0
was closed when qvisor started, and the Console answers -EBADF for it).

Confinement contract (the guest is hostile; this module is the security boundary for files):

* Read-only. Files are only ever opened O_RDONLY (or O_PATH); no qcall writes, creates, renames
  or deletes a host file.
* Every path is resolved *inside the root* by Linux itself: openat2(2) (Linux >= 5.6) against an
  O_PATH descriptor of the root, held for the sandbox's lifetime, with RESOLVE_IN_ROOT |
  RESOLVE_NO_MAGICLINKS. Absolute guest paths start at the root, `..` at the root stays at the
  root, symlinks (absolute or relative, in any component, up to Linux's 40) are resolved inside
  the root, and /proc-style magic links (/proc/self/root, /proc/self/fd/N, ...) are never
  followed (-ELOOP). Linux re-checks each resolution against concurrent renames (-EAGAIN, which
  is retried a few times here). There is no fallback: if openat2 is unavailable (ENOSYS, or
  refused by a seccomp filter), HostFiles() raises HostFilesError and QVisor refuses to serve the
  root at all; it never falls back to an unconfined open or to a walk of its own.
* No side effects of opening: a path is first opened O_PATH (the file's driver is not involved),
  checked with fstat/fstatfs, and only regular files and directories are then reopened
  O_RDONLY|O_NONBLOCK|O_NOCTTY (the reopen must find the same st_dev/st_ino). Devices, FIFOs
  and sockets are never opened for reading (OPEN: -EACCES; STAT describes them). Files on the
  host kernel's interface filesystems (procfs, sysfs, debugfs, tracefs, securityfs, cgroup, bpf,
  configfs, efivarfs, pstore) are refused with -EACCES by every qcall, so a root of "/" exposes
  neither the VMM's /proc/self/{mem,environ,...} nor readlink() of host paths; the guest kernel
  provides its own /proc and /sys.
* STAT with nofollow and READLINK open the last component itself (O_PATH|O_NOFOLLOW gives a
  descriptor of a symlink), then fstat / readlinkat(fd, "") it: Linux resolves "", ".", ".."
  and trailing slashes exactly as lstat(2)/readlink(2) would, with no hand-written splitting.
* Guest paths: (path_pa, path_len) bytes in guest memory; at most PATH_MAX bytes are read, and
  the path ends at the first NUL, as a C string would (so "a\\0b" is "a"). A path of PATH_MAX
  (4096) bytes or more without a NUL is -ENAMETOOLONG, as Linux's getname(); "" is -ENOENT.
* Every guest address range is checked (GuestMemory.check raises GuestFault, which the
  QcallServer answers with -EFAULT) BEFORE any side effect: before a handle is allocated or a
  file opened.
* Handles are indices into a table of HOST_FILES_MAX host descriptors (lowest free first,
  -EMFILE beyond), validated on every use (-EBADF). The table is locked for each operation, so
  a handle's descriptor can never be closed and reused under a concurrent operation. close_all()
  closes every descriptor, the root's too; afterwards every file qcall answers -EBADF.

Errors are Linux's own errno values from the host calls, passed through as -errno.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat as st_
import threading
from typing import Any, Callable

from qkernel import abi as K
from qkernel.dialect import layout

from .memory import GuestMemory
from .services.base import Service, qcall

PATH_MAX = 4096                   # Linux's, including the terminating NUL
MAX_RW_COUNT = 0x7FFF_F000        # Linux's cap on one read (INT_MAX & PAGE_MASK)
TERMIOS_SIZE = 36                 # Linux x86-64 struct termios (what TCGETS copies out)
WINSIZE_SIZE = 8

# openat2(2)
SYS_openat2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_EAGAIN_RETRIES = 8

# f_type of host filesystems whose files are the host kernel's interfaces, never the sandbox's
REFUSED_FS = {
    0x9FA0: "proc", 0x62656572: "sysfs", 0x64626720: "debugfs", 0x74726163: "tracefs",
    0x73636673: "securityfs", 0x27E0EB: "cgroup", 0x63677270: "cgroup2", 0xCAFE4A11: "bpf",
    0x62656570: "configfs", 0xDE5E81E4: "efivarfs", 0x6165676C: "pstore",
}

_OPEN_FLAGS = K.OPEN_DIRECTORY | K.OPEN_NOFOLLOW
_STAT = layout(K.Stat)
STAT_SIZE = _STAT.size            # 144: Linux x86-64 struct stat


class HostFilesError(RuntimeError):
    """The sandbox root cannot be served confined (no openat2, or not a directory)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_fstatfs = _libc.fstatfs
_fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
_fstatfs.restype = ctypes.c_int


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def openat2(dirfd: int, path: bytes, flags: int, resolve: int = RESOLVE) -> int:
    """openat2(2) (raises OSError); EAGAIN from a concurrent rename or mount is retried."""
    if b"\0" in path:
        raise _err(errno.EINVAL)
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    for _ in range(_EAGAIN_RETRIES):
        fd = _syscall(ctypes.c_long(SYS_openat2), ctypes.c_long(dirfd), ctypes.c_char_p(path),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code not in (errno.EAGAIN, errno.EINTR):
            raise _err(code)
    raise _err(errno.EAGAIN)


def fs_type(fd: int) -> int:
    """statfs f_type of the filesystem holding fd (works on O_PATH descriptors)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86-64
    if _fstatfs(fd, buf) != 0:
        raise _err(ctypes.get_errno())
    return int.from_bytes(buf.raw[:8], "little")


def pack_stat(s: os.stat_result) -> bytes:
    """A Linux x86-64 struct stat (K.Stat's layout) from a host stat result."""
    a_s, a_ns = divmod(s.st_atime_ns, 10**9)
    m_s, m_ns = divmod(s.st_mtime_ns, 10**9)
    c_s, c_ns = divmod(s.st_ctime_ns, 10**9)
    values = {
        "st_dev": s.st_dev, "st_ino": s.st_ino, "st_nlink": s.st_nlink, "st_mode": s.st_mode,
        "st_uid": s.st_uid, "st_gid": s.st_gid, "st_rdev": s.st_rdev, "st_size": s.st_size,
        "st_blksize": s.st_blksize, "st_blocks": s.st_blocks,
        "st_atime": a_s, "st_atime_nsec": a_ns, "st_mtime": m_s, "st_mtime_nsec": m_ns,
        "st_ctime": c_s, "st_ctime_nsec": c_ns,
    }
    buf = bytearray(_STAT.size)
    for name, v in values.items():
        off, size, _ = _STAT.fields[name]
        buf[off: off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(buf)


def guest_path(mem: GuestMemory, pa: int, length: int) -> bytes:
    """The path at (pa, length) in guest memory: up to the first NUL, at most PATH_MAX bytes read
    (GuestFault if they are not in guest memory), -ENAMETOOLONG (OSError) when too long."""
    raw = mem.read(pa, min(length, PATH_MAX))
    nul = raw.find(b"\0")
    if nul >= 0:
        return raw[:nul]
    if len(raw) >= PATH_MAX:
        raise _err(errno.ENAMETOOLONG)
    return raw


def _errno_result(method: Callable[..., int]) -> Callable[..., int]:
    """Host OSErrors become -errno results (GuestFault passes through: the server's EFAULT)."""
    @functools.wraps(method)   # keeps the signature: the server counts the qcall's arguments
    def wrapper(*args: Any) -> int:
        try:
            return method(*args)
        except OSError as e:
            return -(e.errno or errno.EIO)
    return wrapper


class HostFiles(Service):
    """One sandbox's files: its root (a host directory) and its open handles. See the module
    docstring for the confinement contract. Path-level methods raise OSError; the q_* methods
    are the qcalls, registered with the QcallServer as a service (results >= 0 or -errno;
    GuestFault for bad guest ranges). `stdin` is the sandbox's console input (the server's
    Console serves it)."""

    def __init__(self, root: str = "/", *, stdin: int | None = 0) -> None:
        self.root = root
        self.stdin = stdin        # None: the sandbox's fd 0 was closed when qvisor started
        self._lock = threading.RLock()
        self._fds: list[int | None] = [None] * K.HOST_FILES_MAX
        self._root_fd: int | None = None
        try:
            self._root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise HostFilesError(f"sandbox root {root!r}: {e.strerror}") from None
        try:
            os.close(openat2(self._root_fd, b".", os.O_PATH))
        except OSError as e:
            os.close(self._root_fd)
            self._root_fd = None
            raise HostFilesError(
                f"openat2(2) with RESOLVE_IN_ROOT is unavailable here ({e.strerror}); it needs "
                "Linux >= 5.6 and no seccomp filter refusing it. QVisor does not serve a root "
                "without it") from None

    # ---- lifetime
    def close_all(self) -> None:
        """Closes every handle and the root; later file qcalls answer -EBADF. Idempotent."""
        with self._lock:
            for h, fd in enumerate(self._fds):
                if fd is not None:
                    self._fds[h] = None
                    os.close(fd)
            if self._root_fd is not None:
                os.close(self._root_fd)
                self._root_fd = None

    close = close_all

    def __enter__(self) -> "HostFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def __del__(self) -> None:
        try:
            self.close_all()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ---- resolution (all under the lock)
    def _rootfd(self) -> int:
        if self._root_fd is None:
            raise _err(errno.EBADF)
        return self._root_fd

    def _opath(self, path: bytes, nofollow: bool, directory: bool = False) -> tuple[int, os.stat_result]:
        """An O_PATH descriptor of `path` resolved in the root, and its fstat; refused
        filesystems give -EACCES. With nofollow, a final symlink is itself the result."""
        flags = os.O_PATH | (os.O_NOFOLLOW if nofollow else 0) | (os.O_DIRECTORY if directory else 0)
        fd = openat2(self._rootfd(), path, flags)
        try:
            s = os.fstat(fd)
            if fs_type(fd) in REFUSED_FS:
                raise _err(errno.EACCES)
        except BaseException:
            os.close(fd)
            raise
        return fd, s

    def open_path(self, path: bytes, flags: int = 0) -> int:
        """Opens `path` (OPEN_* flags) for reading; returns a handle. Raises OSError."""
        if flags & ~_OPEN_FLAGS:
            raise _err(errno.EINVAL)
        nofollow, directory = bool(flags & K.OPEN_NOFOLLOW), bool(flags & K.OPEN_DIRECTORY)
        with self._lock:
            try:
                h = self._fds.index(None)
            except ValueError:
                raise _err(errno.EMFILE) from None
            for _ in range(_EAGAIN_RETRIES):
                pfd, s = self._opath(path, nofollow, directory)
                os.close(pfd)
                if st_.S_ISLNK(s.st_mode):   # only with nofollow: open(O_NOFOLLOW) says ELOOP
                    raise _err(errno.ELOOP)
                if not (st_.S_ISREG(s.st_mode) or st_.S_ISDIR(s.st_mode)):
                    raise _err(errno.EACCES)  # devices, FIFOs, sockets: never opened
                oflags = (os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY
                          | (os.O_NOFOLLOW if nofollow else 0)
                          | (os.O_DIRECTORY if st_.S_ISDIR(s.st_mode) else 0))
                fd = openat2(self._rootfd(), path, oflags)
                again = os.fstat(fd)
                if (again.st_dev, again.st_ino) == (s.st_dev, s.st_ino):
                    self._fds[h] = fd
                    return h
                os.close(fd)                  # replaced between the two opens: resolve again
            raise _err(errno.EAGAIN)

    def host_fd(self, handle: int) -> int:
        """The host descriptor behind a handle (OSError EBADF when it is not open)."""
        if not 0 <= handle < len(self._fds):
            raise _err(errno.EBADF)
        fd = self._fds[handle]
        if fd is None:
            raise _err(errno.EBADF)
        return fd

    def close_handle(self, handle: int) -> None:
        with self._lock:
            fd = self.host_fd(handle)
            self._fds[handle] = None
            os.close(fd)

    def stat_path(self, path: bytes, nofollow: bool = False) -> os.stat_result:
        with self._lock:
            fd, s = self._opath(path, nofollow)
            os.close(fd)
            return s

    def readlink_path(self, path: bytes) -> bytes:
        with self._lock:
            fd, s = self._opath(path, True)
            try:
                if not st_.S_ISLNK(s.st_mode):
                    raise _err(errno.EINVAL)
                return os.readlink(b"", dir_fd=fd)
            finally:
                os.close(fd)

    @property
    def open_handles(self) -> int:
        return sum(fd is not None for fd in self._fds)

    # ---- qcalls: (args...) -> result >= 0 | -errno (GuestFault: the server's -EFAULT)
    @qcall(K.QCALL_OPEN)
    @_errno_result
    def q_open(self, path_pa: int, path_len: int, flags: int) -> int:
        return self.open_path(guest_path(self.memory, path_pa, path_len), flags)

    @qcall(K.QCALL_PREAD)
    @_errno_result
    def q_pread(self, handle: int, buf_pa: int, length: int, offset: int) -> int:
        mem = self.memory
        with self._lock:
            fd = self.host_fd(handle)
            mem.check(buf_pa, length)          # the whole range first, as access_ok
            if offset >= 1 << 63:              # a negative loff_t
                raise _err(errno.EINVAL)
            n = min(length, MAX_RW_COUNT)
            with mem.view(buf_pa, n) as window:
                return os.preadv(fd, [window], offset)

    @qcall(K.QCALL_CLOSE)
    @_errno_result
    def q_close(self, handle: int) -> int:
        self.close_handle(handle)
        return 0

    @qcall(K.QCALL_FSTAT)
    @_errno_result
    def q_fstat(self, handle: int, stat_pa: int) -> int:
        mem = self.memory
        with self._lock:
            fd = self.host_fd(handle)
            mem.check(stat_pa, _STAT.size)
            mem.write(stat_pa, pack_stat(os.fstat(fd)))
            return 0

    @qcall(K.QCALL_STAT)
    @_errno_result
    def q_stat(self, path_pa: int, path_len: int, stat_pa: int, nofollow: int) -> int:
        mem = self.memory
        path = guest_path(mem, path_pa, path_len)
        mem.check(stat_pa, _STAT.size)
        mem.write(stat_pa, pack_stat(self.stat_path(path, bool(nofollow))))
        return 0

    @qcall(K.QCALL_READLINK)
    @_errno_result
    def q_readlink(self, path_pa: int, path_len: int, buf_pa: int, buf_len: int) -> int:
        mem = self.memory
        path = guest_path(mem, path_pa, path_len)
        if buf_len == 0 or buf_len >= 1 << 31:  # readlink(2)'s int bufsiz must be > 0
            raise _err(errno.EINVAL)
        mem.check(buf_pa, min(buf_len, PATH_MAX))  # all that a link target can fill
        target = self.readlink_path(path)[:buf_len]
        mem.write(buf_pa, target)
        return len(target)
