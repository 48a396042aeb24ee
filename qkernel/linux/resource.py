"""<sys/resource.h>, <sys/sysinfo.h>: resource limits, usage and system information."""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, i64, u8, u16, u32, u64
from qkernel.linux.time import Timeval

RLIMIT_CPU: Final = 0
RLIMIT_FSIZE: Final = 1
RLIMIT_DATA: Final = 2
RLIMIT_STACK: Final = 3
RLIMIT_CORE: Final = 4
RLIMIT_RSS: Final = 5
RLIMIT_NPROC: Final = 6
RLIMIT_NOFILE: Final = 7
RLIMIT_MEMLOCK: Final = 8
RLIMIT_AS: Final = 9
RLIMIT_LOCKS: Final = 10
RLIMIT_SIGPENDING: Final = 11
RLIMIT_MSGQUEUE: Final = 12
RLIMIT_NICE: Final = 13
RLIMIT_RTPRIO: Final = 14
RLIMIT_RTTIME: Final = 15
RLIMIT_NLIMITS: Final = 16
RLIM_INFINITY: Final = 0xFFFF_FFFF_FFFF_FFFF

RUSAGE_SELF: Final = 0
RUSAGE_CHILDREN: Final = 0xFFFF_FFFF_FFFF_FFFF  # -1
RUSAGE_THREAD: Final = 1


@struct
class Rlimit:
    rlim_cur: u64
    rlim_max: u64


@struct
class Rusage:
    ru_utime: Timeval
    ru_stime: Timeval
    ru_maxrss: i64
    ru_ixrss: i64
    ru_idrss: i64
    ru_isrss: i64
    ru_minflt: i64
    ru_majflt: i64
    ru_nswap: i64
    ru_inblock: i64
    ru_oublock: i64
    ru_msgsnd: i64
    ru_msgrcv: i64
    ru_nsignals: i64
    ru_nvcsw: i64
    ru_nivcsw: i64


@struct
class Sysinfo:
    uptime: i64
    loads: array[u64, 3]
    totalram: u64
    freeram: u64
    sharedram: u64
    bufferram: u64
    totalswap: u64
    freeswap: u64
    procs: u16
    pad: u16
    totalhigh: u64
    freehigh: u64
    mem_unit: u32
    f: array[u8, 4]
