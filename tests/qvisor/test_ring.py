"""The asynchronous qcall ring, host side, on GuestMemory objects (no guest kernel): well-formed
submissions complete; a hostile ring (bad setup, indices out of range, wrapped absurdly, bad
addresses, unknown or synchronous-only numbers) gets errors or is refused, and the host never
raises, hangs, writes outside the ring, or holds more threads and entries than its bounds."""

from __future__ import annotations

import errno
import os
import struct
import termios
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkernel import abi as K
from qkernel.dialect import layout
from qvisor.memory import GuestMemory
from qvisor.qcall import QcallServer
from qkernel import abi as R
from qvisor.services.ring import ring_bytes

MEM = 4 << 20
BLOCK = 0x1000
RING = 0x20_0000        # tests reserve nothing but [0, RING_LOW)
RING_LOW = 0x10_0000
BUF = 0x30_0000
H = layout(R.RingHeader)
ROOT = Path(__file__).resolve().parents[2]


def call(srv: QcallServer, nr: int, *args: int) -> int:
    a = list(args) + [0] * (6 - len(args))
    srv.memory.write(BLOCK, struct.pack("<Q6QQ", nr, *[x & (2**64 - 1) for x in a], 0))
    srv.handle(BLOCK)
    r = srv.memory.read_u64(BLOCK + 56)
    return r - 2**64 if r >> 63 else r


class GuestRing:
    """The guest's side of the protocol, written as the kernel would (qkernel/abi.py)."""

    def __init__(self, srv: QcallServer, pa: int = RING, entries: int = 8) -> None:
        self.srv, self.mem, self.pa, self.entries = srv, srv.memory, pa, entries
        self.sq_tail = self.cq_head = 0

    def setup(self, flags: int = 0) -> int:
        return call(self.srv, R.QCALL_RING_SETUP, self.pa, self.entries, flags)

    def field(self, name: str) -> int:
        return self.mem.read_u32(self.pa + H.offset(name))

    def put(self, name: str, v: int) -> None:
        self.mem.write_u32(self.pa + H.offset(name), v & 0xFFFF_FFFF)

    def submit(self, nr: int, *args: int, tag: int = 0, flags: int = 0, kick: bool = True) -> int:
        assert (self.sq_tail - self.field("sq_head")) & 0xFFFF_FFFF < self.entries, "SQ full"
        a = [x & (2**64 - 1) for x in list(args) + [0] * (6 - len(args))]
        slot = self.sq_tail & (self.entries - 1)
        self.mem.write(self.pa + R.RING_SQ_OFFSET + slot * 64, struct.pack("<II6QQ", nr, flags, *a, tag))
        self.sq_tail = (self.sq_tail + 1) & 0xFFFF_FFFF
        self.put("sq_tail", self.sq_tail)
        if kick and self.field("host_flags") & R.RING_NEED_KICK:
            return call(self.srv, R.QCALL_RING_KICK)
        return 0

    def kick(self) -> int:
        return call(self.srv, R.QCALL_RING_KICK)

    def wait(self, n: int, timeout: float = 5.0) -> list[tuple[int, int]]:
        """Waits for n completions (as an idle loop would, on cq_tail) and consumes them."""
        end = time.monotonic() + timeout
        while (self.field("cq_tail") - self.cq_head) & 0xFFFF_FFFF < n:
            assert time.monotonic() < end, f"only {self.field('cq_tail') - self.cq_head} of {n} completions"
            time.sleep(0.0005)
        out = []
        cq = self.pa + R.RING_SQ_OFFSET + self.entries * 64
        for _ in range(n):
            tag, res = struct.unpack("<QQ", self.mem.read(cq + (self.cq_head & (self.entries - 1)) * 16, 16))
            out.append((tag, res - 2**64 if res >> 63 else res))
            self.cq_head = (self.cq_head + 1) & 0xFFFF_FFFF
        self.put("cq_head", self.cq_head)
        return out


@pytest.fixture
def mem():
    m = GuestMemory(MEM)
    yield m
    m.close()


@pytest.fixture
def srv(mem):
    s = QcallServer(mem, reserved=[(0, RING_LOW)])
    yield s
    s.close()


