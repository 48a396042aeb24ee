"""Process identity: getpid & co., process groups and sessions, set_tid_address,
set_robust_list, arch_prctl, prctl, uname, umask, the scheduler queries (credentials:
sys_cred.py)."""

from __future__ import annotations

from qkernel.arch import percpu
from qkernel.dialect import NULL, addr_of, array, cast, i64, ptr, sizeof, u8, u64
from qkernel.linux.errno import EFAULT, EINVAL, ENODEV, EPERM, ESRCH
from qkernel.linux.utsname import (ARCH_GET_CPUID, ARCH_GET_FS, ARCH_SET_CPUID, ARCH_SET_FS, PR_GET_NAME, PR_SET_NAME,
                                   TASK_COMM_LEN, UTS_LEN, Utsname)
from qkernel.mm.pagetable import USER_TOP
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.process import PROC_ZOMBIE, Process, set_name
from qkernel.task import family
from qkernel.task.task import Task


def _is_self(t: ptr[Task], pid: u64) -> bool:
    return pid == 0 or pid == t.process.pid


def sys_getpid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.pid)


def sys_gettid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.tid)


def sys_getppid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.ppid)


def sys_set_tid_address(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    t.clear_child_tid = a.a0
    return i64(t.tid)


def sys_set_robust_list(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a1 != 24:  # sizeof(struct robust_list_head)
        return -EINVAL
    t.robust_list = a.a0
    t.robust_len = a.a1
    return 0


def sys_arch_prctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    code = a.a0
    addr = a.a1
    if code == ARCH_SET_FS:
        if addr >= USER_TOP:
            return -EPERM  # Linux: a base outside the user half is refused
        t.fs_base = addr
        percpu.set_fs_base(addr)
        return 0
    if code == ARCH_GET_FS:
        v = t.fs_base
        return copy_to_user(addr, cast(ptr[u8], addr_of(v)), 8)
    if code == ARCH_GET_CPUID:
        return 1                   # cpuid runs (no CPUID faulting is set)
    if code == ARCH_SET_CPUID:
        return 0 if addr != 0 else -ENODEV   # faulting cpuid needs CPUID faulting: not offered
    return -EINVAL


def sys_prctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    option = a.a0
    if option == PR_SET_NAME:
        buf: array[u8, 16] = array[u8, 16]()
        i: u64 = 0
        while i < TASK_COMM_LEN - 1:  # up to 15 bytes, stopping at NUL (Linux: strncpy_from_user)
            if copy_from_user(addr_of(buf[i]), a.a1 + i, 1) != 0:
                return -EFAULT
            if buf[i] == 0:
                break
            i += 1
        set_name(t.process, addr_of(buf[0]), i)
        return 0
    if option == PR_GET_NAME:
        return copy_to_user(a.a1, addr_of(t.process.name[0]), TASK_COMM_LEN)
    return -EINVAL


def _put(field: ptr[u8], text: ptr[u8]) -> None:
    i: u64 = 0
    while text[i] != 0 and i < UTS_LEN - 1:
        field[i] = text[i]
        i += 1


def sys_uname(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    uts: Utsname = Utsname()
    _put(addr_of(uts.sysname[0]), b"Linux")
    _put(addr_of(uts.nodename[0]), b"pyquark")
    _put(addr_of(uts.release[0]), b"6.1.0-pyquark")
    _put(addr_of(uts.version[0]), b"#1 SMP PREEMPT_DYNAMIC pyquark")
    _put(addr_of(uts.machine[0]), b"x86_64")
    _put(addr_of(uts.domainname[0]), b"(none)")
    return copy_to_user(a.a0, cast(ptr[u8], addr_of(uts)), sizeof(Utsname))






def sys_getpgrp(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.pgid)


def target(t: ptr[Task], pid: u64) -> ptr[Process]:
    """The process a pid argument names (0: the caller), NULL when there is none alive."""
    pid &= 0xFFFF_FFFF
    if pid == 0 or pid == t.process.pid:
        return t.process
    p = family.find(pid)
    if p != NULL and p.state == PROC_ZOMBIE:
        return NULL
    return p


def sys_getpgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p = target(t, a.a0)
    if p == NULL:
        return -ESRCH
    return i64(p.pgid)


def sys_getsid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    p = target(t, a.a0)
    if p == NULL:
        return -ESRCH
    return i64(p.sid)


def sys_setsid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """A new session and process group led by the caller; EPERM for a group leader."""
    p = t.process
    if p.pgid == p.pid or pgrp_member(p.pid, 0):
        return -EPERM
    p.sid = p.pid
    p.pgid = p.pid
    return i64(p.sid)


def pgrp_member(pgid: u64, sid: u64) -> bool:
    """Is there a live process in group pgid (and, unless sid is 0, in session sid)?"""
    q = family.init_process
    while q != NULL:
        if q.pgid == pgid and (sid == 0 or q.sid == sid) and q.state != PROC_ZOMBIE:
            return True
        q = family.next_in_tree(q)
    return False


def sys_setpgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """setpgid(pid, pgid): the caller or a child of its session into a group of the session."""
    me = t.process
    p = target(t, a.a0)
    if p == NULL or (p != me and p.parent != me):
        return -ESRCH
    pgid = a.a1 & 0xFFFF_FFFF
    if pgid >= 0x8000_0000:
        return -EINVAL
    if pgid == 0:
        pgid = p.pid
    if p.sid == p.pid or p.sid != me.sid:
        return -EPERM     # a session leader, or a child in another session
    if pgid != p.pid and not pgrp_member(pgid, me.sid):
        return -EPERM
    p.pgid = pgid
    return 0



def sys_umask(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    old = t.process.umask
    t.process.umask = a.a0 & 0o777
    return i64(old)

