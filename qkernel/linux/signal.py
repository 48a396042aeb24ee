"""<signal.h> as the kernel sees it: signal numbers, sigaction flags, sigprocmask, and the records
(the kernel's struct sigaction, siginfo_t, stack_t)."""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, i32, u64

SIGHUP: Final = 1
SIGINT: Final = 2
SIGQUIT: Final = 3
SIGILL: Final = 4
SIGTRAP: Final = 5
SIGABRT: Final = 6
SIGBUS: Final = 7
SIGFPE: Final = 8
SIGKILL: Final = 9
SIGUSR1: Final = 10
SIGSEGV: Final = 11
SIGUSR2: Final = 12
SIGPIPE: Final = 13
SIGALRM: Final = 14
SIGTERM: Final = 15
SIGSTKFLT: Final = 16
SIGCHLD: Final = 17
SIGCONT: Final = 18
SIGSTOP: Final = 19
SIGTSTP: Final = 20
SIGTTIN: Final = 21
SIGTTOU: Final = 22
SIGURG: Final = 23
SIGXCPU: Final = 24
SIGXFSZ: Final = 25
SIGVTALRM: Final = 26
SIGPROF: Final = 27
SIGWINCH: Final = 28
SIGIO: Final = 29
SIGPWR: Final = 30
SIGSYS: Final = 31
SIGRTMIN: Final = 32   # the kernel's; libcs reserve the first few for themselves
SIGRTMAX: Final = 64
NSIG: Final = 64

SA_NOCLDSTOP: Final = 1
SA_NOCLDWAIT: Final = 2
SA_SIGINFO: Final = 4
SA_RESTORER: Final = 0x0400_0000
SA_ONSTACK: Final = 0x0800_0000
SA_RESTART: Final = 0x1000_0000
SA_NODEFER: Final = 0x4000_0000
SA_RESETHAND: Final = 0x8000_0000

SIG_DFL: Final = 0
SIG_IGN: Final = 1
SIG_BLOCK: Final = 0
SIG_UNBLOCK: Final = 1
SIG_SETMASK: Final = 2

SS_ONSTACK: Final = 1
SS_DISABLE: Final = 2
MINSIGSTKSZ: Final = 2048

SI_USER: Final = 0
SI_KERNEL: Final = 0x80
SI_QUEUE: Final = -1
SI_TKILL: Final = -6
SEGV_MAPERR: Final = 1
SEGV_ACCERR: Final = 2
CLD_EXITED: Final = 1
CLD_KILLED: Final = 2
CLD_DUMPED: Final = 3


@struct
class KSigaction:
    """struct sigaction as rt_sigaction(2) takes it on x86-64 (sigset is 8 bytes)."""
    handler: u64
    flags: u64
    restorer: u64
    mask: u64


@struct
class Siginfo:
    """siginfo_t (128 bytes): the common head, then the union as words."""
    si_signo: i32
    si_errno: i32
    si_code: i32
    pad: i32
    fields: array[u64, 14]


@struct
class StackT:
    """stack_t (sigaltstack)."""
    ss_sp: u64
    ss_flags: i32
    pad: i32
    ss_size: u64