def test_layout_is_what_the_compiler_gives():
    from toolchain.driver import Sources, frontend
    name = "qkernel.abi"
    prog, _ = frontend(Sources([name], [ROOT]))
    for cls in (R.RingHeader, R.RingSqe, R.RingCqe):
        stype = prog.modules[name].decls[cls.__name__].stype
        lay = layout(cls)
        assert (lay.size, lay.align) == (stype.size, stype.align)
        assert {f: lay.offset(f) for f in lay.fields} == stype.offsets
    assert layout(R.RingHeader).size == R.RING_SQ_OFFSET
    assert (layout(R.RingSqe).size, layout(R.RingCqe).size) == (R.RING_SQE_SIZE, R.RING_CQE_SIZE)
    assert H.offset("sq_head") == 64   # host-written fields on their own cache line
    ring_calls = [R.QCALL_RING_SETUP, R.QCALL_RING_KICK, R.QCALL_RING_TEARDOWN, R.QCALL_RING_WAIT]
    assert len(set(ring_calls)) == 4 and max(ring_calls) < K.QCALL_MAX


def test_setup_initialises_the_header(srv):
    g = GuestRing(srv)
    srv.memory.fill(RING, ring_bytes(8), 0xAB)
    assert g.setup() == 0
    assert g.field("entries") == 8 and g.field("host_flags") == R.RING_NEED_KICK
    assert g.field("sq_tail") == g.field("cq_head") == g.field("sq_head") == g.field("cq_tail") == 0
    assert srv.memory.read(RING + R.RING_SQ_OFFSET, 8) == b"\xab" * 8   # entries untouched


def test_sleeps_complete_with_their_tags(srv):
    g = GuestRing(srv)
    assert g.setup() == 0
    for i in range(5):
        assert g.submit(K.QCALL_NANOSLEEP, 1000, tag=0x100 + i) == 1
    done = g.wait(5)
    assert sorted(done) == [(0x100 + i, 0) for i in range(5)]
    assert srv.ring.counts[K.QCALL_NANOSLEEP] == 5
    assert g.field("sq_head") == 5


def test_the_idle_wait_takes_unkicked_entries_and_returns_their_completions(srv):
    g = GuestRing(srv)
    assert g.setup() == 0
    assert g.submit(K.QCALL_NANOSLEEP, 1000, tag=7, kick=False) == 0
    assert g.field("sq_head") == 0                      # not taken without a kick...
    deadline = time.monotonic() + 5
    pending = 0
    while pending == 0:                                 # ...until the guest waits (capped waits)
        pending = call(srv, K.QCALL_RING_WAIT, 10**9)
        assert time.monotonic() < deadline
    assert pending == 1 and g.field("sq_head") == 1
    assert g.wait(1) == [(7, 0)]
    assert call(srv, K.QCALL_RING_WAIT, 0) == 0        # nothing pending: at once


def test_console_write_and_read_through_the_ring(mem, tmp_path):
    from qvisor.fs import HostFiles
    r_out, w_out = os.pipe()
    r_in, w_in = os.pipe()
    with HostFiles(str(tmp_path), stdin=r_in) as files:
        srv = QcallServer(mem, stdout=w_out, stderr=w_out, files=files, reserved=[(0, RING_LOW)])
        try:
            g = GuestRing(srv)
            assert g.setup() == 0
            mem.write(BUF, b"via the ring\n")
            g.submit(K.QCALL_CONSOLE_WRITE, 1, BUF, 13, tag=1)
            assert g.wait(1) == [(1, 13)]
            assert os.read(r_out, 100) == b"via the ring\n"
            g.submit(K.QCALL_CONSOLE_READ, 0, BUF + 0x1000, 0x10000, tag=2)   # blocks on a thread
            time.sleep(0.05)
            assert g.field("cq_tail") == 1                                    # not yet
            os.write(w_in, b"typed")
            assert g.wait(1) == [(2, 5)]
            assert mem.read(BUF + 0x1000, 5) == b"typed"
            g.submit(K.QCALL_CONSOLE_WRITE, 1, MEM - 4, 8, tag=3)             # bad buffer
            assert g.wait(1) == [(3, -errno.EFAULT)]
        finally:
            srv.close()
    for fd in (r_out, w_out, r_in, w_in):
        os.close(fd)


