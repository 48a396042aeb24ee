"""Signals taken synchronously or sent with a value: rt_sigtimedwait (sigwaitinfo, sigtimedwait,
sigwait), rt_sigqueueinfo and rt_tgsigqueueinfo (sigqueue, pthread_sigqueue).

rt_sigtimedwait takes the lowest pending signal of the set (the caller's, then one sent to its
process and waiting on another thread) with its siginfo; with none it waits with the set
unblocked, so that a send wakes it, until one comes (its number), another signal is to be
handled (-EINTR) or the timeout passes (-EAGAIN). The queueinfo calls send the caller's
siginfo: to another process only with a negative si_code other than SI_TKILL (EPERM
otherwise, as Linux, so no one forges a kernel or kill() signal). Partial: real-time signals do
not queue yet (a second one of a number replaces the first's value).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u64
from qkernel.fs import poll
from qkernel.linux.errno import EAGAIN, EFAULT, EINTR, EINVAL, EPERM, ESRCH
from qkernel.linux.signal import SI_TKILL, Siginfo
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.sys_poll import read_timespec
from qkernel.syscalls.sys_signal import pause_q, refused
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, hostio, sched, signals, timers
from qkernel.task.process import PROC_ZOMBIE
from qkernel.task.signals import UNBLOCKABLE, valid
from qkernel.task.task import Task

STEP_NS: Final = 10_000_000


def take_into(t: ptr[Task], set: u64, uinfo: u64) -> i64:
    """Takes the lowest signal of set pending for t's process: its number (and uinfo filled),
    0 when none, -EFAULT."""
    h = signals.holder(t, set)
    if h == NULL:
        return 0
    sig = signals.lowest(h.sigpending & set)
    info: Siginfo = Siginfo()
    signals.take(h, sig, addr_of(info))
    if uinfo != 0 and copy_to_user(uinfo, cast(ptr[u8], addr_of(info)), sizeof(Siginfo)) != 0:
        return -EFAULT
    return i64(sig)


def sys_rt_sigtimedwait(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a3 != 8:
        return -EINVAL
    set: u64 = 0
    if copy_from_user(cast(ptr[u8], addr_of(set)), a.a0, 8) != 0:
        return -EFAULT
    set &= ~u64(UNBLOCKABLE)
    ns: i64 = 0
    r = read_timespec(a.a2, addr_of(ns))
    if r < 0:
        return r
    deadline = poll.FOREVER if ns < 0 else poll.now() + ns
    while True:
        r = take_into(t, set, a.a1)
        if r != 0:
            return r
        if signals.pending(t):
            return -EINTR
        at = poll.now()
        if deadline != poll.FOREVER and at >= deadline:
            return -EAGAIN
        old = t.sigmask
        t.sigmask = old & ~set         # a signal of the set wakes the wait
        if deadline == poll.FOREVER and t.process.itimer_deadline == 0:
            sched.sleep_on(addr_of(pause_q), 0)
        else:
            step: u64 = STEP_NS
            if deadline != poll.FOREVER and u64(deadline - at) < step:
                step = u64(deadline - at)
            hostio.sleep_ns(t, timers.next_step(t, step))
        t.sigmask = old


def queue_info(t: ptr[Task], pid: u64, uinfo: u64, out: ptr[Siginfo]) -> i64:
    if copy_from_user(cast(ptr[u8], out), uinfo, sizeof(Siginfo)) != 0:
        return -EFAULT
    if (out.si_code >= 0 or out.si_code == i32(SI_TKILL)) and pid != t.process.pid:
        return -EPERM
    return 0


def sys_rt_sigqueueinfo(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    pid = a.a0 & 0xFFFF_FFFF
    sig = a.a1
    if sig != 0 and not valid(sig):
        return -EINVAL
    info: Siginfo = Siginfo()
    r = queue_info(t, pid, a.a2, addr_of(info))
    if r < 0:
        return r
    p = family.find(pid)
    if i64(i32(a.a0)) <= 0 or p == NULL or p.state == PROC_ZOMBIE:
        return -ESRCH
    if not refused(t, p, sig):
        signals.send_process(p, sig, info.si_code, info.fields[0], info.fields[1])
    return 0


def sys_rt_tgsigqueueinfo(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    tgid = a.a0 & 0xFFFF_FFFF
    sig = a.a2
    if i64(i32(a.a0)) <= 0 or i64(i32(a.a1)) <= 0 or (sig != 0 and not valid(sig)):
        return -EINVAL
    info: Siginfo = Siginfo()
    r = queue_info(t, tgid, a.a3, addr_of(info))
    if r < 0:
        return r
    x = family.find_thread(a.a1 & 0xFFFF_FFFF)
    if x == NULL or x.process.pid != tgid:
        return -ESRCH
    if not refused(t, x.process, sig):
        signals.send(x, sig, info.si_code, info.fields[0], info.fields[1])
    return 0
