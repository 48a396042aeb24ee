"""New processes: fork, vfork, clone and clone3 (kernel/fork.c's copy_process).

The child is a copy of the caller's Process (credentials, limits, umask, name, exe, cwd, the
argument area) with a fresh pid, the caller's descriptors (shared Files, as dup), and an
address space of its own (mmap.copy_space: eager copy) or, with CLONE_VM, the caller's
(vfork, posix_spawn). Its one task starts with a copy of the caller's TrapFrame at the top of
its kernel stack, rax = 0, and its first switch resumes at boot/entry.S's return to the
program (arch.syscall.return_address), so the child returns from the same `syscall` with 0.

CLONE_VFORK parks the parent until the child execs or exits (sys_wait.release_vfork).
CLONE_THREAD makes a thread instead (new_thread): a Task of the same Process, linked in its
chain (Task.thread_next from Process.leader), with its own stack and TLS.
Not yet: CLONE_FILES and CLONE_FS without CLONE_THREAD share nothing (the child gets copies),
CLONE_PIDFD and clone3's set_tid (-EINVAL). Namespaces (CLONE_NEW*) are -EINVAL: the sandbox is one.
"""

from __future__ import annotations

from qkernel.arch import syscall
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, addr_of, cast, i64, memcpy, ptr, sizeof, struct, u8, u32, u64
from qkernel.fs import fdtable
from qkernel.linux.errno import EAGAIN, EFAULT, EINVAL, ENOMEM, EPERM
from qkernel.linux.sched import (CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES, CLONE_FS,
                                 CLONE_IO, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS,
                                 CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, CLONE_PARENT,
                                 CLONE_PARENT_SETTID, CLONE_PIDFD, CLONE_PTRACE, CLONE_SETTLS,
                                 CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_UNTRACED,
                                 CLONE_VFORK, CLONE_VM, CSIGNAL)
from qkernel.linux.resource import Rlimit
from qkernel.linux.signal import NSIG, SIGCHLD, KSigaction
from qkernel.linux.utsname import TASK_COMM_LEN
from qkernel.mm import mmap
from qkernel.mm.pagetable import USER_TOP
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, sched, task
from qkernel.task.process import EXE_MAX, Creds, Process
from qkernel.task.task import Task

SWITCH_WORDS: Final = 7          # sched.switch_stacks pops six registers and a resume address
CLONE_ARGS_SIZE_VER0: Final = 64
CLONE_NEW_ANY: Final = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                        | CLONE_NEWPID | CLONE_NEWNET)
CLONE_KNOWN: Final = (CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_PIDFD
                      | CLONE_PTRACE | CLONE_VFORK | CLONE_PARENT | CLONE_THREAD | CLONE_SYSVSEM
                      | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID
                      | CLONE_UNTRACED | CLONE_CHILD_SETTID | CLONE_IO | CLONE_DETACHED | CLONE_NEW_ANY)


@struct
class CloneArgs:
    """struct clone_args (clone3), its first CLONE_ARGS_SIZE_VER0 bytes and the set_tid part."""
    flags: u64
    pidfd: u64
    child_tid: u64
    parent_tid: u64
    exit_signal: u64
    stack: u64
    stack_size: u64
    tls: u64
    set_tid: u64
    set_tid_size: u64
    cgroup: u64


def child_frame(ct: ptr[Task], frame: ptr[TrapFrame], sp: u64) -> None:
    """ct's first switch returns to the program with a copy of `frame`: rax 0, rsp = sp when
    given (a new stack)."""
    f = cast(ptr[TrapFrame], ct.kstack_top - sizeof(TrapFrame))
    memcpy(cast(ptr[u8], f), cast(ptr[u8], frame), sizeof(TrapFrame))
    f.rax = 0
    if sp != 0:
        f.rsp = sp
    words = cast(ptr[u64], u64(f) - SWITCH_WORDS * 8)
    for i in range(SWITCH_WORDS - 1):
        words[i] = 0                               # r15 r14 r13 r12 rbx rbp
    words[SWITCH_WORDS - 1] = syscall.return_address()
    ct.ctx_rsp = u64(words)
    ct.frame = f


def setup_task(ct: ptr[Task], t: ptr[Task], flags: u64, sp: u64, ptid: u64, ctid: u64, tls: u64) -> None:
    """The new task ct of a clone by t: its first frame, mask, thread pointer and the tid
    words (CHILD_SETTID is written where the child's memory is the caller's: CLONE_VM)."""
    child_frame(ct, t.frame, sp)
    ct.sigmask = t.sigmask
    ct.nice = t.nice
    ct.policy = t.policy
    ct.rt_priority = t.rt_priority
    if t.sched_reset_on_fork:      # SCHED_RESET_ON_FORK: the child starts as SCHED_OTHER, nice >= 0
        ct.policy = 0
        ct.rt_priority = 0
        if ct.nice < 0:
            ct.nice = 0
    else:
        ct.sched_reset_on_fork = False
    ct.fs_base = tls if flags & CLONE_SETTLS != 0 else t.fs_base
    if flags & CLONE_CHILD_CLEARTID != 0:
        ct.clear_child_tid = ctid
    tid32: u32 = u32(ct.tid)
    if flags & CLONE_PARENT_SETTID != 0:
        copy_to_user(ptid, cast(ptr[u8], addr_of(tid32)), 4)
    if flags & CLONE_CHILD_SETTID != 0 and flags & CLONE_VM != 0:
        copy_to_user(ctid, cast(ptr[u8], addr_of(tid32)), 4)


