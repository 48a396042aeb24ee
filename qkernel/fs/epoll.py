"""epoll: an interest list of (file, descriptor) items as a file (epoll(7)), one file kind
(EPOLL_OPS).

Each item watches one open file description with the events asked for, the data word to
report and the EPOLLET/EPOLLONESHOT flags. A wait looks at every item in turn (starting after
the last one reported, so that a small maxevents still serves each item), reporting what its
file's poll says is ready among the events asked for, plus EPOLLERR and EPOLLHUP:
- level-triggered items are reported for as long as they are ready;
- edge-triggered ones once per change: again only when the file's inode counted a readiness
  change on the side asked for since the last report (poll.notify_inode), or after EPOLL_CTL_MOD;
- one-shot items are disabled after one report until EPOLL_CTL_MOD.
An item lives as long as its file description, not its descriptor: closing one of two dups
leaves it, and the last close of the file takes it out of every interest list (node.watch_hook).
An epoll file is itself pollable (readable when one of its items is ready), can be watched by
another epoll up to EP_MAX_NESTS deep, and loops are refused (ELOOP).
Limits: MAX_ITEMS in the sandbox (ENOSPC beyond, as max_user_watches). Lookups walk the list
(a hash per epoll for thousands of descriptors is not built yet).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, sizeof, struct, u8, u32, u64
from qkernel.fs import anon, poll
from qkernel.fs import node
from qkernel.fs.node import File, FileOps
from qkernel.linux.errno import EEXIST, EFAULT, ELOOP, ENOENT, ENOMEM, ENOSPC
from qkernel.linux.uio import (EPOLLET, EPOLLONESHOT, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI,
                               POLLRDBAND, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM,
                               EpollEvent)
from qkernel.mm import kalloc
from qkernel.mm.uaccess import copy_to_user
from qkernel.task.task import Task

EP_MAX_NESTS: Final = 4
MAX_ITEMS: Final = 1 << 20
IN_SIDE: Final = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP
OUT_SIDE: Final = POLLOUT | POLLWRNORM | POLLWRBAND
ALWAYS: Final = POLLERR | POLLHUP


@struct
class Epoll:
    first: ptr[EpollItem]
    last: ptr[EpollItem]
    cursor: ptr[EpollItem]     # where the next look starts (after the last item reported)
    count: u64
    was_ready: bool            # as an item itself: ready at the last look (edges for epoll)


@struct
class EpollItem:
    ep: ptr[Epoll]
    file: ptr[File]
    fd: u64
    events: u64                # what was asked for, with EPOLLET / EPOLLONESHOT
    data: u64
    seen_in: u64               # the file's inode change counts at the last report (EPOLLET)
    seen_out: u64
    fresh: bool                # added or modified since its last report
    disabled: bool             # a one-shot item that was reported
    next: ptr[EpollItem]       # in its epoll's list
    file_next: ptr[EpollItem]  # in its file's list (File.epitems)


ep_pool: kalloc.Pool = kalloc.Pool()
item_pool: kalloc.Pool = kalloc.Pool()
ready: bool = False


def of(f: ptr[File]) -> ptr[Epoll]:
    return cast(ptr[Epoll], f.inode.priv)


def is_epoll(f: ptr[File]) -> bool:
    return anon.is_kind(f, addr_of(EPOLL_OPS))


# ---- one look at the items ------------------------------------------------------------------

def item_ready(t: ptr[Task], it: ptr[EpollItem]) -> u64:
    """The events to report for `it` now (0: none)."""
    if it.disabled:
        return 0
    ev = poll.events(t, it.file) & ((it.events & 0xFFFF) | ALWAYS)
    if ev == 0 or it.events & EPOLLET == 0 or it.fresh:
        return ev
    ino = it.file.inode
    moved = (it.events & IN_SIDE != 0 and ino.wake_in != it.seen_in) or \
        (it.events & OUT_SIDE != 0 and ino.wake_out != it.seen_out)
    return ev if moved else 0


def reported(it: ptr[EpollItem]) -> None:
    ino = it.file.inode
    it.seen_in = ino.wake_in
    it.seen_out = ino.wake_out
    it.fresh = False
    if it.events & EPOLLONESHOT != 0:
        it.disabled = True


def scan(t: ptr[Task], ep: ptr[Epoll], out: u64, maxevents: u64) -> i64:
    """Writes up to maxevents ready items to the user array at out: how many, or -EFAULT."""
    n: u64 = 0
    start = ep.cursor if ep.cursor != NULL else ep.first
    it = start
    rec: EpollEvent = EpollEvent()
    for k in range(ep.count):
        if it == NULL:
            it = ep.first
        ev = item_ready(t, it)
        if ev != 0:
            rec.events = u32(ev)
            rec.data = it.data
            if copy_to_user(out + n * sizeof(EpollEvent), cast(ptr[u8], addr_of(rec)), sizeof(EpollEvent)) != 0:
                return -EFAULT if n == 0 else i64(n)
            reported(it)
            n += 1
            if n == maxevents:
                ep.cursor = it.next
                return i64(n)
        it = it.next
    return i64(n)


def ep_poll(t: ptr[Task], f: ptr[File]) -> u64:
    """An epoll file is readable when an item is ready (the items are not consumed)."""
    ep = of(f)
    any_ready = False
    it = ep.first
    while it != NULL and not any_ready:
        any_ready = item_ready(t, it) != 0
        it = it.next
    if any_ready and not ep.was_ready:
        f.inode.wake_in += 1
    ep.was_ready = any_ready
    return POLLIN | POLLRDNORM if any_ready else 0


# ---- the interest list ----------------------------------------------------------------------

def find(ep: ptr[Epoll], f: ptr[File], fd: u64) -> ptr[EpollItem]:
    it = ep.first
    while it != NULL:
        if it.file == f and it.fd == fd:
            return it
        it = it.next
    return cast(ptr[EpollItem], NULL)


def contains(outer: ptr[Epoll], inner: ptr[Epoll], depth: u64) -> bool:
    """Does outer watch inner, directly or through other epolls (or nest too deep)?"""
    if depth > EP_MAX_NESTS:
        return True
    it = outer.first
    while it != NULL:
        if is_epoll(it.file):
            sub = of(it.file)
            if sub == inner or contains(sub, inner, depth + 1):
                return True
        it = it.next
    return False


def add(ep: ptr[Epoll], f: ptr[File], fd: u64, events: u64, data: u64) -> i64:
    if find(ep, f, fd) != NULL:
        return -EEXIST
    if is_epoll(f) and contains(of(f), ep, 1):
        return -ELOOP
    if item_pool.in_use >= MAX_ITEMS:
        return -ENOSPC
    it = cast(ptr[EpollItem], kalloc.alloc(addr_of(item_pool)))
    if it == NULL:
        return -ENOMEM
    it.ep = ep
    it.file = f
    it.fd = fd
    it.events = events
    it.data = data
    it.fresh = True
    if ep.last != NULL:
        ep.last.next = it
    else:
        ep.first = it
    ep.last = it
    ep.count += 1
    it.file_next = cast(ptr[EpollItem], f.epitems)
    f.epitems = u64(it)
    poll.notify()          # a waiter on this epoll looks again
    return 0


def modify(ep: ptr[Epoll], f: ptr[File], fd: u64, events: u64, data: u64) -> i64:
    it = find(ep, f, fd)
    if it == NULL:
        return -ENOENT
    it.events = events
    it.data = data
    it.fresh = True
    it.disabled = False
    poll.notify()
    return 0


def unlink_from_ep(it: ptr[EpollItem]) -> None:
    ep = it.ep
    prev: ptr[EpollItem] = NULL
    c = ep.first
    while c != NULL and c != it:
        prev = c
        c = c.next
    if c == NULL:
        return
    if prev == NULL:
        ep.first = it.next
    else:
        prev.next = it.next
    if ep.last == it:
        ep.last = prev
    if ep.cursor == it:
        ep.cursor = it.next
    ep.count -= 1


def unlink_from_file(it: ptr[EpollItem]) -> None:
    f = it.file
    prev: ptr[EpollItem] = NULL
    c = cast(ptr[EpollItem], f.epitems)
    while c != NULL and c != it:
        prev = c
        c = c.file_next
    if c == NULL:
        return
    if prev == NULL:
        f.epitems = u64(it.file_next)
    else:
        prev.file_next = it.file_next


def remove(ep: ptr[Epoll], f: ptr[File], fd: u64) -> i64:
    it = find(ep, f, fd)
    if it == NULL:
        return -ENOENT
    unlink_from_ep(it)
    unlink_from_file(it)
    kalloc.free(addr_of(item_pool), cast(ptr[None], it))
    return 0


def forget_file(f: ptr[File]) -> None:
    """node.watch_hook: the last reference to f went; its items leave every interest list."""
    it = cast(ptr[EpollItem], f.epitems)
    f.epitems = 0
    while it != NULL:
        nxt = it.file_next
        unlink_from_ep(it)
        kalloc.free(addr_of(item_pool), cast(ptr[None], it))
        it = nxt


def ep_release(f: ptr[File]) -> None:
    ep = of(f)
    while ep.first != NULL:
        it = ep.first
        ep.first = it.next
        unlink_from_file(it)
        kalloc.free(addr_of(item_pool), cast(ptr[None], it))
    kalloc.free(addr_of(ep_pool), cast(ptr[None], ep))


EPOLL_OPS: FileOps = FileOps(poll=ep_poll, release=ep_release)


def create(flags: u64) -> ptr[File]:
    """A new, empty epoll file; NULL when out of memory or files."""
    global ready
    if not ready:
        kalloc.init(addr_of(ep_pool), sizeof(Epoll), 0, True)
        kalloc.init(addr_of(item_pool), sizeof(EpollItem), 0, True)
        node.watch_hook = forget_file
        ready = True
    ep = cast(ptr[Epoll], kalloc.alloc(addr_of(ep_pool)))
    if ep == NULL:
        return NULL
    f = anon.new_anon(addr_of(EPOLL_OPS), b"anon_inode:[eventpoll]", u64(ep), flags)
    if f == NULL:
        kalloc.free(addr_of(ep_pool), cast(ptr[None], ep))
    return f
