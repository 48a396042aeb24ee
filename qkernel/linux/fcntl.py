"""<fcntl.h>, <unistd.h>: open flags, *at() flags, fcntl commands, access modes, lseek whence."""

from __future__ import annotations

from qkernel.dialect import Final

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
FD_CLOEXEC: Final = 1

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
