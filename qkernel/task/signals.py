"""Signal state and sending (kernel/signal.c's bookkeeping): each Process's dispositions
(Process.sigactions, shared by its threads), each Task's blocked and pending sets with the
siginfo of every pending standard signal, and sending, which wakes the target when it sleeps
so that its system call ends with -ERESTART* (qkernel/syscalls/sys_signal.py delivers).

Standard signals do not queue (a second SIGUSR1 while one is pending is merged, as Linux);
real-time ones do not queue here either yet (each number holds one, the last info wins).
A signal sent to a process goes to its first thread that does not block it.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, ptr, u32, u64
from qkernel.linux.signal import (NSIG, SIG_DFL, SIG_IGN, SIGABRT, SIGBUS, SIGCHLD, SIGCONT,
                                  SIGFPE, SIGILL, SIGKILL, SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS,
                                  SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGXCPU,
                                  SIGXFSZ, KSigaction)
from qkernel.task import sched
from qkernel.task.process import Process
from qkernel.task.task import TASK_SLEEPING, TASK_ZOMBIE, SigQueued, Task

ACT_TERM: Final = 0      # default actions (signal(7))
ACT_IGN: Final = 1
ACT_CORE: Final = 2
ACT_STOP: Final = 3
ACT_CONT: Final = 4
UNBLOCKABLE: Final = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


def bit(sig: u64) -> u64:
    return u64(1) << (sig - 1)


def valid(sig: u64) -> bool:
    return sig >= 1 and sig <= NSIG


def action(p: ptr[Process], sig: u64) -> ptr[KSigaction]:
    return addr_of(p.sigactions[sig - 1])


def default_action(sig: u64) -> u64:
    if sig == SIGCHLD or sig == SIGURG or sig == SIGWINCH:
        return ACT_IGN
    if sig == SIGCONT:
        return ACT_CONT
    if sig == SIGSTOP or sig == SIGTSTP or sig == SIGTTIN or sig == SIGTTOU:
        return ACT_STOP
    if sig == SIGQUIT or sig == SIGILL or sig == SIGTRAP or sig == SIGABRT or sig == SIGBUS or \
            sig == SIGFPE or sig == SIGSEGV or sig == SIGXCPU or sig == SIGXFSZ or sig == SIGSYS:
        return ACT_CORE
    return ACT_TERM


def ignored(p: ptr[Process], sig: u64) -> bool:
    """Would this signal be dropped on arrival (SIG_IGN, or SIG_DFL whose action is ignore)?"""
    h = action(p, sig).handler
    if h == SIG_IGN:
        return sig != SIGKILL and sig != SIGSTOP
    return h == SIG_DFL and (default_action(sig) == ACT_IGN or default_action(sig) == ACT_CONT)


def pending(t: ptr[Task]) -> bool:
    """Does t have a signal it would act on now (pending and not blocked)?"""
    return t.sigpending & ~(t.sigmask & ~u64(UNBLOCKABLE)) != 0


def send(t: ptr[Task], sig: u64, code: i32, f0: u64, f1: u64) -> None:
    """Makes sig pending on t with its siginfo (si_code, and the two words after the head:
    pid | uid << 32 or an address, then a status or value). Ignored signals are dropped;
    SIGKILL also ends any stop. A sleeping t is woken so that its call returns -ERESTART*."""
    if t == NULL or t.state == TASK_ZOMBIE:
        return
    p = t.process
    if ignored(p, sig) and t.sigmask & bit(sig) == 0:
        return
    q = cast(ptr[SigQueued], addr_of(t.siginfo[sig - 1]))
    q.code = code
    q.f0 = f0
    q.f1 = f1
    t.sigpending |= bit(sig)
    if t.state == TASK_SLEEPING and (t.sigmask & bit(sig) == 0 or sig == SIGKILL):
        sched.wake(t)


def send_process(p: ptr[Process], sig: u64, code: i32, f0: u64, f1: u64) -> None:
    """To the first live thread of p that does not block sig (else the first live one)."""
    pick: ptr[Task] = NULL
    c = cast(ptr[Task], p.leader)
    while c != NULL:
        if c.state != TASK_ZOMBIE:
            if c.sigmask & bit(sig) == 0:
                send(c, sig, code, f0, f1)
                return
            if pick == NULL:
                pick = c
        c = c.thread_next
    send(pick, sig, code, f0, f1)


def next_signal(t: ptr[Task]) -> u64:
    """The lowest pending unblocked signal (SIGKILL first), taken off the pending set; 0 when
    there is none. Its info stays in t.siginfo until the next send."""
    ready = t.sigpending & ~(t.sigmask & ~u64(UNBLOCKABLE))
    if ready == 0:
        return 0
    sig: u64 = SIGKILL
    if ready & bit(SIGKILL) == 0:
        sig = 1
        while ready & bit(sig) == 0:
            sig += 1
    t.sigpending &= ~bit(sig)
    return sig


def reset_on_exec(p: ptr[Process]) -> None:
    """execve: handled signals go back to SIG_DFL (ignored ones stay ignored)."""
    for i in range(NSIG):
        a = addr_of(p.sigactions[i])
        if a.handler != SIG_IGN:
            a.handler = SIG_DFL
            a.flags = 0
            a.restorer = 0
            a.mask = 0
