"""<fcntl.h>, <unistd.h>: open flags, *at() flags, fcntl commands, access modes, lseek whence."""

from __future__ import annotations

from qkernel.dialect import Final, i16, i32, i64, struct

O_RDONLY: Final = 0
O_WRONLY: Final = 1
O_RDWR: Final = 2
O_ACCMODE: Final = 3
O_CREAT: Final = 0o100
O_EXCL: Final = 0o200
O_NOCTTY: Final = 0o400
O_TRUNC: Final = 0o1000
O_APPEND: Final = 0o2000
O_NONBLOCK: Final = 0o4000
O_DSYNC: Final = 0o10000
O_ASYNC: Final = 0o20000
O_DIRECT: Final = 0o40000
O_LARGEFILE: Final = 0o100000
O_DIRECTORY: Final = 0o200000
O_NOFOLLOW: Final = 0o400000
O_NOATIME: Final = 0o1000000
O_CLOEXEC: Final = 0o2000000
O_SYNC: Final = 0o4010000
O_PATH: Final = 0o10000000
O_TMPFILE: Final = 0o20200000

AT_FDCWD: Final = 0xFFFF_FFFF_FFFF_FF9C  # -100 as the u64 a register holds
AT_SYMLINK_NOFOLLOW: Final = 0x100
AT_EACCESS: Final = 0x200
AT_REMOVEDIR: Final = 0x200
AT_SYMLINK_FOLLOW: Final = 0x400
AT_NO_AUTOMOUNT: Final = 0x800
AT_EMPTY_PATH: Final = 0x1000

F_DUPFD: Final = 0
F_GETFD: Final = 1
F_SETFD: Final = 2
F_GETFL: Final = 3
F_SETFL: Final = 4
F_GETLK: Final = 5
F_SETLK: Final = 6
F_SETLKW: Final = 7
F_SETOWN: Final = 8
F_GETOWN: Final = 9
F_DUPFD_CLOEXEC: Final = 1030
F_SETPIPE_SZ: Final = 1031
F_GETPIPE_SZ: Final = 1032
F_ADD_SEALS: Final = 1033
F_GET_SEALS: Final = 1034
F_OFD_GETLK: Final = 36
F_OFD_SETLK: Final = 37
F_OFD_SETLKW: Final = 38
FD_CLOEXEC: Final = 1

# struct flock's l_type
F_RDLCK: Final = 0
F_WRLCK: Final = 1
F_UNLCK: Final = 2


@struct
class Flock:
    """struct flock (x86-64: the same as flock64)."""
    l_type: i16
    l_whence: i16
    l_start: i64
    l_len: i64
    l_pid: i32


# flock(2)
LOCK_SH: Final = 1
LOCK_EX: Final = 2
LOCK_NB: Final = 4
LOCK_UN: Final = 8

# file seals (F_ADD_SEALS)
F_SEAL_SEAL: Final = 1
F_SEAL_SHRINK: Final = 2
F_SEAL_GROW: Final = 4
F_SEAL_WRITE: Final = 8
F_SEAL_FUTURE_WRITE: Final = 16
F_SEAL_EXEC: Final = 32

# memfd_create(2)
MFD_CLOEXEC: Final = 1
MFD_ALLOW_SEALING: Final = 2
MFD_HUGETLB: Final = 4
MFD_NOEXEC_SEAL: Final = 8
MFD_EXEC: Final = 16
MFD_NAME_MAX: Final = 249     # NAME_MAX - strlen("memfd:")

# preadv2/pwritev2 flags
RWF_HIPRI: Final = 1
RWF_DSYNC: Final = 2
RWF_SYNC: Final = 4
RWF_NOWAIT: Final = 8
RWF_APPEND: Final = 16
RWF_NOAPPEND: Final = 32
RWF_ATOMIC: Final = 64
RWF_DONTCACHE: Final = 128
RWF_SUPPORTED: Final = 0xFF

# fallocate(2) modes
FALLOC_FL_KEEP_SIZE: Final = 1
FALLOC_FL_PUNCH_HOLE: Final = 2
FALLOC_FL_COLLAPSE_RANGE: Final = 8
FALLOC_FL_ZERO_RANGE: Final = 16
FALLOC_FL_INSERT_RANGE: Final = 32
FALLOC_FL_UNSHARE_RANGE: Final = 64
FALLOC_FL_WRITE_ZEROES: Final = 128

# splice(2), tee(2)
SPLICE_F_MOVE: Final = 1
SPLICE_F_NONBLOCK: Final = 2
SPLICE_F_MORE: Final = 4
SPLICE_F_GIFT: Final = 8

# posix_fadvise(2)
POSIX_FADV_NORMAL: Final = 0
POSIX_FADV_RANDOM: Final = 1
POSIX_FADV_SEQUENTIAL: Final = 2
POSIX_FADV_WILLNEED: Final = 3
POSIX_FADV_DONTNEED: Final = 4
POSIX_FADV_NOREUSE: Final = 5

F_OK: Final = 0
X_OK: Final = 1
W_OK: Final = 2
R_OK: Final = 4

SEEK_SET: Final = 0
SEEK_CUR: Final = 1
SEEK_END: Final = 2

PATH_MAX: Final = 4096
NAME_MAX: Final = 255
SYMLOOP_MAX: Final = 40  # Linux's limit on symlinks followed in one path walk (ELOOP past it)
