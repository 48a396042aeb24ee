"""Linux errno values (asm-generic/errno-base.h, errno.h). Handlers return -E* on failure."""

from __future__ import annotations

from qkernel.dialect import Final, array, i64, ptr, u8

EPERM: Final = 1
ENOENT: Final = 2
ESRCH: Final = 3
EINTR: Final = 4
EIO: Final = 5
ENXIO: Final = 6
E2BIG: Final = 7
ENOEXEC: Final = 8
EBADF: Final = 9
ECHILD: Final = 10
EAGAIN: Final = 11
ENOMEM: Final = 12
EACCES: Final = 13
EFAULT: Final = 14
EBUSY: Final = 16
EEXIST: Final = 17
ENODEV: Final = 19
ENOTDIR: Final = 20
EISDIR: Final = 21
EINVAL: Final = 22
ENFILE: Final = 23
EMFILE: Final = 24
ENOTTY: Final = 25
EFBIG: Final = 27
ENOSPC: Final = 28
ESPIPE: Final = 29
EROFS: Final = 30
EPIPE: Final = 32
ERANGE: Final = 34
ENAMETOOLONG: Final = 36
ENOSYS: Final = 38
ELOOP: Final = 40
EOVERFLOW: Final = 75
EOPNOTSUPP: Final = 95
ETIMEDOUT: Final = 110

ERRNO_MAX: Final = 110
NAMES: array[ptr[u8], 111] = [
    b"", b"EPERM", b"ENOENT", b"ESRCH", b"EINTR", b"EIO", b"ENXIO", b"E2BIG", b"ENOEXEC",
    b"EBADF", b"ECHILD", b"EAGAIN", b"ENOMEM", b"EACCES", b"EFAULT", b"", b"EBUSY", b"EEXIST",
    b"", b"ENODEV", b"ENOTDIR", b"EISDIR", b"EINVAL", b"ENFILE", b"EMFILE", b"ENOTTY", b"",
    b"EFBIG", b"ENOSPC", b"ESPIPE", b"EROFS", b"", b"EPIPE", b"", b"ERANGE", b"",
    b"ENAMETOOLONG", b"", b"ENOSYS", b"", b"ELOOP", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"EOVERFLOW", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"EOPNOTSUPP", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"ETIMEDOUT"]


def name(err: i64) -> ptr[u8]:
    """"ENOENT" for -2 (or 2); b"" for a number this table does not name."""
    e = -err if err < 0 else err
    if e > ERRNO_MAX:
        return b""
    return NAMES[e]
