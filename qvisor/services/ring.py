"""The host half of asynchronous qcalls: a submission/completion ring in guest memory served by
a bounded pool of host threads (layout and guest protocol: qkernel/abi.py, "asynchronous qcalls").

RingService is a host service: QCALL_RING_SETUP, QCALL_RING_KICK, QCALL_RING_TEARDOWN are its
synchronous qcalls. A kick (or, with poll_s > 0, a host poller thread for poll_s after the last
activity) copies new SQEs out of guest memory, validates them, and queues each for a worker
thread, which calls the qcall's handler (the same bound service method the synchronous path
calls) and posts the completion. Completions are signalled by cq_tail (the counter the guest's
idle loop checks) and, if the guest asked and the platform provided one, by `notify()`.

Trust: the ring is guest memory, so every field is hostile. The host
- validates the ring itself at setup (entries a power of two <= RING_ENTRIES_MAX, page aligned,
  inside RAM: GuestMemory.check, not overlapping the reserved ranges: the boot area and the
  kernel image), and every access stays within it;
- reads each guest-written index once per use with a single aligned load, keeps its own sq_head
  and cq_tail (never read back), and marks the ring RING_BROKEN (serving stops, nothing blocks)
  when sq_tail - sq_head or cq_tail - cq_head (u32) exceeds entries;
- copies an SQE out before looking at it (no double fetch), validates nr and flags, and lets
  the handler validate the addresses (GuestFault -> -EFAULT);
- bounds what a guest can make it hold: at most `threads` worker threads (daemon threads,
  started on demand), at most min(entries, max_inflight) entries taken and not completed per
  ring, at most max_outstanding queued or running across rings (torn-down rings' entries
  included), and never more unconsumed completions than entries (so no CQ overflow, no waiting
  for the guest). Sleeps end at teardown; a worker blocked in a console read keeps its thread
  until input comes or the server is closed (or a stop signal: base.Wakeup); close() joins the
  threads, bounded.

Memory ordering (x86-64 TSO, host side): the CQE is stored before cq_tail (program order, both
plain stores); index loads and stores are single aligned 4-byte accesses (native struct
formats, which CPython copies with one memcpy of the field's size); between setting
RING_NEED_KICK and re-reading sq_tail the poller executes a locked instruction (a full fence).

Thread safety: handlers marked blocking run on worker threads (see base.py); everything about a
ring is under its lock; the notify callback is called from a worker thread, outside the lock.
"""

from __future__ import annotations

import errno
import os
import queue
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from qkernel.dialect import layout

from ..memory import GuestFault
from qkernel import abi as R
from .base import QcallStop, Service, _ring_worker, qcall

if TYPE_CHECKING:
    from .base import Entry

HEADER = layout(R.RingHeader)
SQE = layout(R.RingSqe)
CQE = layout(R.RingCqe)
assert HEADER.size == R.RING_SQ_OFFSET and SQE.size == R.RING_SQE_SIZE and CQE.size == R.RING_CQE_SIZE

M32 = 0xFFFF_FFFF
_SQE = struct.Struct("<II6QQ")
_CQE = struct.Struct("<QQ")
OFF_SQ_TAIL = HEADER.offset("sq_tail")
OFF_CQ_HEAD = HEADER.offset("cq_head")
OFF_SQ_HEAD = HEADER.offset("sq_head")
OFF_CQ_TAIL = HEADER.offset("cq_tail")
OFF_HOST_FLAGS = HEADER.offset("host_flags")
OFF_ENTRIES = HEADER.offset("entries")
assert _SQE.size == SQE.size and SQE.offset("args") == 8 and SQE.offset("tag") == 56

