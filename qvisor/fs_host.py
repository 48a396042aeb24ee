"""Host primitives of the sandbox's file service (qvisor/fs.py, qvisor/fs_write.py): openat2(2),
the filesystem type of a descriptor, the O_PATH-checked reopen, futimens(2), errno helpers and
the reading of guest path and name strings, and the records of a sandbox's trees and handles.
No state; the confinement contract is fs.py's.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from .memory import GuestMemory

PATH_MAX = 4096                   # Linux's, including the terminating NUL
NAME_MAX = 255                    # one path component
MAX_RW_COUNT = 0x7FFF_F000        # Linux's cap on one read or write (INT_MAX & PAGE_MASK)

# openat2(2)
SYS_openat2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
EAGAIN_RETRIES = 8

# f_type of host filesystems whose files are the host kernel's interfaces, never the sandbox's
REFUSED_FS = {
    0x9FA0: "proc", 0x62656572: "sysfs", 0x64626720: "debugfs", 0x74726163: "tracefs",
    0x73636673: "securityfs", 0x27E0EB: "cgroup", 0x63677270: "cgroup2", 0xCAFE4A11: "bpf",
    0x62656570: "configfs", 0xDE5E81E4: "efivarfs", 0x6165676C: "pstore",
}

UTIME_OMIT = (1 << 30) - 2        # Linux's tv_nsec value: leave this time as it is
PROC_SELF_FD = "/proc/self/fd"    # where reopen() finds a descriptor's own inode


@dataclass
class Tree:
    """One host tree: tree 0 the root (guest "/", never rw), 1..n the binds."""
    host_dir: str
    guest_path: str
    rw: bool
    fd: int | None = None       # O_PATH descriptor of host_dir; None once closed


@dataclass
class Handle:
    """One open guest file handle."""
    fd: int
    tree: int
    is_dir: bool
    writable: bool
    listing: Any = field(default=None, repr=False)   # fs_write.Listing, taken by GETDENTS


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_fstatfs = _libc.fstatfs
_fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
_fstatfs.restype = ctypes.c_int
_futimens = _libc.futimens
_futimens.argtypes = [ctypes.c_int, ctypes.POINTER(_Timespec)]
_futimens.restype = ctypes.c_int


def err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def openat2(dirfd: int, path: bytes, flags: int, resolve: int = RESOLVE) -> int:
    """openat2(2) (raises OSError); EAGAIN from a concurrent rename or mount is retried."""
    if b"\0" in path:
        raise err(errno.EINVAL)
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    for _ in range(EAGAIN_RETRIES):
        fd = _syscall(ctypes.c_long(SYS_openat2), ctypes.c_long(dirfd), ctypes.c_char_p(path),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code not in (errno.EAGAIN, errno.EINTR):
            raise err(code)
    raise err(errno.EAGAIN)


def fs_type(fd: int) -> int:
    """statfs f_type of the filesystem holding fd (works on O_PATH descriptors)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86-64
    if _fstatfs(fd, buf) != 0:
        raise err(ctypes.get_errno())
    return int.from_bytes(buf.raw[:8], "little")


def reopen(pfd: int, s: os.stat_result, flags: int, by_name: Callable[[int], int]) -> int | None:
    """Opens the file that the O_PATH descriptor `pfd` (whose fstat is `s`) names, with `flags`:
    through /proc/self/fd/N, which opens that very inode (no window in which a rename could put
    a device under the name), or, where the host has no /proc, by_name(flags) (the same path
    resolved again). Returns the descriptor, or None when the file opened is not (st_dev, st_ino)
    of `s` (it was replaced meanwhile: the caller resolves again)."""
    try:
        # the magic link itself must be followed: O_NOFOLLOW applies to the name, checked by pfd
        fd = os.open(f"{PROC_SELF_FD}/{pfd}", (flags & ~os.O_NOFOLLOW) | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.isdir(PROC_SELF_FD):
            raise
        fd = by_name(flags)
    again = os.fstat(fd)
    if (again.st_dev, again.st_ino) != (s.st_dev, s.st_ino):
        os.close(fd)
        return None
    return fd


def futimens(fd: int, atime_ns: int | None, mtime_ns: int | None) -> None:
    """futimens(2); None leaves that time as it is (UTIME_OMIT). Raises OSError."""
    ts = (_Timespec * 2)()
    for i, t in enumerate((atime_ns, mtime_ns)):
        if t is None:
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_OMIT
        else:
            ts[i].tv_sec, ts[i].tv_nsec = divmod(t, 10**9)
    if _futimens(fd, ts) != 0:
        raise err(ctypes.get_errno())


def guest_path(mem: GuestMemory, pa: int, length: int) -> bytes:
    """The path at (pa, length) in guest memory: up to the first NUL, at most PATH_MAX bytes read
    (GuestFault if they are not in guest memory), -ENAMETOOLONG (OSError) when too long."""
    raw = mem.read(pa, min(length, PATH_MAX))
    nul = raw.find(b"\0")
    if nul >= 0:
        return raw[:nul]
    if len(raw) >= PATH_MAX:
        raise err(errno.ENAMETOOLONG)
    return raw


def guest_name(mem: GuestMemory, pa: int, length: int) -> bytes:
    """One path component at (pa, length): up to the first NUL (as guest_path), at most NAME_MAX
    + 1 bytes read (GuestFault outside guest memory). OSError EINVAL for "", ".", ".." or a
    name with a "/", ENAMETOOLONG beyond NAME_MAX bytes."""
    raw = mem.read(pa, min(length, NAME_MAX + 1))
    nul = raw.find(b"\0")
    name = raw[:nul] if nul >= 0 else raw
    if len(name) > NAME_MAX:
        raise err(errno.ENAMETOOLONG)
    if name in (b"", b".", b"..") or b"/" in name:
        raise err(errno.EINVAL)
    return name


def errno_result(method: Callable[..., int]) -> Callable[..., int]:
    """Host OSErrors become -errno results (GuestFault passes through: the server's EFAULT)."""
    @functools.wraps(method)   # keeps the signature: the server counts the qcall's arguments
    def wrapper(*args: Any) -> int:
        try:
            return method(*args)
        except OSError as e:
            return -(e.errno or errno.EIO)
    return wrapper