def test_bad_entries_get_errors_and_the_ring_keeps_serving(srv):
    g = GuestRing(srv)
    assert g.setup() == 0
    g.submit(999, tag=1)                                   # unknown
    g.submit(999, tag=2)
    g.submit(K.QCALL_CLOCK, 1, tag=3)                      # synchronous only
    g.submit(K.QCALL_EXIT, 0, tag=4)                       # never ends the run from a thread
    g.submit(K.QCALL_PANIC, 0, 0, 0, tag=5)
    g.submit(K.QCALL_NANOSLEEP, 0, tag=6, flags=1)         # reserved flags
    g.submit(R.QCALL_RING_KICK, tag=7)                     # ring calls are not ring entries
    g.submit(K.QCALL_NANOSLEEP, 0, tag=8)
    assert dict(g.wait(8)) == {1: -errno.ENOSYS, 2: -errno.ENOSYS, 3: -errno.EINVAL,
                               4: -errno.EINVAL, 5: -errno.EINVAL, 6: -errno.EINVAL,
                               7: -errno.EINVAL, 8: 0}
    assert srv.log.count("host: unknown qcall 999") == 1


@pytest.mark.parametrize("pa, entries, flags, expect", [
    (RING, 0, 0, -errno.EINVAL),
    (RING, 3, 0, -errno.EINVAL),                           # not a power of two
    (RING, R.RING_ENTRIES_MAX * 2, 0, -errno.EINVAL),
    (RING, 2**64 - 1, 0, -errno.EINVAL),
    (RING + 8, 8, 0, -errno.EINVAL),                       # not page aligned
    (RING, 8, 0x80, -errno.EINVAL),                        # unknown flag
    (MEM - 4096, 64, 0, -errno.EFAULT),                    # runs past RAM
    (MEM, 1, 0, -errno.EFAULT),
    (2**64 - 4096, 8, 0, -errno.EFAULT),                   # wraps
    (0, 8, 0, -errno.EINVAL),                              # the boot area / kernel
    (RING_LOW - 4096, 64, 0, -errno.EINVAL),               # straddles out of it
])
def test_bad_setups_are_refused(srv, pa, entries, flags, expect):
    assert call(srv, R.QCALL_RING_SETUP, pa, entries, flags) == expect
    assert srv.ring.ring is None


def test_one_ring_at_a_time_and_teardown(srv):
    assert call(srv, R.QCALL_RING_KICK) == -errno.ENXIO
    assert call(srv, R.QCALL_RING_TEARDOWN) == -errno.ENXIO
    g = GuestRing(srv)
    assert g.setup() == 0
    assert GuestRing(srv, pa=RING + 0x10000).setup() == -errno.EBUSY
    assert call(srv, R.QCALL_RING_TEARDOWN) == 0
    assert call(srv, R.QCALL_RING_KICK) == -errno.ENXIO
    g2 = GuestRing(srv, pa=RING + 0x10000, entries=1)
    assert g2.setup() == 0
    g2.submit(K.QCALL_NANOSLEEP, 0, tag=9)
    assert g2.wait(1) == [(9, 0)]


def test_default_reserved_covers_the_kernel_image(mem):
    from qvisor.abi import pack_boot_params
    mem.write(K.BOOT_PARAMS_PHYS, pack_boot_params(mem_size=MEM, platform="emu", flags=0, log_level=0,
                                                   image_end_phys=0x30_0000))
    srv = QcallServer(mem)
    try:
        assert call(srv, R.QCALL_RING_SETUP, 0x2F_F000, 1, 0) == -errno.EINVAL
        assert call(srv, R.QCALL_RING_SETUP, 0x30_0000, 1, 0) == 0
    finally:
        srv.close()


@pytest.mark.parametrize("name, value", [
    ("sq_tail", 9),              # 9 entries in a ring of 8
    ("sq_tail", 2**32 - 1),      # wrapped absurdly (behind sq_head)
    ("cq_head", 1),              # consumed a completion never posted
    ("cq_head", 2**31),
])
def test_hostile_indices_refuse_the_ring(srv, name, value):
    g = GuestRing(srv)
    assert g.setup() == 0
    g.put(name, value)
    assert g.kick() == -errno.EIO
    assert g.field("host_flags") & R.RING_BROKEN
    assert any("ring refused" in line for line in srv.log)
    assert g.kick() == -errno.EIO                              # stays refused, never hangs
    assert call(srv, R.QCALL_RING_TEARDOWN) == 0
    assert GuestRing(srv).setup() == 0                        # a fresh ring works


