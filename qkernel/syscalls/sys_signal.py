"""Signals: rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigsuspend, pause, sigaltstack,
kill, tgkill, tkill, rt_sigreturn, and delivery on the way back to the program
(arch/x86/kernel/signal.c).

Delivery (`deliver`, at the return of every system call and trap from the program): the
lowest pending unblocked signal is taken; SIG_IGN drops it; SIG_DFL applies the default
action (terminate, or terminate "with core": the process dies by the signal; ignore; stop:
the process stops, task/signals.py's job control, and its threads park here until continued);
a handler gets an x86-64 rt_sigframe on the
program's stack (below its 128-byte red zone, or on the sigaltstack with SA_ONSTACK): return
address sa_restorer, the ucontext with every register, the old mask and the FXSAVE state,
and the siginfo, and runs with rdi = signal, rsi = &info, rdx = &uc, the mask widened by
sa_mask and the signal itself (unless SA_NODEFER). A system call interrupted by a handled
signal returns -EINTR, or restarts with SA_RESTART where Linux restarts it.
rt_sigreturn restores all of it; a frame that cannot be written or read kills with SIGSEGV,
as Linux does. Faults (`force_fault`) run the program's handler at once, or kill when the
signal is blocked or not handled. The sandbox's init (pid 1) is sent only the signals it
handles when another process sends them, as in a PID namespace (its own signals, raise, abort,
SIGPIPE and faults, act as on any process: the sandboxed program behaves as it does natively).
"""

from __future__ import annotations

from qkernel.arch import fpu
from qkernel.arch.frame import TrapFrame
from qkernel.arch.syscall import SYSCALL_INSN_LEN
from qkernel.arch.trap import RFLAGS_USER_MASK
from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, memcpy, memset, ptr, sizeof, u8, u32, u64
from qkernel.linux.errno import (EFAULT, EINTR, EINVAL, ENOMEM, EPERM, ERESTART_RESTARTBLOCK,
                                 ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ESRCH)
from qkernel.linux.signal import (MINSIGSTKSZ, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART,
                                  SI_TKILL, SI_USER, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK,
                                  SIG_UNBLOCK, SIGKILL, SIGSEGV, SIGSTOP, SS_DISABLE, SS_ONSTACK,
                                  KSigaction, RtSigframe, StackT, Ucontext)
from qkernel.mm.pagetable import USER_TOP
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.sys_wait import exit_process
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, hostio, sched, signals, timers
from qkernel.task.process import PROC_ZOMBIE, Process
from qkernel.task.signals import (ACT_CONT, ACT_IGN, ACT_STOP, UNBLOCKABLE, action, bit,
                                  default_action, next_signal, valid)
from qkernel.task.task import Task, WaitQueue

SIGSET_SIZE: Final = 8
RED_ZONE: Final = 128
FXSAVE_SIZE: Final = 512
RFLAGS_TF_DF: Final = 0x0500
MXCSR_OFFSET: Final = 24               # in the FXSAVE area
MXCSR_VALID: Final = 0xFFFF
FRAME_BUF: Final = 0                   # scratch offsets: the frame being built / read
FX_BUF: Final = 1024                   # (64-aligned) the FXSAVE area

pause_q: WaitQueue = WaitQueue()       # rt_sigsuspend and pause sleep here until a signal


# ---- dispositions and masks ------------------------------------------------------------------

