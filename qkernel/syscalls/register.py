"""Every system call QKernel knows, as one listing of data: number, handler, status, note.

SUPPORTED: Linux semantics for what the sandbox has. PARTIAL: the note says what is missing.
ENOSYS rows name what brings the call (the note is shown by --strace and in the once-per-number
log). Anything not listed returns -ENOSYS with its Linux name. Adding a system call is one row
here and one handler in the family's module.
"""

from __future__ import annotations

from qkernel.dialect import NULL, u8
from qkernel.linux import sysno as n
from qkernel.syscalls import sys_fd, sys_info, sys_io, sys_mm, sys_path, sys_time
from qkernel.syscalls import sys_process as p
from qkernel.syscalls.table import STATUS_ENOSYS, STATUS_PARTIAL, STATUS_SUPPORTED, register


def register_all() -> None:
    S: u8 = STATUS_SUPPORTED
    P: u8 = STATUS_PARTIAL
    X: u8 = STATUS_ENOSYS
    # ---- I/O on open files (sys_io.py), through each file kind's ops table
    register(n.SYS_read, sys_io.sys_read, S, b"")
    register(n.SYS_write, sys_io.sys_write, S, b"")
    register(n.SYS_readv, sys_io.sys_readv, S, b"")
    register(n.SYS_writev, sys_io.sys_writev, S, b"")
    register(n.SYS_pread64, sys_io.sys_pread64, S, b"")
    register(n.SYS_pwrite64, sys_io.sys_pwrite64, P, b"no writable files until the overlay and tmpfs")
    register(n.SYS_lseek, sys_io.sys_lseek, S, b"")
    register(n.SYS_ioctl, sys_io.sys_ioctl, P, b"TCGETS and TIOCGWINSZ on the console")
    register(n.SYS_fstat, sys_io.sys_fstat, S, b"")
    register(n.SYS_getdents64, sys_io.sys_getdents64, S, b"")
    # ---- descriptors (sys_fd.py)
    register(n.SYS_close, sys_fd.sys_close, S, b"")
    register(n.SYS_dup, sys_fd.sys_dup, S, b"")
    register(n.SYS_dup2, sys_fd.sys_dup2, S, b"")
    register(n.SYS_dup3, sys_fd.sys_dup3, S, b"")
    register(n.SYS_fcntl, sys_fd.sys_fcntl, P, b"no record locks, F_SETOWN or leases")
    # ---- paths (sys_path.py): resolved on the host inside the root, read-only for now
    register(n.SYS_open, sys_path.sys_open, P, b"read-only root (EROFS for writes) until the overlay")
    register(n.SYS_openat, sys_path.sys_openat, P, b"read-only root; dirfd other than AT_FDCWD: EOPNOTSUPP")
    register(n.SYS_creat, sys_path.sys_creat, P, b"read-only root: EROFS until the overlay")
    register(n.SYS_newfstatat, sys_path.sys_newfstatat, P, b"dirfd other than AT_FDCWD: EOPNOTSUPP")
    register(n.SYS_stat, sys_path.sys_stat, S, b"")
    register(n.SYS_lstat, sys_path.sys_lstat, S, b"")
    register(n.SYS_access, sys_path.sys_access, P, b"as root; W_OK is EROFS on the read-only root")
    register(n.SYS_faccessat, sys_path.sys_faccessat, P, b"as root; W_OK is EROFS on the read-only root")
    register(n.SYS_faccessat2, sys_path.sys_faccessat2, P, b"as root; W_OK is EROFS on the read-only root")
    register(n.SYS_readlink, sys_path.sys_readlink, P, b"/proc/self/exe; other links of the root")
    register(n.SYS_readlinkat, sys_path.sys_readlinkat, P, b"/proc/self/exe; other links of the root")
    register(n.SYS_getcwd, sys_path.sys_getcwd, S, b"")
    register(n.SYS_chdir, sys_path.sys_chdir, P, b"the cwd is kept as a normalised path")
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
    register(n.SYS_statx, NULL, X, b"the VFS (filesystem issue)")
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
