"""Event files: epoll_create/create1/ctl/wait/pwait/pwait2, eventfd/eventfd2,
timerfd_create/settime/gettime, signalfd/signalfd4. Thin handlers over the file kinds in
qkernel/fs/ (epoll.py, eventfd.py, timerfd.py, signalfd.py), with Linux's argument checks in
Linux's order.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u64
from qkernel.fs import epoll, eventfd, fdtable, poll, signalfd, timerfd
from qkernel.fs.node import File
from qkernel.linux.errno import EBADF, EFAULT, EINTR, EINVAL, ENOMEM, EPERM, ERESTARTNOHAND
from qkernel.linux.events import (EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EPOLL_CLOEXEC,
                                  SFD_CLOEXEC, SFD_NONBLOCK, TFD_CLOEXEC, TFD_NONBLOCK,
                                  TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET)
from qkernel.linux.time import Itimerspec
from qkernel.linux.uio import (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE,
                               POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM,
                               POLLWRNORM, EpollEvent)
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.syscalls.sys_poll import deadline_of, read_sigmask, read_timespec
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import signals
from qkernel.task.task import Task

EP_MAX_EVENTS: Final = 0x7FFF_FFFF // 12
EPOLLWAKEUP: Final = 1 << 29
EXCLUSIVE_OK: Final = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM | EPOLLWAKEUP | \
    EPOLLET | EPOLLEXCLUSIVE


def install(t: ptr[Task], f: ptr[File], cloexec: bool) -> i64:
    """A new file on the lowest free descriptor (its reference dropped when none is free)."""
    if f == NULL:
        return -ENOMEM
    fd = fdtable.alloc(t.process, 0, f, cloexec)
    if fd < 0:
        fdtable.fput_ref(f)
    return fd


# ---- epoll ----------------------------------------------------------------------------------

def sys_epoll_create(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if i64(i32(a.a0)) <= 0:
        return -EINVAL
    return install(t, epoll.create(0), False)


def sys_epoll_create1(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 & ~u64(EPOLL_CLOEXEC) != 0:
        return -EINVAL
    return install(t, epoll.create(0), a.a0 & EPOLL_CLOEXEC != 0)


def sys_epoll_ctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    op = a.a1
    if op != EPOLL_CTL_ADD and op != EPOLL_CTL_DEL and op != EPOLL_CTL_MOD:
        return -EINVAL
    ev: EpollEvent = EpollEvent()
    if op != EPOLL_CTL_DEL and \
            copy_from_user(cast(ptr[u8], addr_of(ev)), a.a3, sizeof(EpollEvent)) != 0:
        return -EFAULT
    epf = fdtable.get(t.process, a.a0)
    fd = a.a2 & 0xFFFF_FFFF
    f = fdtable.get(t.process, fd)
    if epf == NULL or f == NULL:
        return -EBADF
    if f.ops == NULL or f.ops.poll == NULL:
        return -EPERM              # a regular file or directory: nothing to wait for
    events = u64(ev.events)
    if events & EPOLLEXCLUSIVE != 0:
        if op == EPOLL_CTL_MOD or (op == EPOLL_CTL_ADD and (epoll.is_epoll(f) or
                                                           events & ~u64(EXCLUSIVE_OK) != 0)):
            return -EINVAL
    if epf == f or not epoll.is_epoll(epf):
        return -EINVAL
    ep = epoll.of(epf)
    if op == EPOLL_CTL_ADD:
        return epoll.add(ep, f, fd, events, ev.data)
    if op == EPOLL_CTL_MOD:
        return epoll.modify(ep, f, fd, events, ev.data)
    return epoll.remove(ep, f, fd)


def do_epoll_wait(t: ptr[Task], epfd: u64, out: u64, maxevents: u64, deadline: i64) -> i64:
    n = i64(i32(maxevents))
    if n <= 0 or n > EP_MAX_EVENTS:
        return -EINVAL
    if not range_ok(out, u64(n) * sizeof(EpollEvent), True):
        return -EFAULT
    f = fdtable.get(t.process, epfd)
    if f == NULL:
        return -EBADF
    if not epoll.is_epoll(f):
        return -EINVAL
    while True:
        r = epoll.scan(t, epoll.of(f), out, u64(n))
        if r != 0:
            return r
        if not poll.wait(t, deadline):
            return -EINTR if signals.pending(t) else 0


def timeout_ms(a: u64) -> i64:
    ms = i64(i32(a))
    if ms < 0:
        return poll.FOREVER
    return deadline_of(ms * 1000000)


def sys_epoll_wait(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_epoll_wait(t, a.a0, a.a1, a.a2, timeout_ms(a.a3))


def masked_epoll_wait(t: ptr[Task], a: ptr[SyscallArgs], deadline: i64) -> i64:
    """epoll_pwait and epoll_pwait2: the signal mask a4 (size a5) holds for the wait."""
    mask: u64 = 0
    masked = read_sigmask(a.a4, a.a5, addr_of(mask))
    if masked < 0:
        return masked
    if masked == 1:
        signals.wait_mask(t, mask)
    r = do_epoll_wait(t, a.a0, a.a1, a.a2, deadline)
    if masked == 1:
        signals.wait_mask_done(t, r == -EINTR or r == -ERESTARTNOHAND)
    return r


def sys_epoll_pwait(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return masked_epoll_wait(t, a, timeout_ms(a.a3))


def sys_epoll_pwait2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    ns: i64 = 0
    r = read_timespec(a.a3, addr_of(ns))
    if r < 0:
        return r
    return masked_epoll_wait(t, a, deadline_of(ns))


# ---- eventfd --------------------------------------------------------------------------------

def sys_eventfd2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    flags = a.a1
    if flags & ~u64(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE) != 0:
        return -EINVAL
    f = eventfd.create(a.a0 & 0xFFFF_FFFF, flags & EFD_SEMAPHORE != 0, flags)
    return install(t, f, flags & EFD_CLOEXEC != 0)


def sys_eventfd(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return install(t, eventfd.create(a.a0 & 0xFFFF_FFFF, False, 0), False)


# ---- timerfd --------------------------------------------------------------------------------

def timer_file(t: ptr[Task], fd: u64, out: ptr[ptr[File]]) -> i64:
    f = fdtable.get(t.process, fd & 0xFFFF_FFFF)
    if f == NULL:
        return -EBADF
    if f.ops != addr_of(timerfd.TIMERFD_OPS):
        return -EINVAL
    out[0] = f
    return 0


def sys_timerfd_create(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    flags = a.a1
    if flags & ~u64(TFD_CLOEXEC | TFD_NONBLOCK) != 0 or not timerfd.valid_clock(a.a0):
        return -EINVAL
    return install(t, timerfd.create(a.a0, flags), flags & TFD_CLOEXEC != 0)


def sys_timerfd_settime(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a1 & ~u64(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0:
        return -EINVAL
    new: Itimerspec = Itimerspec()
    if copy_from_user(cast(ptr[u8], addr_of(new)), a.a2, sizeof(Itimerspec)) != 0:
        return -EFAULT
    f: ptr[File] = NULL
    r = timer_file(t, a.a0, addr_of(f))
    if r < 0:
        return r
    old: Itimerspec = Itimerspec()
    r = timerfd.settime(f, a.a1 & TFD_TIMER_ABSTIME != 0, addr_of(new), addr_of(old))
    if r < 0:
        return r
    if a.a3 != 0 and copy_to_user(a.a3, cast(ptr[u8], addr_of(old)), sizeof(Itimerspec)) != 0:
        return -EFAULT
    return 0


def sys_timerfd_gettime(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f: ptr[File] = NULL
    r = timer_file(t, a.a0, addr_of(f))
    if r < 0:
        return r
    cur: Itimerspec = Itimerspec()
    timerfd.gettime(f, addr_of(cur))
    return copy_to_user(a.a1, cast(ptr[u8], addr_of(cur)), sizeof(Itimerspec))


# ---- signalfd -------------------------------------------------------------------------------

def do_signalfd(t: ptr[Task], fd: u64, umask: u64, size: u64, flags: u64) -> i64:
    if flags & ~u64(SFD_CLOEXEC | SFD_NONBLOCK) != 0 or size != 8:
        return -EINVAL
    mask: u64 = 0
    if copy_from_user(cast(ptr[u8], addr_of(mask)), umask, 8) != 0:
        return -EFAULT
    if i64(i32(fd)) == -1:
        return install(t, signalfd.create(mask, flags), flags & SFD_CLOEXEC != 0)
    f = fdtable.get(t.process, fd & 0xFFFF_FFFF)
    if f == NULL:
        return -EBADF
    if not signalfd.is_signalfd(f):
        return -EINVAL
    signalfd.set_mask(f, mask)
    return i64(fd & 0xFFFF_FFFF)


def sys_signalfd4(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_signalfd(t, a.a0, a.a1, a.a2, a.a3)


def sys_signalfd(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_signalfd(t, a.a0, a.a1, a.a2, 0)
