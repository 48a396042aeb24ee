"""<sys/stat.h>: file types and modes, struct stat and struct statx."""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, i32, i64, u16, u32, u64

S_IFMT: Final = 0o170000
S_IFSOCK: Final = 0o140000
S_IFLNK: Final = 0o120000
S_IFREG: Final = 0o100000
S_IFBLK: Final = 0o060000
S_IFDIR: Final = 0o040000
S_IFCHR: Final = 0o020000
S_IFIFO: Final = 0o010000
S_ISUID: Final = 0o4000
S_ISGID: Final = 0o2000
S_ISVTX: Final = 0o1000

STATX_TYPE: Final = 0x1
STATX_MODE: Final = 0x2
STATX_NLINK: Final = 0x4
STATX_UID: Final = 0x8
STATX_GID: Final = 0x10
STATX_ATIME: Final = 0x20
STATX_MTIME: Final = 0x40
STATX_CTIME: Final = 0x80
STATX_INO: Final = 0x100
STATX_SIZE: Final = 0x200
STATX_BLOCKS: Final = 0x400
STATX_BASIC_STATS: Final = 0x7FF
STATX_BTIME: Final = 0x800


@struct
class Stat:
    """struct stat as Linux x86-64 lays it out: fstat/newfstatat copy it as is."""
    st_dev: u64
    st_ino: u64
    st_nlink: u64
    st_mode: u32
    st_uid: u32
    st_gid: u32
    pad0: u32
    st_rdev: u64
    st_size: u64
    st_blksize: u64
    st_blocks: u64
    st_atime: u64
    st_atime_nsec: u64
    st_mtime: u64
    st_mtime_nsec: u64
    st_ctime: u64
    st_ctime_nsec: u64
    unused: array[u64, 3]


@struct
class StatxTimestamp:
    tv_sec: i64
    tv_nsec: u32
    reserved: i32


@struct
class Statx:
    stx_mask: u32
    stx_blksize: u32
    stx_attributes: u64
    stx_nlink: u32
    stx_uid: u32
    stx_gid: u32
    stx_mode: u16
    spare0: u16
    stx_ino: u64
    stx_size: u64
    stx_blocks: u64
    stx_attributes_mask: u64
    stx_atime: StatxTimestamp
    stx_btime: StatxTimestamp
    stx_ctime: StatxTimestamp
    stx_mtime: StatxTimestamp
    stx_rdev_major: u32
    stx_rdev_minor: u32
    stx_dev_major: u32
    stx_dev_minor: u32
    spare2: array[u64, 14]


@struct
class Statfs:
    """struct statfs as Linux x86-64 lays it out (statfs, fstatfs)."""
    f_type: i64
    f_bsize: i64
    f_blocks: u64
    f_bfree: u64
    f_bavail: u64
    f_files: u64
    f_ffree: u64
    f_fsid: array[i32, 2]
    f_namelen: i64
    f_frsize: i64
    f_flags: i64
    f_spare: array[i64, 4]

# statfs(2) f_type of the filesystems the sandbox mounts (<linux/magic.h>)
OVERLAYFS_SUPER_MAGIC: Final = 0x794C7630
TMPFS_MAGIC: Final = 0x01021994
PROC_SUPER_MAGIC: Final = 0x9FA0
