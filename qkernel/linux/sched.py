"""<sched.h>: clone flags, scheduling policies."""

from __future__ import annotations

from qkernel.dialect import Final

CSIGNAL: Final = 0xFF
CLONE_VM: Final = 0x100
CLONE_FS: Final = 0x200
CLONE_FILES: Final = 0x400
CLONE_SIGHAND: Final = 0x800
CLONE_PIDFD: Final = 0x1000
CLONE_PTRACE: Final = 0x2000
CLONE_VFORK: Final = 0x4000
CLONE_PARENT: Final = 0x8000
CLONE_THREAD: Final = 0x10000
CLONE_NEWNS: Final = 0x20000
CLONE_SYSVSEM: Final = 0x40000
CLONE_SETTLS: Final = 0x80000
CLONE_PARENT_SETTID: Final = 0x100000
CLONE_CHILD_CLEARTID: Final = 0x200000
CLONE_DETACHED: Final = 0x400000
CLONE_UNTRACED: Final = 0x800000
CLONE_CHILD_SETTID: Final = 0x1000000
CLONE_NEWCGROUP: Final = 0x2000000
CLONE_NEWUTS: Final = 0x4000000
CLONE_NEWIPC: Final = 0x8000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000
CLONE_IO: Final = 0x80000000

SCHED_OTHER: Final = 0
SCHED_FIFO: Final = 1
SCHED_RR: Final = 2
SCHED_BATCH: Final = 3
SCHED_IDLE: Final = 5
SCHED_RESET_ON_FORK: Final = 0x4000_0000

# <sys/resource.h>: getpriority/setpriority's `which`
PRIO_PROCESS: Final = 0
PRIO_PGRP: Final = 1
PRIO_USER: Final = 2

# <sys/wait.h>: wait4/waitid options and waitid's id types
WNOHANG: Final = 1
WUNTRACED: Final = 2       # wait4: also stopped children (waitid: WSTOPPED)
WSTOPPED: Final = 2
WEXITED: Final = 4
WCONTINUED: Final = 8
WNOWAIT: Final = 0x0100_0000
WNOTHREAD: Final = 0x2000_0000   # __WNOTHREAD
WALL: Final = 0x4000_0000        # __WALL
WCLONE: Final = 0x8000_0000      # __WCLONE
P_ALL: Final = 0
P_PID: Final = 1
P_PGID: Final = 2
P_PIDFD: Final = 3
