"""Every system call QKernel knows, as one listing of data: number, handler, status, note.

SUPPORTED: Linux semantics for what the sandbox has. PARTIAL: the note says what is missing.
ENOSYS rows name what brings the call (the note is shown by --strace and in the once-per-number
log). Anything not listed returns -ENOSYS with its Linux name. Adding a system call is one row
here and one handler in the family's module.
"""

from __future__ import annotations

from qkernel.dialect import NULL, u8
from qkernel.linux import sysno as n
from qkernel.syscalls import sys_info, sys_io, sys_mm, sys_time
from qkernel.syscalls import sys_process as p
from qkernel.syscalls.table import STATUS_ENOSYS, STATUS_PARTIAL, STATUS_SUPPORTED, register


def register_all() -> None:
    S: u8 = STATUS_SUPPORTED
    P: u8 = STATUS_PARTIAL
    X: u8 = STATUS_ENOSYS
    # ---- I/O (sys_io.py): the sandbox's stdio until the VFS
    register(n.SYS_read, sys_io.sys_read, P, b"fd 0 (the sandbox's stdin) only until the VFS")
    register(n.SYS_write, sys_io.sys_write, P, b"fds 1 and 2 only until the VFS")
    register(n.SYS_readv, sys_io.sys_readv, P, b"fd 0 only until the VFS")
    register(n.SYS_writev, sys_io.sys_writev, P, b"fds 1 and 2 only until the VFS")
    register(n.SYS_pread64, sys_io.sys_pread64, P, b"ESPIPE on stdio; files need the VFS")
    register(n.SYS_pwrite64, sys_io.sys_pwrite64, P, b"ESPIPE on stdio; files need the VFS")
    register(n.SYS_close, sys_io.sys_close, P, b"stdio only until the VFS")
    register(n.SYS_ioctl, sys_io.sys_ioctl, P, b"TCGETS and TIOCGWINSZ on stdio")
    register(n.SYS_fstat, sys_io.sys_fstat, P, b"stdio only until the VFS")
    register(n.SYS_newfstatat, sys_io.sys_newfstatat, P, b"absolute paths of the root and stdio")
    register(n.SYS_readlink, sys_io.sys_readlink, P, b"/proc/self/exe only until procfs")
    register(n.SYS_fcntl, sys_io.sys_fcntl, P, b"F_GETFD/SETFD/GETFL/SETFL on stdio; F_DUPFD needs the fd table")
    # ---- processes (sys_process.py)
    register(n.SYS_exit, p.sys_exit, P, b"one thread per process: exit ends the process")
    register(n.SYS_exit_group, p.sys_exit_group, S, b"")
    register(n.SYS_getpid, p.sys_getpid, S, b"")
    register(n.SYS_gettid, p.sys_gettid, S, b"")
    register(n.SYS_getppid, p.sys_getppid, S, b"")
    register(n.SYS_getuid, p.sys_getuid, S, b"")
    register(n.SYS_geteuid, p.sys_geteuid, S, b"")
    register(n.SYS_getgid, p.sys_getgid, S, b"")
    register(n.SYS_getegid, p.sys_getegid, S, b"")
    register(n.SYS_getresuid, p.sys_getresuid, S, b"")
    register(n.SYS_getresgid, p.sys_getresgid, S, b"")
    register(n.SYS_getgroups, p.sys_getgroups, S, b"")
    register(n.SYS_setuid, p.sys_setuid, P, b"only to the current uid")
    register(n.SYS_setgid, p.sys_setgid, P, b"only to the current gid")
    register(n.SYS_getpgrp, p.sys_getpgrp, S, b"")
    register(n.SYS_getpgid, p.sys_getpgid, P, b"the caller only until fork")
    register(n.SYS_getsid, p.sys_getsid, P, b"the caller only until fork")
    register(n.SYS_set_tid_address, p.sys_set_tid_address, S, b"")
    register(n.SYS_set_robust_list, p.sys_set_robust_list, S, b"")
    register(n.SYS_arch_prctl, p.sys_arch_prctl, P, b"ARCH_SET_FS and ARCH_GET_FS")
    register(n.SYS_prctl, p.sys_prctl, P, b"PR_SET_NAME and PR_GET_NAME")
    register(n.SYS_uname, p.sys_uname, S, b"")
    register(n.SYS_umask, p.sys_umask, S, b"")
    register(n.SYS_sched_yield, p.sys_sched_yield, S, b"")
    register(n.SYS_sched_getaffinity, p.sys_sched_getaffinity, S, b"")
    register(n.SYS_sched_getparam, p.sys_sched_getparam, S, b"")
    register(n.SYS_sched_getscheduler, p.sys_sched_getscheduler, S, b"")
    register(n.SYS_getcpu, p.sys_getcpu, S, b"")
    # ---- time (sys_time.py)
    register(n.SYS_clock_gettime, sys_time.sys_clock_gettime, S, b"")
    register(n.SYS_gettimeofday, sys_time.sys_gettimeofday, S, b"")
    register(n.SYS_time, sys_time.sys_time, S, b"")
    register(n.SYS_clock_getres, sys_time.sys_clock_getres, S, b"")
    register(n.SYS_nanosleep, sys_time.sys_nanosleep, P, b"no signal can interrupt it yet")
    register(n.SYS_clock_nanosleep, sys_time.sys_clock_nanosleep, P, b"no signal can interrupt it yet")
    register(n.SYS_getrusage, sys_time.sys_getrusage, P, b"user time only")
    # ---- information and limits (sys_info.py)
    register(n.SYS_sysinfo, sys_info.sys_sysinfo, P, b"memory and procs; no loads or uptime")
    register(n.SYS_getrandom, sys_info.sys_getrandom, S, b"")
    register(n.SYS_getrlimit, sys_info.sys_getrlimit, P, b"reported, not enforced")
    register(n.SYS_prlimit64, sys_info.sys_prlimit64, P, b"reported; setting is ignored")
    # ---- memory (sys_mm.py)
    register(n.SYS_brk, sys_mm.sys_brk, S, b"")
    register(n.SYS_mmap, sys_mm.sys_mmap, P, b"anonymous only until the VFS")
    register(n.SYS_munmap, sys_mm.sys_munmap, S, b"")
    register(n.SYS_mprotect, sys_mm.sys_mprotect, S, b"")
    register(n.SYS_mremap, sys_mm.sys_mremap, S, b"")
    register(n.SYS_madvise, sys_mm.sys_madvise, P, b"DONTNEED/FREE drop pages; hints accepted")
    # ---- not yet: what brings them
    register(n.SYS_rseq, NULL, X, b"optional: the libcs fall back")
    register(n.SYS_open, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_openat, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_lseek, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_getdents64, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_getcwd, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_chdir, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_statx, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_access, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_faccessat, NULL, X, b"the VFS (filesystem issue)")
    register(n.SYS_dup, NULL, X, b"the fd table (filesystem issue)")
    register(n.SYS_dup2, NULL, X, b"the fd table (filesystem issue)")
    register(n.SYS_dup3, NULL, X, b"the fd table (filesystem issue)")
    register(n.SYS_pipe, NULL, X, b"pipes (filesystem issue)")
    register(n.SYS_pipe2, NULL, X, b"pipes (filesystem issue)")
    register(n.SYS_poll, NULL, X, b"poll/select (filesystem issue)")
    register(n.SYS_fork, NULL, X, b"fork (processes issue)")
    register(n.SYS_vfork, NULL, X, b"vfork (processes issue)")
    register(n.SYS_clone, NULL, X, b"clone (processes issue)")
    register(n.SYS_clone3, NULL, X, b"clone (processes issue)")
    register(n.SYS_execve, NULL, X, b"execve (processes issue)")
    register(n.SYS_wait4, NULL, X, b"wait (processes issue)")
    register(n.SYS_kill, NULL, X, b"signals (processes issue)")
    register(n.SYS_rt_sigaction, NULL, X, b"signals (processes issue)")
    register(n.SYS_rt_sigprocmask, NULL, X, b"signals (processes issue)")
    register(n.SYS_sigaltstack, NULL, X, b"signals (processes issue)")
    register(n.SYS_futex, NULL, X, b"futex (processes issue)")
    register(n.SYS_epoll_create1, NULL, X, b"epoll (processes issue)")
    register(n.SYS_socket, NULL, X, b"sockets (networking issue)")
