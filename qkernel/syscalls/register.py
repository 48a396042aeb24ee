"""Every system call QKernel implements, with its support status (the table's one listing).

SUPPORTED: Linux semantics for what the sandbox has. PARTIAL: the note says what is missing.
Anything not listed returns -ENOSYS and is logged once.
"""

from __future__ import annotations

from qkernel.dialect import u8
from qkernel.syscalls import sys_info, sys_io, sys_mm, sys_process, sys_time
from qkernel.syscalls import numbers as n
from qkernel.syscalls.table import STATUS_PARTIAL, STATUS_SUPPORTED, register


def register_all() -> None:
    S: u8 = STATUS_SUPPORTED
    P: u8 = STATUS_PARTIAL
    register(n.SYS_read, b"read", sys_io.sys_read, P)              # stdin only (no VFS yet)
    register(n.SYS_write, b"write", sys_io.sys_write, P)           # stdout/stderr only
    register(n.SYS_readv, b"readv", sys_io.sys_readv, P)
    register(n.SYS_writev, b"writev", sys_io.sys_writev, P)
    register(n.SYS_pread64, b"pread64", sys_io.sys_pread_pwrite, P)    # ESPIPE on stdio
    register(n.SYS_pwrite64, b"pwrite64", sys_io.sys_pread_pwrite, P)
    register(n.SYS_close, b"close", sys_io.sys_close, P)
    register(n.SYS_ioctl, b"ioctl", sys_io.sys_ioctl, P)           # TCGETS, TIOCGWINSZ on stdio
    register(n.SYS_fstat, b"fstat", sys_io.sys_fstat, P)           # stdio
    register(n.SYS_newfstatat, b"newfstatat", sys_io.sys_newfstatat, P)  # absolute paths, stdio
    register(n.SYS_readlink, b"readlink", sys_io.sys_readlink, P)  # /proc/self/exe
    register(n.SYS_exit, b"exit", sys_process.sys_exit_group, P)   # one thread: exit == exit_group
    register(n.SYS_exit_group, b"exit_group", sys_process.sys_exit_group, S)
    register(n.SYS_getpid, b"getpid", sys_process.sys_getpid, S)
    register(n.SYS_gettid, b"gettid", sys_process.sys_getpid, S)
    register(n.SYS_getppid, b"getppid", sys_process.sys_getppid, S)
    register(n.SYS_getuid, b"getuid", sys_process.sys_getid_zero, S)
    register(n.SYS_geteuid, b"geteuid", sys_process.sys_getid_zero, S)
    register(n.SYS_getgid, b"getgid", sys_process.sys_getid_zero, S)
    register(n.SYS_getegid, b"getegid", sys_process.sys_getid_zero, S)
    register(n.SYS_set_tid_address, b"set_tid_address", sys_process.sys_set_tid_address, S)
    register(n.SYS_set_robust_list, b"set_robust_list", sys_process.sys_set_robust_list, S)
    register(n.SYS_arch_prctl, b"arch_prctl", sys_process.sys_arch_prctl, P)  # FS only
    register(n.SYS_prctl, b"prctl", sys_process.sys_prctl, P)      # PR_SET_NAME, PR_GET_NAME
    register(n.SYS_uname, b"uname", sys_process.sys_uname, S)
    register(n.SYS_sched_yield, b"sched_yield", sys_process.sys_sched_yield, S)
    register(n.SYS_sched_getaffinity, b"sched_getaffinity", sys_process.sys_sched_getaffinity, S)
    register(n.SYS_clock_gettime, b"clock_gettime", sys_time.sys_clock_gettime, S)
    register(n.SYS_gettimeofday, b"gettimeofday", sys_time.sys_gettimeofday, S)
    register(n.SYS_time, b"time", sys_time.sys_time, S)
    register(n.SYS_nanosleep, b"nanosleep", sys_time.sys_nanosleep, P)  # no signals to interrupt it
    register(n.SYS_clock_nanosleep, b"clock_nanosleep", sys_time.sys_clock_nanosleep, P)
    register(n.SYS_sysinfo, b"sysinfo", sys_info.sys_sysinfo, P)
    register(n.SYS_getrandom, b"getrandom", sys_info.sys_getrandom, S)
    register(n.SYS_getrlimit, b"getrlimit", sys_info.sys_getrlimit, P)
    register(n.SYS_prlimit64, b"prlimit64", sys_info.sys_prlimit64, P)  # setting is ignored
    register(n.SYS_brk, b"brk", sys_mm.sys_brk, S)
    register(n.SYS_mmap, b"mmap", sys_mm.sys_mmap, P)              # anonymous only (no VFS yet)
    register(n.SYS_munmap, b"munmap", sys_mm.sys_munmap, S)
    register(n.SYS_mprotect, b"mprotect", sys_mm.sys_mprotect, S)
    register(n.SYS_mremap, b"mremap", sys_mm.sys_mremap, S)
    register(n.SYS_madvise, b"madvise", sys_mm.sys_madvise, P)     # DONTNEED zeroes; hints accepted
    register(n.SYS_fcntl, b"fcntl", sys_io.sys_fcntl, P)           # F_GETFD/SETFD/GETFL/SETFL on stdio
    register(n.SYS_umask, b"umask", sys_process.sys_umask, S)
    register(n.SYS_getrusage, b"getrusage", sys_time.sys_getrusage, P)  # times only
    register(n.SYS_setuid, b"setuid", sys_process.sys_setid, P)    # only to the current id (0)
    register(n.SYS_setgid, b"setgid", sys_process.sys_setid, P)
    register(n.SYS_getpgrp, b"getpgrp", sys_process.sys_getpgrp, S)
    register(n.SYS_getsid, b"getsid", sys_process.sys_getpgid, S)
    register(n.SYS_getpgid, b"getpgid", sys_process.sys_getpgid, S)
    register(n.SYS_getgroups, b"getgroups", sys_process.sys_getgroups, S)
    register(n.SYS_getresuid, b"getresuid", sys_process.sys_getresid, S)
    register(n.SYS_getresgid, b"getresgid", sys_process.sys_getresid, S)
    register(n.SYS_sched_getparam, b"sched_getparam", sys_process.sys_sched_getparam, S)
    register(n.SYS_sched_getscheduler, b"sched_getscheduler", sys_process.sys_sched_getscheduler, S)
    register(n.SYS_clock_getres, b"clock_getres", sys_time.sys_clock_getres, S)
    register(n.SYS_getcpu, b"getcpu", sys_process.sys_getcpu, S)
