"""The Process: everything a thread group shares (pid, the family, credentials, the address
space, descriptors, cwd, umask, name, limits, exit status). Threads (Tasks) point at it.

fork (qkernel/syscalls/sys_clone.py) copies a Process; qkernel/task/family.py keeps the tree
(parent, children, siblings) and reaps zombies. The descriptor table holds the VFS's Files
(qkernel/fs/fdtable.py operates it).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, memcpy, ptr, struct, u8, u32, u64
from qkernel.linux.resource import RLIM_INFINITY, RLIMIT_NLIMITS, RLIMIT_NOFILE, RLIMIT_STACK, Rlimit
from qkernel.linux.signal import KSigaction
from qkernel.linux.utsname import TASK_COMM_LEN
from qkernel.mm.vma import AddressSpace

NGROUPS_MAX: Final = 32   # supplementary groups kept (Linux allows 65536)
EXE_MAX: Final = 256
STDIO_FDS: Final = 3

PROC_ALIVE: Final = 0
PROC_ZOMBIE: Final = 1    # exited, its status not yet collected by the parent

JOB_STOPPED: Final = 1       # Process.jobctl: stopped by a stop signal (until SIGCONT)
JOB_REPORT_STOP: Final = 2   # the stop is not yet reported to a wait of the parent
JOB_REPORT_CONT: Final = 4   # the continue is not yet reported (WCONTINUED)


@struct
class Creds:
    """Credentials: the sandbox runs as root inside (0 everywhere) unless a program changes it."""
    uid: u32
    euid: u32
    suid: u32
    fsuid: u32
    gid: u32
    egid: u32
    sgid: u32
    fsgid: u32
    ngroups: u32
    groups: array[u32, 32]


@struct
class FdTable:
    """The descriptor table (qkernel/fs/fdtable.py operates it): `cap` slots in frames from
    the direct map; slot n holds descriptor n's File pointer with FD_CLOEXEC in bit 0 (Files
    are 16-byte aligned), 0 when n is free."""
    table: ptr[u64]
    cap: u64
    npages: u64


@struct
class Process:
    pid: u64
    ppid: u64
    pgid: u64
    sid: u64
    state: u64                    # PROC_*
    exit_status: u64              # the wait status once a zombie
    parent: ptr[Process]
    first_child: ptr[Process]
    next_sibling: ptr[Process]
    nthreads: u64
    creds: Creds
    mm: ptr[AddressSpace]
    files: FdTable
    umask: u64
    start_ns: u64                 # CLOCK_MONOTONIC when the process started (getrusage)
    rlimits: array[Rlimit, 16]
    name: array[u8, 16]           # comm: prctl(PR_SET_NAME), NUL-terminated
    exe: array[u8, 256]           # the executable's path in the root (/proc/self/exe)
    exe_len: u64
    arg_start: u64                # [arg_start, arg_end): argv strings in its memory (/proc/PID/cmdline)
    arg_end: u64
    env_start: u64                # [env_start, env_end): envp strings (/proc/PID/environ)
    env_end: u64
    cwd_mnt: u64                  # the working directory: a qkernel.fs Mount and Dentry
    cwd_dentry: u64
    leader: u64                   # its first thread (a Task; freed when the zombie is reaped)
    exit_signal: u64              # sent to the parent at exit (clone's low byte: SIGCHLD)
    vfork_parent: u64             # the Task a vfork parent waits in, until this execs or exits
    sigactions: array[KSigaction, 64]   # dispositions, per signal number - 1 (rt_sigaction)
    group_exit: u64               # 1 once exit_group or a fatal signal ends every thread
    itimer_deadline: u64          # ITIMER_REAL: CLOCK_MONOTONIC ns of the next SIGALRM (0: off)
    itimer_interval: u64          # and its period (0: one shot)
    vtimer_deadline: u64          # ITIMER_VIRTUAL: user-time ns of the next SIGVTALRM (0: off)
    vtimer_interval: u64
    ptimer_deadline: u64          # ITIMER_PROF: user+system ns of the next SIGPROF (0: off)
    ptimer_interval: u64
    utime_cycles: u64             # the CPU time of its threads, ended ones too (cputime.py)
    stime_cycles: u64
    cutime_ns: u64                # reaped children's (and theirs): RUSAGE_CHILDREN, times()
    cstime_ns: u64
    jobctl: u64                   # JOB_*: stopped, and what its parent's waits have yet to see
    stop_sig: u64                 # the signal that stopped it


def init_fields(p: ptr[Process], pid: u64) -> None:
    """A new process's defaults (the object comes zeroed): ids, stdio, umask 022, limits."""
    p.pid = pid
    p.pgid = pid
    p.sid = pid
    p.state = PROC_ALIVE
    p.parent = NULL
    p.umask = 0o022
    for r in range(RLIMIT_NLIMITS):
        p.rlimits[r].rlim_cur = RLIM_INFINITY
        p.rlimits[r].rlim_max = RLIM_INFINITY
    p.rlimits[RLIMIT_STACK].rlim_cur = 8 << 20     # Linux's defaults for a fresh login
    p.rlimits[RLIMIT_NOFILE].rlim_cur = 1024
    p.rlimits[RLIMIT_NOFILE].rlim_max = 4096


def set_name(p: ptr[Process], text: ptr[u8], n: u64) -> None:
    """comm from n bytes (at most TASK_COMM_LEN - 1 kept, NUL-terminated)."""
    for i in range(TASK_COMM_LEN):
        p.name[i] = 0
    j: u64 = 0
    while j < n and j < TASK_COMM_LEN - 1 and text[j] != 0:
        p.name[j] = text[j]
        j += 1


def set_exe(p: ptr[Process], path: ptr[u8], n: u64) -> None:
    """The executable's path (/proc/self/exe), at most EXE_MAX - 1 bytes kept."""
    m = n if n < EXE_MAX - 1 else EXE_MAX - 1
    memcpy(addr_of(p.exe[0]), path, m)
    p.exe[m] = 0
    p.exe_len = m


def set_name_from_path(p: ptr[Process], path: ptr[u8], n: u64) -> None:
    """comm: the executable's basename (as Linux's __set_task_comm at exec)."""
    start: u64 = 0
    for i in range(n):
        if path[i] == ord(b"/"):
            start = i + 1
    set_name(p, path + start, n - start)


