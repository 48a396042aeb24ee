"""<sys/uio.h>, <dirent.h>, <poll.h>, <sys/epoll.h>: I/O vectors, directory entries, polling."""

from __future__ import annotations

from qkernel.dialect import Final, struct, i16, i32, i64, u8, u16, u32, u64

IOV_MAX: Final = 1024


@struct
class Iovec:
    iov_base: u64
    iov_len: u64


@struct
class Dirent64:
    """struct linux_dirent64's fixed head; the NUL-terminated name follows at DIRENT64_NAME."""
    d_ino: u64
    d_off: i64
    d_reclen: u16
    d_type: u8


DIRENT64_NAME: Final = 19
DT_UNKNOWN: Final = 0
DT_FIFO: Final = 1
DT_CHR: Final = 2
DT_DIR: Final = 4
DT_BLK: Final = 6
DT_REG: Final = 8
DT_LNK: Final = 10
DT_SOCK: Final = 12


@struct
class Pollfd:
    fd: i32
    events: i16
    revents: i16


POLLIN: Final = 0x1
POLLPRI: Final = 0x2
POLLOUT: Final = 0x4
POLLERR: Final = 0x8
POLLHUP: Final = 0x10
POLLNVAL: Final = 0x20
POLLRDNORM: Final = 0x40
POLLRDBAND: Final = 0x80
POLLWRNORM: Final = 0x100
POLLWRBAND: Final = 0x200
POLLRDHUP: Final = 0x2000


@struct(packed=True)
class EpollEvent:
    """struct epoll_event: packed on x86-64 (12 bytes)."""
    events: u32
    data: u64


EPOLL_CTL_ADD: Final = 1
EPOLL_CTL_DEL: Final = 2
EPOLL_CTL_MOD: Final = 3
EPOLLET: Final = 0x8000_0000
EPOLLONESHOT: Final = 0x4000_0000
EPOLLEXCLUSIVE: Final = 0x1000_0000