DEFAULT_THREADS = 4
WAIT_CAP_S = 0.05        # longest one QCALL_RING_WAIT blocks the vCPU (the guest waits again)
DEFAULT_MAX_INFLIGHT = 64        # per ring, taken and not completed
DEFAULT_MAX_OUTSTANDING = 256    # across rings, queued or running
POLL_SPIN_S = 200e-6             # the poller yields (sched_yield) this long after activity,
POLL_INTERVAL_S = 50e-6          # then checks every 50 us (time.sleep) until poll_s has passed

_fence_lock = threading.Lock()


def full_fence() -> None:
    """A locked instruction (x86: a full barrier): the lock's atomic exchange."""
    _fence_lock.acquire()
    _fence_lock.release()


def ring_bytes(entries: int) -> int:
    return R.RING_SQ_OFFSET + entries * (R.RING_SQE_SIZE + R.RING_CQE_SIZE)


@dataclass
class Ring:
    """One set-up ring: its place in guest memory and the host's own indices."""
    pa: int
    entries: int
    flags: int                   # features granted (RING_SETUP_*)
    sq_head: int = 0             # host-owned copies: never read back from guest memory
    cq_tail: int = 0
    inflight: int = 0
    host_flags: int = 0
    closed: bool = False
    broken: str = ""             # why the ring was refused, once it was
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    taken: int = 0               # SQEs taken / CQEs posted / dropped, for tests and the bench
    posted: int = 0
    dropped: int = 0

    @property
    def mask(self) -> int:
        return self.entries - 1

    @property
    def sq_pa(self) -> int:
        return self.pa + R.RING_SQ_OFFSET

    @property
    def cq_pa(self) -> int:
        return self.sq_pa + self.entries * R.RING_SQE_SIZE


