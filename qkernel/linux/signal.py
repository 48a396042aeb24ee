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
SI_TIMER: Final = -2
SEGV_MAPERR: Final = 1
SEGV_ACCERR: Final = 2
CLD_EXITED: Final = 1
CLD_KILLED: Final = 2
CLD_DUMPED: Final = 3
CLD_TRAPPED: Final = 4
CLD_STOPPED: Final = 5
CLD_CONTINUED: Final = 6


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

# si_code values of the fault signals (asm-generic/siginfo.h)
ILL_ILLOPN: Final = 2
FPE_INTDIV: Final = 1
BUS_ADRERR: Final = 2
TRAP_BRKPT: Final = 1
UC_FP_XSTATE: Final = 1


@struct
class Sigcontext:
    """struct sigcontext of x86-64 (the machine state in a signal frame), 256 bytes."""
    r8: u64
    r9: u64
    r10: u64
    r11: u64
    r12: u64
    r13: u64
    r14: u64
    r15: u64
    rdi: u64
    rsi: u64
    rbp: u64
    rbx: u64
    rdx: u64
    rax: u64
    rcx: u64
    rsp: u64
    rip: u64
    eflags: u64
    csgsfs: u64          # cs, gs, fs, ss: four u16
    err: u64
    trapno: u64
    oldmask: u64
    cr2: u64
    fpstate: u64         # the FXSAVE area's user address (0: none)
    reserved1: array[u64, 8]


@struct
class Ucontext:
    """The kernel's struct ucontext (asm/ucontext.h): what a SA_SIGINFO handler's third
    argument points at."""
    uc_flags: u64
    uc_link: u64
    uc_stack: StackT
    uc_mcontext: Sigcontext
    uc_sigmask: u64


@struct
class RtSigframe:
    """x86-64's struct rt_sigframe: at the handler's rsp (the return address first)."""
    pretcode: u64
    uc: Ucontext
    info: Siginfo