def test_cq_never_overflows_and_waits_for_the_guest(srv):
    g = GuestRing(srv, entries=4)
    assert g.setup() == 0
    for i in range(4):
        g.submit(K.QCALL_NANOSLEEP, 0, tag=i)
    end = time.monotonic() + 5
    while g.field("cq_tail") < 4:
        assert time.monotonic() < end
        time.sleep(0.001)
    for i in range(4):                       # the SQ is free again, the CQ is full
        assert g.submit(K.QCALL_NANOSLEEP, 0, tag=10 + i) == 0   # not taken: no CQ room
    assert g.field("sq_head") == 4
    assert sorted(t for t, _ in g.wait(4)) == [0, 1, 2, 3]   # in any order: 4 threads
    assert g.kick() == 4                     # as the protocol says: kick after consuming
    assert sorted(t for t, _ in g.wait(4)) == [10, 11, 12, 13]


def test_cq_head_moved_back_while_in_flight_drops_not_overflows(srv):
    g = GuestRing(srv, entries=2)
    assert g.setup() == 0
    g.submit(K.QCALL_NANOSLEEP, 0, tag=1)
    g.wait(1)
    g.submit(K.QCALL_NANOSLEEP, 200_000_000, tag=2)           # in flight for 0.2 s
    g.put("cq_head", 2**32 - 1)                                # "consumed" -1: CQ looks full + 2
    time.sleep(0.4)
    assert g.field("host_flags") & R.RING_BROKEN
    assert g.field("cq_tail") == 1                             # nothing posted past the CQ


def test_threads_and_entries_are_bounded(mem):
    srv = QcallServer(mem, reserved=[(0, RING_LOW)], ring_threads=3)
    srv.ring.max_inflight = 10
    try:
        g = GuestRing(srv, entries=64)
        assert g.setup() == 0
        for i in range(40):
            g.submit(K.QCALL_NANOSLEEP, 10**13, tag=i, kick=False)   # 10000 s each
        assert g.kick() == 10
        assert g.kick() == 0
        assert srv.ring.threads == 3 and srv.ring.outstanding == 10
        t0 = time.monotonic()
        assert call(srv, R.QCALL_RING_TEARDOWN) == 0         # cuts the sleeps short
        end = time.monotonic() + 5
        while srv.ring.outstanding:
            assert time.monotonic() < end
            time.sleep(0.001)
        assert time.monotonic() - t0 < 5
        assert srv.ring.threads == 3
        assert g.field("cq_tail") == 0                       # dropped, not posted
    finally:
        srv.close()


def test_outstanding_is_bounded_across_rings(mem):
    srv = QcallServer(mem, reserved=[(0, RING_LOW)], ring_threads=1)
    srv.ring.max_outstanding = 5
    r_in, w_in = os.pipe()
    srv.console.stdin = r_in
    try:
        for k in range(4):                    # reads that never return, rings torn down
            g = GuestRing(srv, entries=8)
            assert g.setup() == 0
            for i in range(8):
                g.submit(K.QCALL_CONSOLE_READ, 0, BUF, 16, kick=False)
            g.kick()
            assert call(srv, R.QCALL_RING_TEARDOWN) == 0
            assert srv.ring.outstanding <= 5
        assert srv.ring.threads == 1
    finally:
        srv.close()
        os.write(w_in, b"x")                  # lets the blocked reader go
        time.sleep(0.05)
        os.close(r_in)
        os.close(w_in)


def test_irq_feature_and_notify(srv):
    g = GuestRing(srv)
    assert g.setup(R.RING_SETUP_IRQ) == 0                # no platform callback: not granted
    call(srv, R.QCALL_RING_TEARDOWN)
    fired = threading.Event()
    srv.ring.notify = fired.set
    assert g.setup(R.RING_SETUP_IRQ) == R.RING_SETUP_IRQ
    g.submit(K.QCALL_NANOSLEEP, 0, tag=1)
    assert fired.wait(5)
    assert g.wait(1) == [(1, 0)]


def test_polling_needs_no_kick_until_it_sleeps(mem):
    srv = QcallServer(mem, reserved=[(0, RING_LOW)], ring_poll_s=0.2)
    try:
        g = GuestRing(srv)
        assert g.setup() == 0
        time.sleep(0.02)
        assert not g.field("host_flags") & R.RING_NEED_KICK
        g.submit(K.QCALL_NANOSLEEP, 0, tag=1, kick=False)     # no kick: the poller takes it
        assert g.wait(1) == [(1, 0)]
        end = time.monotonic() + 5
        while not g.field("host_flags") & R.RING_NEED_KICK:   # idle past poll_s: asks for kicks
            assert time.monotonic() < end
            time.sleep(0.01)
        assert g.submit(K.QCALL_NANOSLEEP, 0, tag=2) >= 0     # kicked, as the flag says
        assert g.wait(1) == [(2, 0)]
    finally:
        srv.close()