class RingService(Service):
    """QCALL_RING_SETUP / KICK / TEARDOWN and the worker pool (see the module docstring).

    reserved: guest-physical [start, end) ranges a ring may not overlap (the QcallServer passes
    the boot area and the kernel image). notify: the platform's interrupt injection, called
    (from a worker thread, possibly concurrently with the vCPU) after completions are posted
    on a ring set up with RING_SETUP_IRQ; None: the feature is not granted."""

    CLOSE_JOIN_S = 1.0      # close() waits this long at most for the threads

    def __init__(self, *, reserved: list[tuple[int, int]] | None = None,
                 threads: int = DEFAULT_THREADS, max_inflight: int = DEFAULT_MAX_INFLIGHT,
                 max_outstanding: int = DEFAULT_MAX_OUTSTANDING, poll_s: float = 0.0,
                 notify: Callable[[], None] | None = None) -> None:
        if threads < 1 or max_inflight < 1 or max_outstanding < 1:
            raise ValueError("ring threads and bounds must be at least 1")
        self.reserved = list(reserved or [])
        self.max_threads = threads
        self.max_inflight = max_inflight
        self.max_outstanding = max_outstanding
        self.poll_s = poll_s
        self.notify = notify
        self.ring: Ring | None = None
        self._lock = threading.Lock()          # ring (re)placement, outstanding, threads
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._outstanding = 0
        self._closed = False
        self._kicked = threading.Event()
        self._poller: threading.Thread | None = None
        self.counts: dict[int, int] = {}      # qcall number -> ring entries taken
        self._notify_failed = False
        self._posted = threading.Event()      # set after each completion (QCALL_RING_WAIT)

    # ---- the qcalls
    @qcall(R.QCALL_RING_SETUP)
    def ring_setup(self, ring_pa: int, entries: int, flags: int) -> int:
        if entries < 1 or entries > R.RING_ENTRIES_MAX or entries & (entries - 1):
            return -errno.EINVAL
        if flags & ~R.RING_SETUP_IRQ or ring_pa % 4096:
            return -errno.EINVAL
        size = ring_bytes(entries)
        self.memory.check(ring_pa, size)       # GuestFault: -EFAULT (past RAM, wrapping)
        end = ring_pa + size
        if any(ring_pa < r_end and r_start < end for r_start, r_end in self.reserved):
            return -errno.EINVAL
        with self._lock:
            if self._closed:
                return -errno.ENXIO
            if self.ring is not None:
                return -errno.EBUSY
            granted = flags & R.RING_SETUP_IRQ if self.notify is not None else 0
            ring = Ring(ring_pa, entries, granted)
            ring.host_flags = 0 if self.poll_s > 0 else R.RING_NEED_KICK
            header = bytearray(HEADER.size)
            struct.pack_into("<I", header, OFF_ENTRIES, entries)
            struct.pack_into("<I", header, OFF_HOST_FLAGS, ring.host_flags)
            self.memory.write(ring_pa, header)
            self.ring = ring
            if self.poll_s > 0 and self._poller is None:
                self._poller = threading.Thread(target=self._poll_loop, name="qcall-ring-poll",
                                                daemon=True)
                self._poller.start()
        if self.poll_s > 0:
            self._kicked.set()
        return granted

    @qcall(R.QCALL_RING_KICK)
    def ring_kick(self) -> int:
        ring = self.ring
        if ring is None:
            return -errno.ENXIO
        n = self.drain(ring)
        if self.poll_s > 0:
            self._kicked.set()
        return n

    @qcall(R.QCALL_RING_WAIT)
    def ring_wait(self, timeout_ns: int) -> int:
        """The guest's idle loop: takes the SQEs waiting (as a kick would: a guest with nothing
        else to run submits and waits with one exit), then returns the completions pending, at
        once if there are some, else after one is posted or min(timeout, WAIT_CAP_S) passed (the
        vCPU waits here only when the guest has nothing to run; the cap keeps the host's run
        loop responsive). -EIO for a broken ring."""
        ring = self.ring
        if ring is None:
            return -errno.ENXIO
        if self.drain(ring) == -errno.EIO:
            return -errno.EIO
        pending = self._pending(ring)
        if pending or timeout_ns <= 0:
            return pending
        self._posted.clear()
        pending = self._pending(ring)          # a completion posted before the clear
        if pending == 0:
            self._posted.wait(min(timeout_ns / 1e9, WAIT_CAP_S))
            pending = self._pending(ring)
        return pending

    def _pending(self, ring: Ring) -> int:
        try:
            cq_head = self._load(ring, OFF_CQ_HEAD)
        except (GuestFault, ValueError):
            return 0
        return min((ring.cq_tail - cq_head) & M32, ring.entries)

    @qcall(R.QCALL_RING_TEARDOWN)
    def ring_teardown(self) -> int:
        with self._lock:
            ring, self.ring = self.ring, None
        if ring is None:
            return -errno.ENXIO
        with ring.lock:
            ring.closed = True
        ring.cancel.set()
        return 0

    # ---- host side
    def close(self) -> None:
        """Tears the ring down and stops the workers and the poller (idempotent). Waits at most
        CLOSE_JOIN_S in all for them to return, so that none is inside a handler when guest
        memory goes; a worker blocked in a host call nothing interrupts (the server's Wakeup
        ends console reads and sleeps first) is left behind, a daemon thread."""
        self.ring_teardown()
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            poller = self._poller
        for _ in threads:
            self._queue.put(None)
        self._kicked.set()
        if poller is not None:
            threads.append(poller)
        deadline = time.monotonic() + self.CLOSE_JOIN_S
        for t in threads:
            if t is threading.current_thread():
                continue
            try:
                t.join(max(0.0, deadline - time.monotonic()))
            except RuntimeError:               # appended by _submit, not started yet
                pass

    # The index fields are read and written while the guest runs, so each access must be one
    # aligned 4-byte load or store: a memoryview cast to "I" does that (CPython memcpy's the
    # item). Not struct.pack_into: it zero-fills the destination before packing, and a guest
    # reading cq_tail in that window saw 0 (a 2**32-step completion loop, then a broken ring:
    # found by bench host-calls, 2026-12-02).
    def _load(self, ring: Ring, off: int) -> int:
        with self.memory.view(ring.pa + off, 4) as v, v.cast("I") as word:
            return word[0]

    def _store(self, ring: Ring, off: int, value: int) -> None:
        with self.memory.view(ring.pa + off, 4) as v, v.cast("I") as word:
            word[0] = value & M32

    def _break(self, ring: Ring, why: str) -> None:
        """Refuses the ring from now on (under ring.lock)."""
        if not ring.broken:
            ring.broken = why
            ring.host_flags |= R.RING_BROKEN
            self.server.note(f"host: qcall ring refused: {why}")
            try:
                self._store(ring, OFF_HOST_FLAGS, ring.host_flags)
            except (GuestFault, ValueError):
                pass
        ring.cancel.set()

    def drain(self, ring: Ring) -> int:
        """Takes the SQEs the bounds allow; returns how many (-EIO if the ring is broken)."""
        posted = False
        with ring.lock:
            if ring.closed:
                return -errno.ENXIO
            if ring.broken:
                return -errno.EIO
            try:
                sq_tail = self._load(ring, OFF_SQ_TAIL)
                cq_head = self._load(ring, OFF_CQ_HEAD)
            except (GuestFault, ValueError):   # the memory is gone (closed)
                return -errno.ENXIO
            pending = (sq_tail - ring.sq_head) & M32
            unconsumed = (ring.cq_tail - cq_head) & M32
            if pending > ring.entries:
                self._break(ring, f"sq_tail {sq_tail} is {pending} entries past sq_head "
                                  f"{ring.sq_head} (ring of {ring.entries})")
                return -errno.EIO
            if unconsumed > ring.entries:
                self._break(ring, f"cq_head {cq_head} is not within {ring.entries} entries "
                                  f"before cq_tail {ring.cq_tail}")
                return -errno.EIO
            room = min(ring.entries - unconsumed - ring.inflight,
                       self.max_inflight - ring.inflight)
            with self._lock:
                room = min(room, self.max_outstanding - self._outstanding)
                take = max(0, min(pending, room))
            taken = 0
            for _ in range(take):
                raw = self.memory.read(ring.sq_pa + (ring.sq_head & ring.mask) * SQE.size, SQE.size)
                ring.sq_head = (ring.sq_head + 1) & M32
                taken += 1
                nr, flags, *rest = _SQE.unpack(raw)
                args, tag = tuple(rest[:6]), rest[6]
                entry = self.server.table.get(nr)
                if entry is None:
                    self.server.unknown(nr)
                    result = -errno.ENOSYS
                elif flags or not entry.blocking:
                    result = -errno.EINVAL
                else:
                    self.counts[nr] = self.counts.get(nr, 0) + 1
                    ring.inflight += 1
                    self._submit(ring, entry, args, tag)
                    continue
                self._post_locked(ring, tag, result)
                posted = True
            ring.taken += taken
            if taken:
                self._store(ring, OFF_SQ_HEAD, ring.sq_head)
        if posted:
            self._signal(ring)
        return taken

    def _submit(self, ring: Ring, entry: "Entry", args: tuple[int, ...], tag: int) -> None:
        with self._lock:
            self._outstanding += 1
            start = self._idle == 0 and len(self._threads) < self.max_threads
            if start:
                t = threading.Thread(target=self._worker, name=f"qcall-ring-{len(self._threads)}",
                                     daemon=True)
                self._threads.append(t)
            elif self._idle:
                self._idle -= 1                # an idle worker will take it
        self._queue.put((ring, entry, args, tag))
        if start:
            t.start()

    def _worker(self) -> None:
        _ring_worker.active = True
        while True:
            item = self._queue.get()
            if item is None:
                return
            ring, entry, args, tag = item
            _ring_worker.cancel = ring.cancel
            if ring.closed or ring.broken:
                result = None
            else:
                try:
                    result = entry.fn(*args[:entry.nargs])
                except GuestFault:
                    result = -errno.EFAULT
                except QcallStop:              # not blocking-capable; never reaches here
                    result = -errno.EINVAL
                except Exception as e:  # noqa: BLE001 - a host bug must not kill the worker
                    self.server.note(f"host: ring qcall {entry.name} raised "
                                     f"{type(e).__name__}: {e}")
                    result = -errno.EIO
            with ring.lock:
                ring.inflight -= 1
                if result is None or ring.closed or ring.broken:
                    ring.dropped += 1
                    posted = False
                else:
                    posted = self._post_locked(ring, tag, result)
            with self._lock:
                self._outstanding -= 1
                self._idle += 1
            if posted:
                self._signal(ring)

    def _post_locked(self, ring: Ring, tag: int, result: int) -> bool:
        """Writes one CQE and publishes it (under ring.lock); False when the ring is refused."""
        try:
            cq_head = self._load(ring, OFF_CQ_HEAD)
            if (ring.cq_tail - cq_head) & M32 >= ring.entries:   # the guest moved cq_head back
                self._break(ring, f"cq_head {cq_head} moved: no room for a completion")
                ring.dropped += 1
                return False
            self.memory.write(ring.cq_pa + (ring.cq_tail & ring.mask) * CQE.size,
                              _CQE.pack(tag, result & (2**64 - 1)))
            ring.cq_tail = (ring.cq_tail + 1) & M32
            self._store(ring, OFF_CQ_TAIL, ring.cq_tail)   # after the CQE (TSO: in order)
            self._posted.set()
        except (GuestFault, ValueError):                    # the memory is gone (closed)
            ring.dropped += 1
            return False
        ring.posted += 1
        return True

    def _signal(self, ring: Ring) -> None:
        if ring.flags & R.RING_SETUP_IRQ and self.notify is not None:
            try:
                self.notify()
            except Exception as e:  # noqa: BLE001 - the platform's callback, logged once
                if not self._notify_failed:
                    self._notify_failed = True
                    self.server.note(f"host: ring interrupt injection failed: {e}")

    def _poll_loop(self) -> None:
        """With poll_s > 0: polls the SQ for poll_s after each kick or taken entry, then sets
        RING_NEED_KICK (fence, re-check) and waits for a kick."""
        while True:
            self._kicked.wait()
            self._kicked.clear()
            if self._closed:
                return
            try:
                self._poll(time.monotonic() + self.poll_s)
            except Exception as e:  # noqa: BLE001 - the guest kicks instead
                self.server.note(f"host: ring poller stopped: {type(e).__name__}: {e}")
                return

    def _poll(self, deadline: float) -> None:
        ring = self.ring
        if ring is None:
            return
        self._set_need_kick(ring, False)
        busy = time.monotonic()
        while not self._closed and self.ring is ring:
            now = time.monotonic()
            if self.drain(ring) > 0:
                deadline, busy = now + self.poll_s, now
            elif now >= deadline:
                if not self._set_need_kick(ring, True):
                    return
                full_fence()                   # the flag's store before the sq_tail load
                if self.drain(ring) <= 0:      # nothing came meanwhile: the guest kicks now
                    return
                self._set_need_kick(ring, False)
                deadline, busy = now + self.poll_s, now
            if now - busy < POLL_SPIN_S:
                os.sched_yield()               # releases the GIL
            else:
                time.sleep(POLL_INTERVAL_S)

    def _set_need_kick(self, ring: Ring, on: bool) -> bool:
        with ring.lock:
            if ring.closed or ring.broken:
                return False
            if on:
                ring.host_flags |= R.RING_NEED_KICK
            else:
                ring.host_flags &= ~R.RING_NEED_KICK
            self._store(ring, OFF_HOST_FLAGS, ring.host_flags)
            return True

    # ---- for host code and tests
    @property
    def threads(self) -> int:
        return len(self._threads)

    @property
    def outstanding(self) -> int:
        return self._outstanding