def sys_rt_sigaction(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    sig = a.a0
    if a.a3 != SIGSET_SIZE or not valid(sig):
        return -EINVAL
    if a.a1 != 0 and (sig == SIGKILL or sig == SIGSTOP):
        return -EINVAL
    p = t.process
    old: KSigaction = KSigaction()
    memcpy(cast(ptr[u8], addr_of(old)), cast(ptr[u8], action(p, sig)), sizeof(KSigaction))
    if a.a1 != 0:
        new: KSigaction = KSigaction()
        if copy_from_user(cast(ptr[u8], addr_of(new)), a.a1, sizeof(KSigaction)) != 0:
            return -EFAULT
        new.mask &= ~u64(UNBLOCKABLE)
        memcpy(cast(ptr[u8], action(p, sig)), cast(ptr[u8], addr_of(new)), sizeof(KSigaction))
        if signals.ignored(p, sig):
            t.sigpending &= ~bit(sig)    # POSIX: a pending signal set to be ignored is discarded
    if a.a2 != 0 and copy_to_user(a.a2, cast(ptr[u8], addr_of(old)), sizeof(KSigaction)) != 0:
        return -EFAULT
    return 0


def sys_rt_sigprocmask(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a3 != SIGSET_SIZE:
        return -EINVAL
    old = t.sigmask
    if a.a1 != 0:
        s: u64 = 0
        if copy_from_user(cast(ptr[u8], addr_of(s)), a.a1, 8) != 0:
            return -EFAULT
        how = a.a0
        if how == SIG_BLOCK:
            t.sigmask |= s
        elif how == SIG_UNBLOCK:
            t.sigmask &= ~s
        elif how == SIG_SETMASK:
            t.sigmask = s
        else:
            return -EINVAL
        t.sigmask &= ~u64(UNBLOCKABLE)
    if a.a2 != 0 and copy_to_user(a.a2, cast(ptr[u8], addr_of(old)), 8) != 0:
        return -EFAULT
    return 0


def sys_rt_sigpending(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a1 > SIGSET_SIZE:
        return -EINVAL
    s = t.sigpending & t.sigmask
    return copy_to_user(a.a0, cast(ptr[u8], addr_of(s)), a.a1)


def suspend(t: ptr[Task], mask: u64) -> i64:
    """Waits with `mask` until a signal is delivered; the old mask comes back after it."""
    t.saved_sigmask = t.sigmask
    t.restore_sigmask = True
    t.sigmask = mask & ~u64(UNBLOCKABLE)
    return wait_signal(t)


def wait_signal(t: ptr[Task]) -> i64:
    """Sleeps until a signal is pending (napping in steps while an interval timer is armed)."""
    while not signals.pending(t):
        if t.process.itimer_deadline != 0:
            hostio.sleep_ns(t, timers.next_step(t, timers.STEP_NS))
        else:
            sched.sleep_on(addr_of(pause_q), 0)
    return -ERESTARTNOHAND


def sys_rt_sigsuspend(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a1 != SIGSET_SIZE:
        return -EINVAL
    m: u64 = 0
    if copy_from_user(cast(ptr[u8], addr_of(m)), a.a0, 8) != 0:
        return -EFAULT
    return suspend(t, m)


def sys_pause(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return wait_signal(t)


def on_altstack(t: ptr[Task], sp: u64) -> bool:
    return t.altstack_size != 0 and sp > t.altstack_sp and sp - t.altstack_sp <= t.altstack_size


def altstack_of(t: ptr[Task], sp: u64, out: ptr[StackT]) -> None:
    out.ss_sp = t.altstack_sp
    out.ss_size = t.altstack_size
    out.ss_flags = i32(t.altstack_flags)
    if t.altstack_size == 0:
        out.ss_flags = SS_DISABLE
    elif on_altstack(t, sp):
        out.ss_flags = SS_ONSTACK


def set_altstack(t: ptr[Task], ss: ptr[StackT]) -> i64:
    flags = u64(ss.ss_flags) & 0xFFFF_FFFF
    if flags & ~u64(SS_DISABLE | 0x8000_0000) != 0:   # SS_AUTODISARM is accepted
        return -EINVAL
    if flags & SS_DISABLE != 0:
        t.altstack_sp = 0
        t.altstack_size = 0
        t.altstack_flags = 0
        return 0
    if ss.ss_size < MINSIGSTKSZ:
        return -ENOMEM
    t.altstack_sp = ss.ss_sp
    t.altstack_size = ss.ss_size
    t.altstack_flags = 0
    return 0


def sys_sigaltstack(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    sp = t.frame.rsp
    old: StackT = StackT()
    altstack_of(t, sp, addr_of(old))
    if a.a0 != 0:
        ss: StackT = StackT()
        if copy_from_user(cast(ptr[u8], addr_of(ss)), a.a0, sizeof(StackT)) != 0:
            return -EFAULT
        if on_altstack(t, sp):
            return -EPERM
        r = set_altstack(t, addr_of(ss))
        if r < 0:
            return r
    if a.a1 != 0 and copy_to_user(a.a1, cast(ptr[u8], addr_of(old)), sizeof(StackT)) != 0:
        return -EFAULT
    return 0


# ---- sending ---------------------------------------------------------------------------------

def refused(t: ptr[Task], p: ptr[Process], sig: u64) -> bool:
    """Is sig from t's process not sent to p? sig 0 (only the checks), or init and a signal it
    does not handle from another process (a PID namespace's rule)."""
    return sig == 0 or (p == family.init_process and p != t.process and action(p, sig).handler == SIG_DFL)


def sender(t: ptr[Task]) -> u64:
    """siginfo's si_pid | si_uid << 32 of a signal t sends."""
    return t.process.pid | (u64(t.process.creds.uid) << 32)


def send_user(t: ptr[Task], p: ptr[Process], sig: u64, code: i32) -> None:
    """A signal from the program t to process p."""
    if not refused(t, p, sig):
        signals.send_process(p, sig, code, sender(t), 0)


def sys_kill(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """kill(pid, sig): pid > 0 that process, 0 the caller's group, -1 every process but
    init and the caller, < -1 group -pid."""
    sig = a.a1
    if sig != 0 and not valid(sig):
        return -EINVAL
    pid = i64(i32(a.a0))
    if pid > 0:
        p = family.find(u64(pid))
        if p == NULL or p.state == PROC_ZOMBIE:
            return -ESRCH
        send_user(t, p, sig, SI_USER)
        return 0
    pgid: u64 = 0
    if pid == 0:
        pgid = t.process.pgid
    elif pid < -1:
        pgid = u64(-pid)
    found = False
    q = family.init_process
    while q != NULL:
        nxt = family.next_in_tree(q)
        if q.state != PROC_ZOMBIE:
            if (pid == -1 and q != family.init_process and q != t.process) or (pid != -1 and q.pgid == pgid):
                found = True
                send_user(t, q, sig, SI_USER)
        q = nxt
    return 0 if found else -ESRCH


def sys_tgkill(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    sig = a.a2
    if i64(i32(a.a0)) <= 0 or i64(i32(a.a1)) <= 0 or (sig != 0 and not valid(sig)):
        return -EINVAL
    x = family.find_thread(a.a1 & 0xFFFF_FFFF)
    if x == NULL or x.process.pid != (a.a0 & 0xFFFF_FFFF):
        return -ESRCH
    send_thread(t, x, sig)
    return 0


def sys_tkill(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    sig = a.a1
    if i64(i32(a.a0)) <= 0 or (sig != 0 and not valid(sig)):
        return -EINVAL
    x = family.find_thread(a.a0 & 0xFFFF_FFFF)
    if x == NULL:
        return -ESRCH
    send_thread(t, x, sig)
    return 0


def send_thread(t: ptr[Task], x: ptr[Task], sig: u64) -> None:
    """tgkill/tkill: to thread x itself (SI_TKILL)."""
    if not refused(t, x.process, sig):
        signals.send(x, sig, SI_TKILL, sender(t), 0)


# ---- delivery --------------------------------------------------------------------------------

def restart_fixup(frame: ptr[TrapFrame], result: i64, flags: u64) -> None:
    """A handler runs after a system call that asked to be restarted: -EINTR instead, except
    ERESTARTNOINTR and ERESTARTSYS with SA_RESTART (entry.py already rewound rip)."""
    if result == -ERESTARTNOINTR or (result == -ERESTARTSYS and flags & SA_RESTART != 0):
        return
    if result == -ERESTARTSYS or result == -ERESTARTNOHAND or result == -ERESTART_RESTARTBLOCK:
        frame.rip += SYSCALL_INSN_LEN
        frame.rax = u64(-EINTR)


def setup_frame(t: ptr[Task], frame: ptr[TrapFrame], sig: u64, act: ptr[KSigaction], old_mask: u64) -> bool:
    """The rt_sigframe for handler `act` on the program's stack, and the registers to run it."""
    sp = frame.rsp - RED_ZONE
    if act.flags & SA_ONSTACK != 0 and t.altstack_size != 0 and not on_altstack(t, frame.rsp):
        sp = t.altstack_sp + t.altstack_size
    fp = (sp - FXSAVE_SIZE) & ~u64(63)
    sp = ((fp - sizeof(RtSigframe)) & ~u64(15)) - 8      # as after a call: (sp + 8) % 16 == 0
    k = cast(ptr[RtSigframe], t.scratch + FRAME_BUF)
    memset(cast(ptr[u8], k), 0, sizeof(RtSigframe))
    k.pretcode = act.restorer
    altstack_of(t, frame.rsp, addr_of(k.uc.uc_stack))
    m = addr_of(k.uc.uc_mcontext)
    m.r8 = frame.r8
    m.r9 = frame.r9
    m.r10 = frame.r10
    m.r11 = frame.r11
    m.r12 = frame.r12
    m.r13 = frame.r13
    m.r14 = frame.r14
    m.r15 = frame.r15
    m.rdi = frame.rdi
    m.rsi = frame.rsi
    m.rbp = frame.rbp
    m.rbx = frame.rbx
    m.rdx = frame.rdx
    m.rax = frame.rax
    m.rcx = frame.rcx
    m.rsp = frame.rsp
    m.rip = frame.rip
    m.eflags = frame.rflags
    m.csgsfs = (frame.cs & 0xFFFF) | ((frame.ss & 0xFFFF) << 48)
    m.err = frame.error
    m.trapno = frame.vector & 0xFF
    m.oldmask = old_mask
    m.fpstate = fp
    k.uc.uc_sigmask = old_mask
    q = addr_of(t.siginfo[sig - 1])
    k.info.si_signo = i32(sig)
    k.info.si_code = q.code
    k.info.fields[0] = q.f0
    k.info.fields[1] = q.f1
    fx = t.scratch + FX_BUF
    fpu.fxsave(fx)
    if copy_to_user(fp, fx, FXSAVE_SIZE) != 0 or \
            copy_to_user(sp, cast(ptr[u8], k), sizeof(RtSigframe)) != 0:
        return False
    frame.rdi = sig
    frame.rsi = sp + 8 + sizeof(Ucontext)
    frame.rdx = sp + 8
    frame.rax = 0
    frame.rip = act.handler
    frame.rsp = sp
    frame.rflags &= ~u64(RFLAGS_TF_DF)
    t.sigmask = (old_mask | act.mask) & ~u64(UNBLOCKABLE)
    if act.flags & SA_NODEFER == 0:
        t.sigmask |= bit(sig)
    if act.flags & SA_RESETHAND != 0:
        act.handler = SIG_DFL
        act.flags = 0
    return True


def deliver(t: ptr[Task], frame: ptr[TrapFrame], result: i64) -> None:
    """On the way back to the program: acts on pending signals (see the module docstring).
    `result` is the system call's (0 for a trap)."""
    p = t.process
    while True:
        signals.park_stopped(t)
        sig = next_signal(t)
        if sig == 0:
            break
        if sig == SIGKILL and (t.doomed or p.group_exit != 0):
            exit_process(t, SIGKILL)     # another thread ends the process (or execs)
        act = action(p, sig)
        if act.handler == SIG_IGN:
            continue
        if act.handler == SIG_DFL:
            da = default_action(sig)
            if da == ACT_STOP:
                signals.group_stop(p, sig)   # parks at the top of the loop
                continue
            if da == ACT_IGN or da == ACT_CONT:
                continue
            exit_process(t, sig)
        restart_fixup(frame, result, act.flags)
        old = t.saved_sigmask if t.restore_sigmask else t.sigmask
        t.restore_sigmask = False
        if not setup_frame(t, frame, sig, act, old):
            exit_process(t, SIGSEGV)
        return
    if t.restore_sigmask:
        t.restore_sigmask = False
        t.sigmask = t.saved_sigmask


def force_fault(t: ptr[Task], frame: ptr[TrapFrame], sig: u64, code: i32, addr: u64) -> None:
    """A fault of the program: its handler runs now, or, blocked or not handled, it dies."""
    act = action(t.process, sig)
    if act.handler == SIG_DFL or act.handler == SIG_IGN or t.sigmask & bit(sig) != 0:
        exit_process(t, sig)
    q = addr_of(t.siginfo[sig - 1])
    q.code = code
    q.f0 = addr
    q.f1 = 0
    old = t.sigmask
    if not setup_frame(t, frame, sig, act, old):
        exit_process(t, SIGSEGV)


def sys_rt_sigreturn(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Back from a handler: the registers, mask, altstack and FPU state of its frame (at the
    rsp its `ret` left, 8 above the frame); rax as the frame held it."""
    fr = t.frame
    k = cast(ptr[RtSigframe], t.scratch + FRAME_BUF)
    if copy_from_user(cast(ptr[u8], k), fr.rsp - 8, sizeof(RtSigframe)) != 0:
        exit_process(t, SIGSEGV)
    m = addr_of(k.uc.uc_mcontext)
    if m.rip >= USER_TOP:
        exit_process(t, SIGSEGV)     # an iretq to it would fault in the kernel
    if m.fpstate != 0:
        fx = t.scratch + FX_BUF
        if copy_from_user(fx, m.fpstate, FXSAVE_SIZE) != 0:
            exit_process(t, SIGSEGV)
        mx = cast(ptr[u32], fx + MXCSR_OFFSET)
        mx[0] = mx[0] & MXCSR_VALID   # reserved MXCSR bits would make fxrstor fault
        fpu.fxrstor(fx)
    fr.r8 = m.r8
    fr.r9 = m.r9
    fr.r10 = m.r10
    fr.r11 = m.r11
    fr.r12 = m.r12
    fr.r13 = m.r13
    fr.r14 = m.r14
    fr.r15 = m.r15
    fr.rdi = m.rdi
    fr.rsi = m.rsi
    fr.rbp = m.rbp
    fr.rbx = m.rbx
    fr.rdx = m.rdx
    fr.rcx = m.rcx
    fr.rsp = m.rsp
    fr.rip = m.rip
    fr.rflags = (fr.rflags & ~u64(RFLAGS_USER_MASK)) | (m.eflags & RFLAGS_USER_MASK)
    t.sigmask = k.uc.uc_sigmask & ~u64(UNBLOCKABLE)
    ss = addr_of(k.uc.uc_stack)
    if not on_altstack(t, fr.rsp):
        set_altstack(t, ss)
    return i64(m.rax)


def stop_in_call(t: ptr[Task]) -> bool:
    """A sleeping call saw a signal: when all that is pending and unblocked are default stops,
    the process stops here and the call goes on once continued (as Linux restarts it with the
    time left); False when something else is pending (the call returns to deliver it)."""
    p = t.process
    ready = t.sigpending & ~(t.sigmask & ~u64(UNBLOCKABLE))
    if ready == 0 or p.group_exit != 0:
        return False
    rest = ready
    while rest != 0:
        sig = signals.lowest(rest)
        rest &= ~bit(sig)
        if action(p, sig).handler != SIG_DFL or default_action(sig) != ACT_STOP:
            return False
    while ready != 0:
        sig = signals.lowest(ready)
        ready &= ~bit(sig)
        t.sigpending &= ~bit(sig)
        signals.group_stop(p, sig)
    signals.park_stopped(t)
    return not signals.pending(t)