def test_closed_memory_does_not_break_a_worker(tmp_path):
    m = GuestMemory(MEM)
    srv = QcallServer(m, reserved=[(0, RING_LOW)])
    g = GuestRing(srv)
    assert g.setup() == 0
    g.submit(K.QCALL_NANOSLEEP, 100_000_000, tag=1)   # still sleeping when the memory goes
    m.close()
    time.sleep(0.3)
    assert srv.ring.outstanding == 0
    srv.close()


# ---- fuzzing: arbitrary ring contents


NRS = [0, 1, 2, 3, 5, 6, K.QCALL_NANOSLEEP, K.QCALL_CONSOLE_READ, K.QCALL_ZERO_PAGES,
       R.QCALL_RING_SETUP, R.QCALL_RING_TEARDOWN, 999, 2**32 - 1]
u32s = st.one_of(st.integers(0, 16), st.integers(2**32 - 16, 2**32 - 1), st.integers(0, 2**32 - 1))
u64s = st.one_of(st.integers(0, 64), st.sampled_from([MEM - 8, MEM, 2**63, 2**64 - 1, BUF]),
                 st.integers(0, 2**64 - 1))
sqe = st.tuples(st.sampled_from(NRS), st.sampled_from([0, 0, 0, 1]),
                st.lists(u64s, min_size=6, max_size=6), u64s)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.sampled_from([1, 2, 8]), sqes=st.lists(sqe, max_size=12),
       header=st.lists(st.tuples(st.sampled_from(["sq_tail", "cq_head", "sq_head", "cq_tail",
                                                  "host_flags", "entries"]), u32s), max_size=3),
       kicks=st.integers(1, 3))
def test_arbitrary_ring_contents_never_hurt_the_host(mem, entries, sqes, header, kicks):
    r, w = os.pipe()
    os.set_blocking(w, False)
    srv = QcallServer(mem, stdout=w, stderr=w, reserved=[(0, RING_LOW)])
    mem.fill(0, MEM, 0)
    try:
        g = GuestRing(srv, entries=entries)
        assert g.setup() == 0
        size = ring_bytes(entries)
        for i, (nr, flags, args, tag) in enumerate(sqes[:entries]):
            if nr == K.QCALL_NANOSLEEP:
                args[0] %= 10**7                          # keep each example short
            mem.write(RING + R.RING_SQ_OFFSET + i * 64, struct.pack("<II6QQ", nr, flags, *args, tag))
        g.put("sq_tail", len(sqes[:entries]))
        for name, v in header:
            g.put(name, v)
        before = mem.read(RING + size, MEM - RING - size), mem.read(RING_LOW, RING - RING_LOW)
        t0 = time.monotonic()
        for _ in range(kicks):
            res = call(srv, R.QCALL_RING_KICK)
            assert res == -errno.EIO or 0 <= res <= entries
        call(srv, R.QCALL_RING_TEARDOWN)
        srv.close()
        end = time.monotonic() + 5
        while srv.ring.outstanding:
            assert time.monotonic() < end, "a worker is stuck"
            time.sleep(0.001)
        assert time.monotonic() - t0 < 5
        assert srv.ring.threads <= 4
        # zero-pages (synchronous only) never ran from the ring; nothing outside it was written
        assert (mem.read(RING + size, MEM - RING - size), mem.read(RING_LOW, RING - RING_LOW)) == before
    finally:
        srv.close()
        os.close(r)
        os.close(w)


# ---- stops and closed stdio, on the synchronous path and the ring alike


def _stop_pipe():
    """A stop fd as qvisor/signals.py makes one: readable (for good) once a stop came."""
    return os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)


def _later(seconds: float, fn) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(seconds), fn()), daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("via", ["sync", "ring"])
def test_a_stop_ends_a_blocked_console_read_and_a_sleep(mem, tmp_path, via):
    from qvisor.fs import HostFiles
    r_in, w_in = os.pipe()
    stop_r, stop_w = _stop_pipe()
    with HostFiles(str(tmp_path), stdin=r_in) as files:
        srv = QcallServer(mem, files=files, reserved=[(0, RING_LOW)], stop_fd=stop_r)
        try:
            _later(0.2, lambda: os.write(stop_w, b"\2"))
            t0 = time.monotonic()
            if via == "sync":
                assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 16) == -errno.EINTR
                assert call(srv, K.QCALL_NANOSLEEP, 10**13) == -errno.EINTR   # at once now
            else:
                g = GuestRing(srv)
                assert g.setup() == 0
                g.submit(K.QCALL_CONSOLE_READ, 0, BUF, 16, tag=1)
                g.submit(K.QCALL_NANOSLEEP, 10**13, tag=2)                      # 10000 s
                assert sorted(g.wait(2, timeout=5)) == [(1, -errno.EINTR), (2, -errno.EINTR)]
            assert time.monotonic() - t0 < 1.5
            os.write(w_in, b"kept")                   # the stop consumed no input
            assert os.read(r_in, 16) == b"kept"
        finally:
            srv.close()
    for fd in (r_in, w_in, stop_r, stop_w):
        os.close(fd)


