"""From a trap frame to a system call and back: the x86-64 syscall ABI (number in rax, arguments
in rdi, rsi, rdx, r10, r8, r9, result in rax), restarts, --strace output, and user faults turned
into the death by signal Linux would deliver (no handlers yet: SIGSEGV, SIGILL, SIGFPE, SIGTRAP,
SIGBUS end the process with status 128 + signal)."""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import LOG_INFO, LOG_WARN
from qkernel.arch import trap
from qkernel.arch.syscall import SYSCALL_INSN_LEN
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, addr_of, i32, i64, kfmt, ptr, u64
from qkernel.klog import finish, start
from qkernel.lib import fmt
from qkernel.linux import errno
from qkernel.linux.errno import ENOMEM, ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS
from qkernel.linux.signal import (BUS_ADRERR, FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR,
                                  SI_KERNEL, SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGTRAP)
from qkernel.linux.sysno import SYS_rt_sigreturn
from qkernel.mm import fault, vma
from qkernel.syscalls import sys_signal, table
from qkernel.syscalls.sys_wait import exit_process
from qkernel.syscalls.table import STATUS_SUPPORTED, SyscallArgs
from qkernel.task import cputime, sched, signals, task, timers
from qkernel.task.task import Task

VEC_PF: Final = 14
PF_WRITE: Final = 2
PF_FETCH: Final = 0x10

strace: bool = False
line: fmt.Line = fmt.Line()  # the strace line being built: per-CPU (one vCPU)


def _trace(nr: u64, frame: ptr[TrapFrame], result: i64) -> None:
    lp = addr_of(line)
    fmt.clear(lp)
    fmt.put_str(lp, table.name_of(nr))
    if table.name_of(nr)[0] == 0:  # no Linux name: show the number
        fmt.put_str(lp, b"syscall_")
        fmt.put_dec(lp, nr)
    fmt.put_char(lp, 40)
    fmt.put_hex(lp, frame.rdi)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.rsi)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.rdx)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r10)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r8)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r9)
    fmt.put_str(lp, b") = ")
    if result < 0 and result > -4096 and errno.name(result)[0] != 0:
        fmt.put_str(lp, b"-1 ")       # as strace shows a failure: -1 and the errno's name
        fmt.put_str(lp, errno.name(result))
        fmt.put_str(lp, b" (")
        fmt.put_str(lp, errno.message(result))
        fmt.put_str(lp, b")")
    else:
        fmt.put_signed(lp, result)
    if table.status_of(nr) != STATUS_SUPPORTED and table.note_of(nr)[0] != 0:
        fmt.put_str(lp, b"  # ")
        fmt.put_str(lp, table.note_of(nr))
    fmt.put_char(lp, 10)
    qcall.console_write(2, addr_of(lp.data[0]), lp.len)


def is_restart(result: i64) -> bool:
    return result == -ERESTARTSYS or result == -ERESTARTNOINTR or result == -ERESTARTNOHAND or \
        result == -ERESTART_RESTARTBLOCK


def syscall_trap(frame: ptr[TrapFrame]) -> None:
    """A system call of the current task: its arguments from the frame, the handler's result
    back in rax. A restart (no signal delivery exists yet to turn one into EINTR) re-executes
    the `syscall` instruction with the original rax."""
    t = task.current
    cputime.enter(t)
    t.frame = frame
    args: SyscallArgs = SyscallArgs()
    args.nr = frame.rax
    args.a0 = frame.rdi
    args.a1 = frame.rsi
    args.a2 = frame.rdx
    args.a3 = frame.r10
    args.a4 = frame.r8
    args.a5 = frame.r9
    args.frame = frame
    result = table.dispatch(t, addr_of(args))
    if strace:
        _trace(args.nr, frame, result)
    if is_restart(result) and args.nr != SYS_rt_sigreturn:
        frame.rip -= SYSCALL_INSN_LEN  # rax still holds the number (a handler may make it EINTR)
    else:
        frame.rax = u64(result)
        result = 0
    return_to_user(t, frame, result)


def return_to_user(t: ptr[Task], frame: ptr[TrapFrame], result: i64) -> None:
    """The way back to the program after a system call (result: a restart the signal delivery
    may turn into EINTR) or a tick: where a slice that ran out switches, then the interval
    timer and the signals due."""
    sched.preempt_point()
    if t.process.itimer_deadline != 0:
        timers.check(t)
    if signals.has_work(t):
        sys_signal.deliver(t, frame, result)
    cputime.leave(t)


def user_tick(frame: ptr[TrapFrame]) -> None:
    """A timer tick that interrupted the program: the scheduler's tick, then the way back as
    after a system call (a program that never makes one is preempted here)."""
    t = task.current
    cputime.enter(t)
    t.frame = frame
    sched.tick()
    return_to_user(t, frame, 0)


def user_fault(frame: ptr[TrapFrame], vector: u64) -> None:
    """A fault in the program: a page fault the address space can serve (stack growth, pages
    not populated yet) resumes it; otherwise the signal Linux would send, and with no handler
    yet, the process's death by it (SIGKILL when memory is exhausted, as the OOM killer)."""
    cputime.enter(task.current)
    fault_in_program(frame, vector)
    cputime.leave(task.current)


def fault_in_program(frame: ptr[TrapFrame], vector: u64) -> None:
    t = task.current
    addr = trap.fault_address()
    if vector == VEC_PF:
        r = fault.handle_fault(t.process.mm, addr, frame.error & PF_WRITE != 0,
                             frame.error & PF_FETCH != 0)
        if r == 0:
            if signals.has_work(t):
                sys_signal.deliver(t, frame, 0)
            return
        if r == -ENOMEM:
            p = task.current.process
            kfmt(start(LOG_WARN), b"out of memory: killed process %u (%s)", p.pid,
                 addr_of(p.name[0]))
            finish(LOG_WARN)
            exit_process(task.current, SIGKILL)
    sig: u64 = SIGSEGV
    code: i32 = SI_KERNEL       # #GP and the rest: no address (Linux's SI_KERNEL, si_addr 0)
    info: u64 = 0
    if vector == VEC_PF:
        code = SEGV_ACCERR if vma.find(t.process.mm, addr) != NULL else SEGV_MAPERR
        info = addr
    elif vector == 0:
        sig = SIGFPE
        code = FPE_INTDIV
        info = frame.rip
    elif vector == 16 or vector == 19:
        sig = SIGFPE
        code = 0
        info = frame.rip
    elif vector == 6:
        sig = SIGILL
        code = ILL_ILLOPN
        info = frame.rip
    elif vector == 1 or vector == 3:
        sig = SIGTRAP
    elif vector == 17:
        sig = SIGBUS
        code = BUS_ADRERR
        info = addr
    kfmt(start(LOG_INFO), b"pid %u: signal %u from vector %u at rip=%x cr2=%x error=%x",
         t.process.pid, sig, vector, frame.rip, addr, frame.error)
    finish(LOG_INFO)
    sys_signal.force_fault(t, frame, sig, code, info)
