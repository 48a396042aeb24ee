"""Linux errno values (asm-generic/errno-base.h, errno.h). Handlers return -E* on failure."""

from __future__ import annotations

from qkernel.dialect import Final

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