def test_close_wakes_ring_workers_blocked_in_a_read_or_a_sleep(mem, tmp_path):
    """No stop signal: the run simply ended (the guest exited) while ring workers wait for input
    and sleep; close() ends those waits and joins the threads, in well under a second."""
    from qvisor.fs import HostFiles
    r_in, w_in = os.pipe()
    with HostFiles(str(tmp_path), stdin=r_in) as files:
        srv = QcallServer(mem, files=files, reserved=[(0, RING_LOW)])
        g = GuestRing(srv)
        assert g.setup() == 0
        g.submit(K.QCALL_CONSOLE_READ, 0, BUF, 16, tag=1)
        g.submit(K.QCALL_NANOSLEEP, 10**13, tag=2)
        end = time.monotonic() + 5
        while srv.ring.threads < 2:
            assert time.monotonic() < end
            time.sleep(0.001)
        time.sleep(0.05)
        threads = list(srv.ring._threads)
        t0 = time.monotonic()
        srv.close()
        assert time.monotonic() - t0 < 0.9
        assert not any(t.is_alive() for t in threads)
        assert srv.ring.outstanding == 0
        assert g.field("cq_tail") == 0                # dropped: the ring was gone
        srv.close()                                   # idempotent
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 16) == -errno.EINTR   # ends at once
    os.write(w_in, b"x")                              # the input was not taken
    assert os.read(r_in, 4) == b"x"
    for fd in (r_in, w_in):
        os.close(fd)


@pytest.mark.parametrize("closed", [(0,), (1,), (2,), (0, 1, 2)])
def test_stdio_closed_at_start_is_ebadf(mem, tmp_path, closed):
    from qvisor.fs import HostFiles
    r, w = os.pipe()
    with HostFiles(str(tmp_path), stdin=None if 0 in closed else r) as files:
        srv = QcallServer(mem, stdout=None if 1 in closed else w, stderr=None if 2 in closed else w,
                          files=files, reserved=[(0, RING_LOW)])
        try:
            mem.write(BUF, b"x")
            os.write(w, b"in")
            g = GuestRing(srv)
            assert g.setup() == 0
            for fd in (0, 1, 2):
                bad = fd in closed
                want_rw = -errno.EBADF if bad else (2 if fd == 0 else 1)
                nr = K.QCALL_CONSOLE_READ if fd == 0 else K.QCALL_CONSOLE_WRITE
                if fd == 0:
                    want_rw = -errno.EBADF if bad else 1
                    assert call(srv, nr, 0, BUF + 0x100, 1) == want_rw
                    g.submit(nr, 0, BUF + 0x100, 1, tag=10)
                else:
                    assert call(srv, nr, fd, BUF, 1) == want_rw
                    g.submit(nr, fd, BUF, 1, tag=10)
                assert g.wait(1) == [(10, want_rw)]
                want = -errno.EBADF if bad else 0
                assert call(srv, K.QCALL_STDIO_FSTAT, fd, BUF + 0x1000) == want
                assert call(srv, K.QCALL_TTY_IOCTL, fd, termios.TCGETS, BUF + 0x1000) == \
                    (-errno.EBADF if bad else -errno.ENOTTY)
        finally:
            srv.close()
    os.close(r)
    os.close(w)


def test_a_directory_as_stdin_reads_eisdir(mem, tmp_path):
    from qvisor.fs import HostFiles
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    with HostFiles(str(tmp_path), stdin=d) as files:
        srv = QcallServer(mem, files=files, reserved=[(0, RING_LOW)])
        try:
            assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 16) == -errno.EISDIR
            g = GuestRing(srv)
            assert g.setup() == 0
            g.submit(K.QCALL_CONSOLE_READ, 0, BUF, 16, tag=1)
            assert g.wait(1) == [(1, -errno.EISDIR)]
        finally:
            srv.close()
    os.close(d)
