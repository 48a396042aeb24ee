"""Host calls that park the calling task instead of the vCPU: the asynchronous qcall ring.

The ring (layout and protocol: qkernel/abi.py, "asynchronous qcalls") lives in RING_ENTRIES
entries of physically contiguous kernel memory registered with QCALL_RING_SETUP. `call` fills a
submission entry tagged with the task, publishes it (a seq_cst store of sq_tail: the entry's
stores first, then a full fence before host_flags is read), kicks the host when it asks
(RING_NEED_KICK), and sleeps on `done_wq` until `poll` finds its completion. Host threads serve
the entry meanwhile; the vCPU runs other tasks, and when nothing can run the idle task waits in
the host for a completion (QCALL_RING_WAIT) and polls.

Blocking host operations (console read, sleeping; later pipes to host fds, sockets) use this
path; quick ones stay synchronous qcalls (qkernel/qcall.py). Without a ring (setup refused) or
from the idle task, `call` falls back to the synchronous qcall, so behaviour never depends on
the ring being there. Per-CPU state: one vCPU and one ring today.
"""

from __future__ import annotations

from qkernel import klog, qcall
from qkernel.abi import (LOG_ERROR, PAGE_SIZE, QCALL_CONSOLE_READ, QCALL_NANOSLEEP, RING_CQE_SIZE,
                         RING_NEED_KICK, RING_SQ_OFFSET, RING_SQE_SIZE, RingCqe, RingHeader,
                         RingSqe)
from qkernel.dialect import NULL, Final, addr_of, atomic_load, atomic_store, cast, i64, kfmt, ptr, u8, u32, u64
from qkernel.mm import frames
from qkernel.mm.addr import pa, va
from qkernel.task import sched
from qkernel.task.task import TASK_SLEEPING, Task, WaitQueue

RING_ENTRIES: Final = 64
WAIT_NS: Final = 50_000_000   # one idle wait in the host (it caps it too)

ring_phys: u64 = 0            # 0: no ring, every call is synchronous
hdr: ptr[RingHeader] = NULL
sqes: ptr[RingSqe] = NULL
cqes: ptr[RingCqe] = NULL
done_wq: WaitQueue = WaitQueue()   # tasks whose entry is in flight
room_wq: WaitQueue = WaitQueue()   # tasks waiting for a free submission slot


def ring_bytes() -> u64:
    return RING_SQ_OFFSET + RING_ENTRIES * (RING_SQE_SIZE + RING_CQE_SIZE)


def init() -> bool:
    """Sets the ring up with the host; False (and the synchronous path) when it refuses."""
    global ring_phys, hdr, sqes, cqes
    sched.wq_init(addr_of(done_wq))
    sched.wq_init(addr_of(room_wq))
    npages = (ring_bytes() + PAGE_SIZE - 1) // PAGE_SIZE
    phys = frames.alloc_contig(npages)
    if phys == 0:
        return False
    r = qcall.ring_setup(phys, RING_ENTRIES, 0)
    if r < 0:
        klog.msg_dec(1, b"hostio: the host refused the qcall ring, errno ", u64(-r))
        for i in range(npages):
            frames.free(phys + i * PAGE_SIZE)
        return False
    ring_phys = phys
    hdr = cast(ptr[RingHeader], va(phys))
    sqes = cast(ptr[RingSqe], va(phys) + RING_SQ_OFFSET)
    cqes = cast(ptr[RingCqe], va(phys) + RING_SQ_OFFSET + RING_ENTRIES * RING_SQE_SIZE)
    sched.idle_hook = idle_wait
    sched.poll_hook = poll
    return True


def call(t: ptr[Task], nr: u64, a0: u64, a1: u64, a2: u64) -> i64:
    """Performs blocking-capable qcall nr for task t on the ring, parking t until it completes;
    the result (>= 0 or -errno). Addresses in the arguments are guest-physical."""
    if ring_phys == 0 or t == sched.idle:
        return i64(qcall.qcall(nr, a0, a1, a2, 0))
    while hdr.sq_tail - atomic_load(addr_of(hdr.sq_head)) >= u32(RING_ENTRIES):
        sched.sleep_on(addr_of(room_wq), 0)
    tail = hdr.sq_tail
    e = sqes + u64(tail & u32(RING_ENTRIES - 1))
    e.nr = u32(nr)
    e.flags = 0
    e.args[0] = a0
    e.args[1] = a1
    e.args[2] = a2
    e.args[3] = 0
    e.args[4] = 0
    e.args[5] = 0
    e.tag = u64(t)
    t.ring_done = 0
    atomic_store(addr_of(hdr.sq_tail), tail + 1)   # seq_cst: after the entry, before the flags
    if atomic_load(addr_of(hdr.host_flags)) & RING_NEED_KICK != 0:
        # Kicked now even when nothing else can run: the host thread then serves the entry while
        # the guest switches to idle and exits again to wait. Leaving the entry to the idle
        # wait (which also takes entries) saves that exit but serialises the hand-off to the
        # host thread, and measured slower on pvm (1-byte read 144 -> 204 us, 2026-12-02).
        qcall.ring_kick()
    while t.ring_done == 0:
        sched.sleep_on(addr_of(done_wq), 0)
    return i64(t.ring_result)


def poll() -> u64:
    """Takes every posted completion, hands each result to its task and wakes it; how many."""
    if ring_phys == 0:
        return 0
    head = hdr.cq_head
    tail = atomic_load(addr_of(hdr.cq_tail))
    if tail - head > u32(RING_ENTRIES):
        kfmt(klog.start(LOG_ERROR), b"hostio: completion index out of range: cq_head %u cq_tail %u",
             u64(head), u64(tail))
        klog.finish(LOG_ERROR)
        return 0
    n: u64 = 0
    while head != tail:
        c = cqes + u64(head & u32(RING_ENTRIES - 1))
        t = cast(ptr[Task], c.tag)
        if t != NULL:
            t.ring_result = c.result
            t.ring_done = 1
            if t.state == TASK_SLEEPING:
                sched.wake(t)
        head += 1
        n += 1
    atomic_store(addr_of(hdr.cq_head), head)
    if n > 0:
        sched.wake_all(addr_of(room_wq))
        if hdr.sq_tail != atomic_load(addr_of(hdr.sq_head)) and \
                atomic_load(addr_of(hdr.host_flags)) & RING_NEED_KICK != 0:
            qcall.ring_kick()  # entries the host could not take before these completions
    return n


def idle_wait() -> None:
    """The idle task's turn with nothing runnable: completions, else wait in the host for one."""
    if poll() > 0:
        return
    if qcall.ring_wait(WAIT_NS) > 0:
        poll()


# ---- the blocking host operations, as typed wrappers

def console_read(t: ptr[Task], fd: u64, buf: ptr[u8], n: u64) -> i64:
    """Reads up to n bytes of the sandbox's stdin into a kernel buffer, parking t meanwhile."""
    return call(t, QCALL_CONSOLE_READ, fd, pa(u64(buf)), n)


def sleep_ns(t: ptr[Task], ns: u64) -> i64:
    """Sleeps ns nanoseconds (a host timer), parking t meanwhile."""
    return call(t, QCALL_NANOSLEEP, ns, 0, 0)
