"""<sys/epoll.h>'s creation flags, <sys/eventfd.h>, <sys/timerfd.h>, <sys/signalfd.h>: the
flags of the event files and the record signalfd(2) reads (epoll_event and the EPOLL_CTL_*
operations are in uio.py, beside poll's)."""

from __future__ import annotations

from qkernel.dialect import Final, array, i32, struct, u8, u16, u32, u64

EPOLL_CLOEXEC: Final = 0o2000000
EFD_SEMAPHORE: Final = 1
EFD_CLOEXEC: Final = 0o2000000
EFD_NONBLOCK: Final = 0o4000
TFD_CLOEXEC: Final = 0o2000000
TFD_NONBLOCK: Final = 0o4000
TFD_TIMER_ABSTIME: Final = 1
TFD_TIMER_CANCEL_ON_SET: Final = 2
SFD_CLOEXEC: Final = 0o2000000
SFD_NONBLOCK: Final = 0o4000


@struct
class SignalfdSiginfo:
    """struct signalfd_siginfo: 128 bytes."""
    ssi_signo: u32
    ssi_errno: i32
    ssi_code: i32
    ssi_pid: u32
    ssi_uid: u32
    ssi_fd: i32
    ssi_tid: u32
    ssi_band: u32
    ssi_overrun: u32
    ssi_trapno: u32
    ssi_status: i32
    ssi_int: i32
    ssi_ptr: u64
    ssi_utime: u64
    ssi_stime: u64
    ssi_addr: u64
    ssi_addr_lsb: u16
    pad2: u16
    ssi_syscall: i32
    ssi_call_addr: u64
    ssi_arch: u32
    pad: array[u8, 28]
