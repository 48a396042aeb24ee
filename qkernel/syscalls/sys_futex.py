"""futex(2), set_robust_list/get_robust_list, and what a thread's end does to futexes
(kernel/futex/syscalls.c, waitwake.c, requeue.c; the robust list of core.c).

WAIT and WAIT_BITSET check the word and park the task (-EAGAIN when it changed,
-ETIMEDOUT at the deadline, -ERESTARTSYS when a signal comes); WAKE, WAKE_BITSET, REQUEUE,
CMP_REQUEUE and WAKE_OP wake (and move) waiters. Timeouts: FUTEX_WAIT's is relative on
CLOCK_MONOTONIC, WAIT_BITSET's absolute on CLOCK_MONOTONIC or, with FUTEX_CLOCK_REALTIME,
CLOCK_REALTIME. A timed wait naps in host sleeps of at most poll.STEP_NS between looks (no
in-kernel timer yet), so a wake may be seen up to that late. PI futexes are -ENOSYS.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, ptr, sizeof, u8, u32, u64
from qkernel.fs import poll
from qkernel.linux.errno import EAGAIN, EFAULT, EINVAL, ENOSYS, ERESTARTSYS, ESRCH, ETIMEDOUT
from qkernel.linux.futex import (FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK,
                                 FUTEX_CMP_REQUEUE, FUTEX_OP_ADD, FUTEX_OP_ANDN,
                                 FUTEX_OP_CMP_EQ, FUTEX_OP_CMP_GE, FUTEX_OP_CMP_GT,
                                 FUTEX_OP_CMP_LE, FUTEX_OP_CMP_LT, FUTEX_OP_CMP_NE,
                                 FUTEX_OP_OPARG_SHIFT, FUTEX_OP_OR, FUTEX_OP_SET, FUTEX_OP_XOR,
                                 FUTEX_OWNER_DIED, FUTEX_REQUEUE, FUTEX_TID_MASK, FUTEX_WAIT,
                                 FUTEX_WAIT_BITSET, FUTEX_WAITERS, FUTEX_WAKE, FUTEX_WAKE_BITSET,
                                 FUTEX_WAKE_OP, ROBUST_LIST_LIMIT, RobustListHead)
from qkernel.linux.time import CLOCK_REALTIME, Timespec
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls import sys_time
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, futex, hostio, sched, signals
from qkernel.task.task import Task

NSEC_PER_SEC: Final = 1_000_000_000


def get_u32(uaddr: u64, out: ptr[u32]) -> bool:
    return copy_from_user(cast(ptr[u8], out), uaddr, 4) == 0


def put_u32(uaddr: u64, v: u32) -> bool:
    return copy_to_user(uaddr, cast(ptr[u8], addr_of(v)), 4) == 0


def wait(t: ptr[Task], uaddr: u64, val: u32, deadline: i64, bitset: u64) -> i64:
    """Parks t on the word at uaddr while it holds val (deadline: monotonic ns or FOREVER)."""
    if uaddr & 3 != 0 or bitset == 0:
        return -EINVAL
    cur: u32 = 0
    if not get_u32(uaddr, addr_of(cur)):
        return -EFAULT
    if cur != val:
        return -EAGAIN
    key = futex.key_of(uaddr)
    if key == 0:
        return -EFAULT
    futex.enqueue(t, key, bitset)
    while t.futex_woken == 0:
        if signals.pending(t):
            futex.dequeue(t)
            return -ERESTARTSYS
        if deadline == poll.FOREVER:
            sched.sleep_on(addr_of(futex.sleepers), 0)
            continue
        left = deadline - poll.now()
        if left <= 0:
            futex.dequeue(t)
            return -ETIMEDOUT
        hostio.sleep_ns(t, u64(left) if left < poll.STEP_NS else poll.STEP_NS)
    return 0


def deadline_of(t: ptr[Task], uts: u64, absolute: bool, realtime: bool) -> i64:
    """The monotonic deadline of a futex timeout (FOREVER for none); -1 - errno when bad."""
    if uts == 0:
        return poll.FOREVER
    ts: Timespec = Timespec()
    if copy_from_user(cast(ptr[u8], addr_of(ts)), uts, sizeof(Timespec)) != 0:
        return -1 - EFAULT
    if ts.tv_sec < 0 or ts.tv_nsec < 0 or ts.tv_nsec >= NSEC_PER_SEC:
        return -1 - EINVAL
    ns = ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec
    if not absolute:
        return poll.now() + ns
    if realtime:
        return poll.now() + (ns - sys_time.now_ns(CLOCK_REALTIME))
    return ns


def sign12(x: u64) -> i64:
    v = i64(x & 0xFFF)
    return v - 0x1000 if v >= 0x800 else v


def wake_op(uaddr: u64, n: u64, uaddr2: u64, n2: u64, code: u64) -> i64:
    """FUTEX_WAKE_OP: *uaddr2 = *uaddr2 OP oparg; wake n on uaddr; and, when the old value
    compares true against cmparg, n2 on uaddr2."""
    op = (code >> 28) & 0xF
    cmpop = (code >> 24) & 0xF
    oparg = sign12(code >> 12)
    cmparg = sign12(code)
    if op & FUTEX_OP_OPARG_SHIFT != 0:
        if oparg < 0 or oparg > 31:
            return -EINVAL
        oparg = i64(1) << u64(oparg)
        op &= ~u64(FUTEX_OP_OPARG_SHIFT)
    old: u32 = 0
    if uaddr2 & 3 != 0 or not get_u32(uaddr2, addr_of(old)):
        return -EFAULT
    a = u32(u64(oparg) & 0xFFFF_FFFF)
    new: u32 = 0
    if op == FUTEX_OP_SET:
        new = a
    elif op == FUTEX_OP_ADD:
        new = old + a
    elif op == FUTEX_OP_OR:
        new = old | a
    elif op == FUTEX_OP_ANDN:
        new = old & ~a
    elif op == FUTEX_OP_XOR:
        new = old ^ a
    else:
        return -ENOSYS
    if not put_u32(uaddr2, new):
        return -EFAULT
    key = futex.key_of(uaddr)
    key2 = futex.key_of(uaddr2)
    done: u64 = 0
    if key != 0:
        done = futex.wake(key, n, FUTEX_BITSET_MATCH_ANY)
    o = i64(i32(old))
    hit = False
    if cmpop == FUTEX_OP_CMP_EQ:
        hit = o == cmparg
    elif cmpop == FUTEX_OP_CMP_NE:
        hit = o != cmparg
    elif cmpop == FUTEX_OP_CMP_LT:
        hit = o < cmparg
    elif cmpop == FUTEX_OP_CMP_LE:
        hit = o <= cmparg
    elif cmpop == FUTEX_OP_CMP_GT:
        hit = o > cmparg
    elif cmpop == FUTEX_OP_CMP_GE:
        hit = o >= cmparg
    else:
        return -ENOSYS
    if hit and key2 != 0:
        done += futex.wake(key2, n2, FUTEX_BITSET_MATCH_ANY)
    return i64(done)


def sys_futex(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """futex(uaddr, op, val, timeout | val2, uaddr2, val3)."""
    uaddr = a.a0
    op = a.a1 & 0xFFFF_FFFF     # an int
    cmd = op & FUTEX_CMD_MASK
    val = a.a2 & 0xFFFF_FFFF
    realtime = op & FUTEX_CLOCK_REALTIME != 0
    if realtime and cmd != FUTEX_WAIT_BITSET and cmd != FUTEX_WAIT:
        return -ENOSYS
    if cmd == FUTEX_WAIT or cmd == FUTEX_WAIT_BITSET:
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else a.a5 & 0xFFFF_FFFF
        d = deadline_of(t, a.a3, cmd == FUTEX_WAIT_BITSET, realtime)
        if d < -1:
            return d + 1
        return wait(t, uaddr, u32(val), d, bitset)
    if cmd == FUTEX_WAKE or cmd == FUTEX_WAKE_BITSET:
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else a.a5 & 0xFFFF_FFFF
        if uaddr & 3 != 0 or bitset == 0:
            return -EINVAL
        key = futex.key_of(uaddr)
        if key == 0:
            return -EFAULT
        return i64(futex.wake(key, val, bitset))
    if cmd == FUTEX_REQUEUE or cmd == FUTEX_CMP_REQUEUE:
        if uaddr & 3 != 0 or a.a4 & 3 != 0:
            return -EINVAL
        if cmd == FUTEX_CMP_REQUEUE:
            cur: u32 = 0
            if not get_u32(uaddr, addr_of(cur)):
                return -EFAULT
            if u64(cur) != a.a5 & 0xFFFF_FFFF:
                return -EAGAIN
        key = futex.key_of(uaddr)
        key2 = futex.key_of(a.a4)
        if key == 0 or key2 == 0:
            return -EFAULT
        return i64(futex.requeue(key, key2, val, a.a3 & 0xFFFF_FFFF))
    if cmd == FUTEX_WAKE_OP:
        return wake_op(uaddr, val, a.a4, a.a3 & 0xFFFF_FFFF, a.a5)
    return -ENOSYS


# ---- a thread's end ------------------------------------------------------------------------------

def wake_word(uaddr: u64) -> None:
    key = futex.key_of(uaddr)
    if key != 0:
        futex.wake(key, 1, FUTEX_BITSET_MATCH_ANY)


def robust_one(t: ptr[Task], uaddr: u64) -> None:
    """A futex word t held as it died: FUTEX_OWNER_DIED, and one waiter woken."""
    w: u32 = 0
    if uaddr & 3 != 0 or not get_u32(uaddr, addr_of(w)):
        return
    if u64(w) & FUTEX_TID_MASK != t.tid:
        return
    if not put_u32(uaddr, u32((u64(w) & FUTEX_WAITERS) | FUTEX_OWNER_DIED)):
        return
    if u64(w) & FUTEX_WAITERS != 0:
        wake_word(uaddr)


def release(t: ptr[Task]) -> None:
    """At t's end, in its address space: the robust list walked (ROBUST_LIST_LIMIT entries at
    most), then CLONE_CHILD_CLEARTID's word zeroed and its waiter woken (pthread_join)."""
    if t.robust_list != 0:
        h: RobustListHead = RobustListHead()
        if copy_from_user(cast(ptr[u8], addr_of(h)), t.robust_list, sizeof(RobustListHead)) == 0:
            e = h.next
            n: u64 = 0
            while e != t.robust_list and e != 0 and n < ROBUST_LIST_LIMIT:
                if e != h.list_op_pending:
                    robust_one(t, (e + h.futex_offset) & ~u64(1))
                nxt: u64 = 0
                if copy_from_user(cast(ptr[u8], addr_of(nxt)), e, 8) != 0:
                    break
                e = nxt & ~u64(1)
                n += 1
            if h.list_op_pending != 0:
                robust_one(t, h.list_op_pending + h.futex_offset)
        t.robust_list = 0
    if t.clear_child_tid != 0:
        if put_u32(t.clear_child_tid, 0):
            wake_word(t.clear_child_tid)
        t.clear_child_tid = 0


def sys_get_robust_list(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """get_robust_list(tid, &head, &len): tid 0 is the caller."""
    x = t
    if a.a0 & 0xFFFF_FFFF != 0:
        x = family.find_thread(a.a0 & 0xFFFF_FFFF)
        if x == NULL:
            return -ESRCH
    head = x.robust_list
    size: u64 = sizeof(RobustListHead)
    if copy_to_user(a.a1, cast(ptr[u8], addr_of(head)), 8) != 0 or \
            copy_to_user(a.a2, cast(ptr[u8], addr_of(size)), 8) != 0:
        return -EFAULT
    return 0