def copy_fields(c: ptr[Process], p: ptr[Process]) -> None:
    """What a child inherits of its parent's Process besides memory and descriptors."""
    c.pgid = p.pgid
    c.sid = p.sid
    memcpy(cast(ptr[u8], addr_of(c.creds)), cast(ptr[u8], addr_of(p.creds)), sizeof(Creds))
    c.umask = p.umask
    memcpy(cast(ptr[u8], addr_of(c.rlimits[0])), cast(ptr[u8], addr_of(p.rlimits[0])), 16 * sizeof(Rlimit))
    memcpy(addr_of(c.name[0]), addr_of(p.name[0]), TASK_COMM_LEN)
    memcpy(addr_of(c.exe[0]), addr_of(p.exe[0]), EXE_MAX)
    c.exe_len = p.exe_len
    c.arg_start = p.arg_start
    c.arg_end = p.arg_end
    c.env_start = p.env_start
    c.env_end = p.env_end
    c.cwd_mnt = p.cwd_mnt
    c.cwd_dentry = p.cwd_dentry
    c.start_ns = p.start_ns
    memcpy(cast(ptr[u8], addr_of(c.sigactions[0])), cast(ptr[u8], addr_of(p.sigactions[0])),
           NSIG * sizeof(KSigaction))


def abandon(c: ptr[Process], ct: ptr[Task]) -> None:
    """Undoes a child that could not be completed (nothing of it ran)."""
    fdtable.close_all(c)
    fdtable.release_table(c)
    if c.mm != NULL:
        task.put_mm(c.mm)   # a copy (not in CR3), an empty object, or one user less of a shared one
    if ct != NULL:
        task.free_task(ct)
    task.free_process(c)


def do_fork(t: ptr[Task], flags: u64, sp: u64, ptid: u64, ctid: u64, tls: u64) -> i64:
    """The common path of fork, vfork, clone and clone3: the child's pid or -errno."""
    if flags & ~u64(CLONE_KNOWN) != 0 or flags & CLONE_NEW_ANY != 0:
        return -EINVAL
    if flags & CLONE_SIGHAND != 0 and flags & CLONE_VM == 0:
        return -EINVAL
    if flags & CLONE_THREAD != 0 and flags & CLONE_SIGHAND == 0:
        return -EINVAL
    if flags & CLONE_SETTLS != 0 and tls >= USER_TOP:
        return -EPERM
    p = t.process
    family.free_dead()
    if flags & CLONE_THREAD != 0:
        return new_thread(t, flags, sp, ptid, ctid, tls)
    c = task.new_process()
    if c == NULL:
        return -EAGAIN
    copy_fields(c, p)
    c.exit_signal = flags & CSIGNAL
    ct = task.new_task(c, c.pid)
    if ct == NULL:
        abandon(c, ct)
        return -EAGAIN
    c.leader = u64(ct)
    if flags & CLONE_VM != 0:
        task.put_mm(c.mm)
        c.mm = p.mm
        p.mm.users += 1
    elif mmap.copy_space(c.mm, p.mm) < 0:
        abandon(c, ct)
        return -ENOMEM
    if fdtable.copy(c, p) < 0:
        abandon(c, ct)
        return -ENOMEM
    setup_task(ct, t, flags, sp, ptid, ctid, tls)
    if flags & CLONE_VM == 0 or flags & CLONE_VFORK != 0:
        ct.altstack_sp = t.altstack_sp       # the alternate stack is inherited unless the
        ct.altstack_size = t.altstack_size   # child shares memory without vfork
        ct.altstack_flags = t.altstack_flags
    pid = c.pid
    parent = p.parent if flags & CLONE_PARENT != 0 and p.parent != NULL else p
    family.link_child(parent, c)
    if flags & CLONE_VFORK != 0:
        c.vfork_parent = u64(t)
    sched.enqueue(ct)
    if flags & CLONE_VFORK != 0:
        while c.vfork_parent != 0:
            sched.sleep_on(addr_of(family.vfork_done), 0)
    return i64(pid)


def new_thread(t: ptr[Task], flags: u64, sp: u64, ptid: u64, ctid: u64, tls: u64) -> i64:
    """CLONE_THREAD: a task of t's process (its memory, descriptors and dispositions), on
    stack sp with thread pointer tls; its tid, or -EAGAIN."""
    p = t.process
    if p.group_exit != 0:
        return -EAGAIN
    ct = task.new_task(p, task.alloc_pid())
    if ct == NULL:
        return -EAGAIN
    setup_task(ct, t, flags, sp, ptid, ctid, tls)
    first = family.first_thread(p)
    ct.thread_next = first.thread_next
    first.thread_next = ct
    sched.enqueue(ct)
    return i64(ct.tid)


def sys_fork(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_fork(t, SIGCHLD, 0, 0, 0, 0)


def sys_vfork(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_fork(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0)


def sys_clone(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """clone(flags, newsp, parent_tid, child_tid, tls): x86-64's argument order."""
    return do_fork(t, a.a0, a.a1, a.a2, a.a3, a.a4)


def sys_clone3(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    size = a.a1
    if size < CLONE_ARGS_SIZE_VER0 or size > 4096:
        return -EINVAL
    ca: CloneArgs = CloneArgs()
    n = size if size < sizeof(CloneArgs) else sizeof(CloneArgs)
    if copy_from_user(cast(ptr[u8], addr_of(ca)), a.a0, n) != 0:
        return -EFAULT
    if ca.exit_signal & ~u64(CSIGNAL) != 0 or ca.flags & CSIGNAL != 0 or ca.set_tid_size != 0:
        return -EINVAL
    if (ca.stack == 0) != (ca.stack_size == 0):
        return -EINVAL
    sp = ca.stack + ca.stack_size if ca.stack != 0 else 0
    if ca.flags & CLONE_PIDFD != 0:
        return -EINVAL      # pidfds: not yet
    return do_fork(t, ca.flags | ca.exit_signal, sp, ca.parent_tid, ca.child_tid, ca.tls)
