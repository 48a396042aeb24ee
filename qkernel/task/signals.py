"""Signal state and sending (kernel/signal.c's bookkeeping): each Process's dispositions
(Process.sigactions, shared by its threads), each Task's blocked and pending sets with the
siginfo of every pending standard signal, and sending, which wakes the target when it sleeps
so that its system call ends with -ERESTART* (qkernel/syscalls/sys_signal.py delivers).

Standard signals do not queue (a second SIGUSR1 while one is pending is merged, as Linux);
real-time ones do not queue here either yet (each number holds one, the last info wins).
A signal sent to a process goes to its first thread that does not block it.

Job control (kernel/signal.c's group stop): sending a stop signal discards a pending SIGCONT
and sending SIGCONT discards pending stops and, when the process is stopped, continues it at
once (even when SIGCONT is blocked or ignored), reporting CLD_CONTINUED to its parent. The stop
itself happens where the signal is taken (sys_signal.deliver: `group_stop`): the process is
marked stopped, its parent gets CLD_STOPPED, and each of its threads parks on `stop_q` at its
next return to the program until a SIGCONT or SIGKILL. SIGTSTP, SIGTTIN and SIGTTOU are
discarded in an orphaned process group (the sandbox's first process counts as having its
parent outside, in the same session, as under a shell).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, fn, i32, memset, ptr, sizeof, u8, u64
from qkernel.linux.signal import (CLD_CONTINUED, CLD_STOPPED, NSIG, SA_NOCLDSTOP, SIG_DFL,
                                  SIG_IGN, SIGABRT, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL,
                                  SIGKILL, SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP,
                                  SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGXCPU, SIGXFSZ,
                                  KSigaction, Siginfo)
from qkernel.task import family, sched
from qkernel.task.process import JOB_REPORT_CONT, JOB_REPORT_STOP, JOB_STOPPED, PROC_ZOMBIE, Process
from qkernel.task.task import TASK_SLEEPING, TASK_ZOMBIE, SigQueued, Task, WaitQueue

ACT_TERM: Final = 0      # default actions (signal(7))
ACT_IGN: Final = 1
ACT_CORE: Final = 2
ACT_STOP: Final = 3
ACT_CONT: Final = 4
UNBLOCKABLE: Final = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
STOP_MASK: Final = (1 << (SIGSTOP - 1)) | (1 << (SIGTSTP - 1)) | (1 << (SIGTTIN - 1)) | (1 << (SIGTTOU - 1))

stop_q: WaitQueue = WaitQueue()       # threads of stopped processes, until SIGCONT or SIGKILL
sent: u64 = 0                         # signals made pending so far (signalfd's readiness)
send_hook: fn[[], None] = NULL        # pollers look again after a send (set with the first signalfd)


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
    global sent
    if t == NULL or t.state == TASK_ZOMBIE:
        return
    p = t.process
    if bit(sig) & (STOP_MASK | bit(SIGCONT)) != 0:
        prepare_jobctl(p, sig)
    if ignored(p, sig) and t.sigmask & bit(sig) == 0:
        return
    q = cast(ptr[SigQueued], addr_of(t.siginfo[sig - 1]))
    q.code = code
    q.f0 = f0
    q.f1 = f1
    t.sigpending |= bit(sig)
    sent += 1
    if t.state == TASK_SLEEPING and (t.sigmask & bit(sig) == 0 or sig == SIGKILL):
        sched.wake(t)
    if send_hook != NULL:
        send_hook()


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
    sig: u64 = SIGKILL if ready & bit(SIGKILL) != 0 else lowest(ready)
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


def lowest(set: u64) -> u64:
    """The lowest signal number in a non-empty set."""
    sig: u64 = 1
    while set & bit(sig) == 0:
        sig += 1
    return sig


def take(t: ptr[Task], sig: u64, info: ptr[Siginfo]) -> None:
    """Takes pending sig off t with its siginfo (rt_sigtimedwait, signalfd)."""
    t.sigpending &= ~bit(sig)
    memset(cast(ptr[u8], info), 0, sizeof(Siginfo))
    q = addr_of(t.siginfo[sig - 1])
    info.si_signo = i32(sig)
    info.si_code = q.code
    info.fields[0] = q.f0
    info.fields[1] = q.f1


def holder(t: ptr[Task], mask: u64) -> ptr[Task]:
    """The thread of t's process with a signal of mask pending, t first; NULL when none (the
    pending set is per thread here: a process-directed one sits on the thread it was sent to)."""
    if t.sigpending & mask != 0:
        return t
    c = family.first_thread(t.process)
    while c != NULL:
        if c.state != TASK_ZOMBIE and c.sigpending & mask != 0:
            return c
        c = c.thread_next
    return cast(ptr[Task], NULL)


def wait_mask(t: ptr[Task], mask: u64) -> None:
    """ppoll, pselect6, epoll_pwait: the mask for the wait; the old one comes back at the return
    (after the handler of a signal that ended the wait: deliver restores it)."""
    t.saved_sigmask = t.sigmask
    t.restore_sigmask = True
    t.sigmask = mask & ~u64(UNBLOCKABLE)


def wait_mask_done(t: ptr[Task], interrupted: bool) -> None:
    if not interrupted:
        t.sigmask = t.saved_sigmask
        t.restore_sigmask = False


# ---- job control -----------------------------------------------------------------------------

def prepare_jobctl(p: ptr[Process], sig: u64) -> None:
    """At sending: a stop signal discards pending SIGCONTs; SIGCONT discards pending stops and
    continues a stopped p."""
    drop = STOP_MASK if sig == SIGCONT else bit(SIGCONT)
    c = family.first_thread(p)
    while c != NULL:
        c.sigpending &= ~drop
        c = c.thread_next
    if sig == SIGCONT and p.jobctl & JOB_STOPPED != 0:
        p.jobctl = (p.jobctl & ~u64(JOB_STOPPED | JOB_REPORT_STOP)) | JOB_REPORT_CONT
        notify_jobctl(p, CLD_CONTINUED, SIGCONT)
        sched.wake_all(addr_of(stop_q))


def notify_jobctl(p: ptr[Process], code: i32, status: u64) -> None:
    """p stopped or continued: its parent's waits look again, and it gets SIGCHLD unless its
    handler asked for none (SA_NOCLDSTOP)."""
    sched.wake_all(addr_of(family.child_exit))
    parent = p.parent
    if parent == NULL:
        return
    if action(parent, SIGCHLD).flags & SA_NOCLDSTOP == 0:
        send_process(parent, SIGCHLD, code, p.pid | (u64(p.creds.uid) << 32), status)


def orphaned_pgrp(p: ptr[Process]) -> bool:
    """No member of p's process group has a parent in another group of the same session."""
    q = family.init_process
    while q != NULL:
        if q.pgid == p.pgid and q.state != PROC_ZOMBIE:
            par = q.parent
            if par == NULL or (par.pgid != q.pgid and par.sid == q.sid):
                return False
        q = family.next_in_tree(q)
    return True


def group_stop(p: ptr[Process], sig: u64) -> bool:
    """Stops p for sig (a default stop action taken by one of its threads); False when the stop
    does not happen (the process is exiting, or an orphaned group's terminal stop)."""
    if p.group_exit != 0:
        return False
    if sig != SIGSTOP and orphaned_pgrp(p):
        return False
    if p.jobctl & JOB_STOPPED == 0:
        p.jobctl = (p.jobctl & ~u64(JOB_REPORT_CONT)) | JOB_STOPPED | JOB_REPORT_STOP
        p.stop_sig = sig
        notify_jobctl(p, CLD_STOPPED, sig)
    return True


def park_stopped(t: ptr[Task]) -> None:
    """t's process is stopped: t waits until it is continued, killed or exiting."""
    p = t.process
    while p.jobctl & JOB_STOPPED != 0 and t.sigpending & bit(SIGKILL) == 0 and p.group_exit == 0:
        sched.sleep_on(addr_of(stop_q), 0)


def has_work(t: ptr[Task]) -> bool:
    """Does the return to the program have signal work (a pending signal, a mask to restore, a
    stopped process)?"""
    return t.sigpending != 0 or t.restore_sigmask or t.process.jobctl & JOB_STOPPED != 0
