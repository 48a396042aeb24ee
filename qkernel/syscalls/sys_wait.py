"""The end of processes and waiting for them: exit, exit_group, death by a signal, wait4 and
waitid (kernel/exit.c).

A process that exits closes its descriptors, gives up its address space, hands its children
to the sandbox's first process and stays a zombie holding its wait status until its parent
collects it (wait4/waitid; WNOWAIT leaves it). The first process (pid 1) is the sandbox: its
end is the sandbox's end, with its status (128 + N after signal N, as a shell reports it),
and the rest of the sandbox goes with it, as in a PID namespace.

Wait statuses are Linux's: exited (code & 0xff) << 8, killed by signal N: N, stopped by N:
N << 8 | 0x7f (WUNTRACED / WSTOPPED), continued: 0xffff (WCONTINUED); each stop and continue
is reported once (task/signals.py's job control marks them).
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.arch import priv
from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.fs import fdtable
from qkernel.linux.errno import ECHILD, EFAULT, EINVAL, ERESTARTSYS
from qkernel.linux.resource import Rusage
from qkernel.linux.sched import (P_ALL, P_PGID, P_PID, WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG,
                                 WNOTHREAD, WNOWAIT, WSTOPPED, WUNTRACED)
from qkernel.linux.signal import (CLD_CONTINUED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SA_NOCLDWAIT, SIG_IGN,
                                  SIGCHLD, SIGCONT, SIGKILL, Siginfo)
from qkernel.mm import pagetable, vma
from qkernel.mm.uaccess import copy_to_user
from qkernel.syscalls import sys_futex
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import cputime, family, sched, signals, task
from qkernel.task.process import JOB_REPORT_CONT, JOB_REPORT_STOP, PROC_ZOMBIE, Process
from qkernel.task.task import TASK_ZOMBIE, Task

WAIT4_OPTIONS: Final = WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE | WNOTHREAD
WAITID_OPTIONS: Final = WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WALL | WCLONE | WNOTHREAD
FOUND_EXITED: Final = 1      # what a wait found (scan)
FOUND_STOPPED: Final = 2
FOUND_CONTINUED: Final = 3


def exited(code: u64) -> u64:
    """The wait status of exit(code)."""
    return (code & 0xFF) << 8


def sandbox_status(wstatus: u64) -> u64:
    """What qvisor exits with for the first process's wait status (a shell's $?)."""
    if wstatus & 0x7F != 0:
        return 128 + (wstatus & 0x7F)
    return (wstatus >> 8) & 0xFF


def release_vfork(p: ptr[Process]) -> None:
    """A vfork child execs or exits: its parent runs again."""
    if p.vfork_parent != 0:
        p.vfork_parent = 0
        sched.wake_all(addr_of(family.vfork_done))


def drop_mm(p: ptr[Process]) -> None:
    """p gives up its address space (loading the kernel's page tables first when it is in CR3)."""
    mm = p.mm
    if mm == NULL:
        return
    p.mm = NULL
    if vma.active == mm:
        priv.load_cr3(pagetable.kernel_pml4)
        vma.active = NULL
    task.put_mm(mm)


def exit_process(t: ptr[Task], wstatus: u64) -> None:
    """Ends t's process with `wstatus` (exit_group, a fatal signal): every other thread gets
    SIGKILL and ends at its next return to the program; the last one out ends the process.
    Never returns."""
    p = t.process
    if p == family.init_process or family.init_process == NULL:
        qcall.exit_sandbox(sandbox_status(wstatus))
    if t.doomed:
        exit_thread(t)
    if p.group_exit == 0:
        p.group_exit = 1
        p.exit_status = wstatus
        kill_others(p, t, False)
    exit_thread(t)


def kill_others(p: ptr[Process], t: ptr[Task], doom: bool) -> None:
    """SIGKILL to every live thread of p but t (doom: they end without ending p: execve)."""
    c = family.first_thread(p)
    while c != NULL:
        if c != t and c.state != TASK_ZOMBIE:
            c.doomed = doom
            signals.send(c, SIGKILL, 0, 0, 0)
        c = c.thread_next


def exit_thread(t: ptr[Task]) -> None:
    """Ends thread t: its robust futexes and CLONE_CHILD_CLEARTID word are released; the
    last thread of the process ends the process (with p.exit_status). Never returns."""
    p = t.process
    sys_futex.release(t)
    if t != family.first_thread(p):      # the first thread stays until the process is reaped
        family.unlink_thread(p, t)
        family.bury_task(t)
    if p.nthreads > 1:
        sched.wake_all(addr_of(family.thread_exit))
        sched.exit_current()
    wstatus = p.exit_status
    fdtable.close_all(p)
    fdtable.release_table(p)
    release_vfork(p)
    drop_mm(p)
    family.reparent_children(p)
    p.state = PROC_ZOMBIE
    notify_parent(p, wstatus)
    sched.wake_all(addr_of(family.child_exit))
    sched.exit_current()


def notify_parent(p: ptr[Process], wstatus: u64) -> None:
    """The exit signal (SIGCHLD) to the parent; a parent that ignores SIGCHLD or set
    SA_NOCLDWAIT gets no zombie (the child is reaped at once, as Linux)."""
    parent = p.parent
    if parent == NULL:
        family.bury(p)
        return
    killed = wstatus & 0x7F != 0
    if p.exit_signal != 0:
        info_status = wstatus & 0x7F if killed else (wstatus >> 8) & 0xFF
        signals.send_process(parent, p.exit_signal, i32(CLD_KILLED if killed else CLD_EXITED),
                             p.pid | (u64(p.creds.uid) << 32), info_status)
    act = signals.action(parent, SIGCHLD)
    if act.handler == SIG_IGN or act.flags & SA_NOCLDWAIT != 0:
        family.unlink_child(parent, p)
        family.bury(p)


def sys_exit(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """The calling thread ends; the last one's exit status is the process's."""
    p = t.process
    if p.nthreads > 1 or p.group_exit != 0:
        exit_thread(t)
    exit_process(t, exited(a.a0))
    return 0


def sys_exit_group(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    exit_process(t, exited(a.a0))
    return 0


# ---- waiting ---------------------------------------------------------------------------------

def matches(c: ptr[Process], which: u64, ident: u64) -> bool:
    if which == P_ALL:
        return True
    if which == P_PID:
        return c.pid == ident
    return c.pgid == ident


def scan(p: ptr[Process], which: u64, ident: u64, options: u64, out: ptr[ptr[Process]]) -> i64:
    """A look at p's matching children: FOUND_EXITED / FOUND_STOPPED / FOUND_CONTINUED with
    out[0] set (what `options` asks to see), 0 when there are matching children but nothing to
    report, -ECHILD when there are none."""
    seen = False
    c = p.first_child
    while c != NULL:
        if matches(c, which, ident):
            seen = True
            found = report_of(c, options)
            if found != 0:
                out[0] = c
                return found
        c = c.next_sibling
    out[0] = NULL
    return 0 if seen else -ECHILD


def report_of(c: ptr[Process], options: u64) -> i64:
    """What a wait with `options` would see of child c now (FOUND_*, 0: nothing)."""
    if c.state == PROC_ZOMBIE:
        return FOUND_EXITED if options & WEXITED != 0 else 0
    if c.jobctl & JOB_REPORT_STOP != 0 and options & WSTOPPED != 0:
        return FOUND_STOPPED
    if c.jobctl & JOB_REPORT_CONT != 0 and options & WCONTINUED != 0:
        return FOUND_CONTINUED
    return 0


def wait_child(t: ptr[Task], which: u64, ident: u64, options: u64, out: ptr[ptr[Process]]) -> i64:
    """Waits for a matching child with something to report: FOUND_* with out[0] set, 0
    (WNOHANG and nothing yet), or -ECHILD. The report is consumed unless WNOWAIT (an exited
    child is reaped by the caller)."""
    p = t.process
    family.free_dead()
    while True:
        r = scan(p, which, ident, options, out)
        if r < 0:
            return r
        if r > 0:
            if options & WNOWAIT == 0:
                if r == FOUND_STOPPED:
                    out[0].jobctl &= ~u64(JOB_REPORT_STOP)
                elif r == FOUND_CONTINUED:
                    out[0].jobctl &= ~u64(JOB_REPORT_CONT)
            return r
        if options & WNOHANG != 0:
            return 0
        if signals.pending(t):
            return -ERESTARTSYS
        sched.sleep_on(addr_of(family.child_exit), 0)


def put_rusage(addr: u64) -> i64:
    """The child's resource usage: zeros (no accounting per child yet)."""
    if addr == 0:
        return 0
    ru: Rusage = Rusage()
    return copy_to_user(addr, cast(ptr[u8], addr_of(ru)), sizeof(Rusage))


def sys_wait4(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """wait4(pid, wstatus, options, rusage)."""
    options = a.a2
    if options & ~u64(WAIT4_OPTIONS) != 0:
        return -EINVAL
    pid = i64(i32(a.a0))
    which: u64 = P_PID
    ident: u64 = u64(pid)
    if pid == -1:
        which = P_ALL
    elif pid == 0:
        which = P_PGID
        ident = t.process.pgid
    elif pid < 0:
        which = P_PGID
        ident = u64(-pid)
    c: ptr[Process] = NULL
    r = wait_child(t, which, ident, options | WEXITED, addr_of(c))
    if r <= 0:
        return r
    status: u32 = u32(c.exit_status)
    if r == FOUND_STOPPED:
        status = u32((c.stop_sig << 8) | 0x7F)
    elif r == FOUND_CONTINUED:
        status = 0xFFFF
    if a.a1 != 0 and copy_to_user(a.a1, cast(ptr[u8], addr_of(status)), 4) != 0:
        return -EFAULT
    if put_rusage(a.a3) != 0:
        return -EFAULT
    cpid = c.pid
    if r == FOUND_EXITED:
        cputime.reaped(t.process, c)
        family.reap(t.process, c)
    return i64(cpid)


def sys_waitid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """waitid(idtype, ident, infop, options, rusage)."""
    which = a.a0
    options = a.a3
    if options & ~u64(WAITID_OPTIONS) != 0 or options & (WEXITED | WSTOPPED | WCONTINUED) == 0:
        return -EINVAL
    if which != P_ALL and which != P_PID and which != P_PGID:
        return -EINVAL
    ident = a.a1 & 0xFFFF_FFFF
    if which == P_PGID and ident == 0:
        ident = t.process.pgid
    info: Siginfo = Siginfo()
    c: ptr[Process] = NULL
    r = wait_child(t, which, ident, options, addr_of(c))
    if r < 0:
        return r
    if r > 0:
        info.si_signo = SIGCHLD
        info.fields[0] = c.pid | (u64(c.creds.uid) << 32)
        w = c.exit_status
        if r == FOUND_STOPPED:
            info.si_code = CLD_STOPPED
            info.fields[1] = c.stop_sig
        elif r == FOUND_CONTINUED:
            info.si_code = CLD_CONTINUED
            info.fields[1] = SIGCONT
        else:
            info.si_code = CLD_KILLED if w & 0x7F != 0 else CLD_EXITED
            info.fields[1] = w & 0x7F if w & 0x7F != 0 else (w >> 8) & 0xFF
    if a.a2 != 0 and copy_to_user(a.a2, cast(ptr[u8], addr_of(info)), sizeof(Siginfo)) != 0:
        return -EFAULT
    if put_rusage(a.a4) != 0:
        return -EFAULT
    if r == FOUND_EXITED and options & WNOWAIT == 0:
        cputime.reaped(t.process, c)
        family.reap(t.process, c)
    return 0
