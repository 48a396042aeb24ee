"""Host-side service time of a qcall: the synchronous `out` path vs the asynchronous ring
(group "qcall"). `python -m bench --filter qcall`, or `python bench/qcall.py [N]`.

What it measures, and what not: no guest runs. Both paths are driven from a Python loop on the
host, on GuestMemory, with the same qcall (QCALL_CONSOLE_WRITE of 1 byte to /dev/null, served
by the same Console service method on both paths; not nanosleep(0), which Linux's 50 us timer
slack dominates):
- sync: write a Qcall block into guest memory, call QcallServer.handle(gpa) (what the run loop
  calls on the `out` exit), read the result back. The VM exit itself (the `out`, KVM_RUN's
  return and re-entry) is NOT included: bench/kvm_exit.py measures it (about 6-10 us on kvm_pvm).
- ring, kick per entry: write an SQE, publish sq_tail, QCALL_RING_KICK through handle() (in a
  guest this kick is itself one `out` exit), then wait until cq_tail moves (sched_yield, which
  releases the GIL as a vCPU thread inside KVM_RUN does) and read the CQE: submission -> host thread ->
  completion, the round trip a parked task would see, minus the guest's wake-up.
- ring, batch of 32 per kick: the same, 32 SQEs per kick, per entry.
- ring, host polling (no kick): the host's poller thread takes the SQE (no exit at all).
Figures are medians (min-max) over rounds, in microseconds per qcall.
"""

from __future__ import annotations

import os
import struct
import sys
import time

if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import Config, Result, Row, Stats, benchmark  # noqa: E402

MEM = 4 << 20
BLOCK = 0x1000
RING = 0x20_0000
ENTRIES = 64
BATCH = 32
BUF = 0x10_0000


def _setup(poll_s: float = 0.0):
    from qkernel import abi as K
    from qvisor.memory import GuestMemory
    from qvisor.qcall import QcallServer
    from qkernel import abi as R
    mem = GuestMemory(MEM)
    null = os.open(os.devnull, os.O_WRONLY)
    srv = QcallServer(mem, stdout=null, stderr=null, reserved=[(0, 0x10_0000)], ring_poll_s=poll_s)
    srv.devnull = null
    mem.write(BUF, b"x")
    mem.write(BLOCK, struct.pack("<Q6QQ", R.QCALL_RING_SETUP, RING, ENTRIES, 0, 0, 0, 0, 0))
    srv.handle(BLOCK)
    assert mem.read_u64(BLOCK + 56) == 0, "ring setup failed"
    return K, R, mem, srv


def sync_loop(n: int) -> float:
    """Seconds per synchronous qcall (handle() on a request block)."""
    K, R, mem, srv = _setup()
    try:
        block = struct.pack("<Q6QQ", K.QCALL_CONSOLE_WRITE, 1, BUF, 1, 0, 0, 0, 0)
        write, handle, read_u64 = mem.write, srv.handle, mem.read_u64
        t0 = time.perf_counter()
        for _ in range(n):
            write(BLOCK, block)
            handle(BLOCK)
            if read_u64(BLOCK + 56) != 1:
                raise RuntimeError("console write failed")
        return (time.perf_counter() - t0) / n
    finally:
        srv.close()
        os.close(srv.devnull)
        mem.close()


def ring_loop(n: int, batch: int = 1, poll: bool = False) -> float:
    """Seconds per qcall through the ring: submit `batch` SQEs, kick (unless the host polls),
    wait for their completions, consume them."""
    K, R, mem, srv = _setup(poll_s=0.5 if poll else 0.0)
    try:
        sq, cq = RING + R.RING_SQ_OFFSET, RING + R.RING_SQ_OFFSET + ENTRIES * R.RING_SQE_SIZE
        kick = struct.pack("<Q6QQ", R.QCALL_RING_KICK, 0, 0, 0, 0, 0, 0, 0)
        sqe = struct.Struct("<II6QQ")
        u32 = struct.Struct("I")
        mask = ENTRIES - 1
        from qkernel.dialect import layout
        h = layout(R.RingHeader)
        sq_tail, cq_head = RING + h.offset("sq_tail"), RING + h.offset("cq_head")
        cq_tail, host_flags = RING + h.offset("cq_tail"), RING + h.offset("host_flags")
        write, handle, read = mem.write, srv.handle, mem.read
        yield_ = os.sched_yield
        if poll:
            time.sleep(0.01)                              # let the poller start
        tail = head = 0
        rounds = max(1, n // batch)
        t0 = time.perf_counter()
        for _ in range(rounds):
            for _ in range(batch):
                write(sq + (tail & mask) * 64, sqe.pack(K.QCALL_CONSOLE_WRITE, 0, 1, BUF, 1, 0, 0, 0, tail))
                tail += 1
            write(sq_tail, u32.pack(tail & 0xFFFF_FFFF))
            if not poll or u32.unpack(read(host_flags, 4))[0] & R.RING_NEED_KICK:
                write(BLOCK, kick)
                handle(BLOCK)
            while u32.unpack(read(cq_tail, 4))[0] != tail & 0xFFFF_FFFF:
                yield_()                                          # releases the GIL
            for _ in range(batch):
                if read(cq + (head & mask) * 16 + 8, 8) != b"\1" + bytes(7):
                    raise RuntimeError("console write failed on the ring")
                head += 1
            write(cq_head, u32.pack(head & 0xFFFF_FFFF))
        return (time.perf_counter() - t0) / (rounds * batch)
    finally:
        srv.close()
        os.close(srv.devnull)
        mem.close()


SIDES = {
    "sync `out` qcall: handle(block)": lambda n: sync_loop(n),
    "ring, one SQE + kick, wait for its CQE": lambda n: ring_loop(n),
    f"ring, {BATCH} SQEs per kick": lambda n: ring_loop(n, BATCH),
    "ring, host poller, no kick": lambda n: ring_loop(n, poll=True),
}


def measure(n: int, rounds: int) -> dict[str, Stats]:
    samples: dict[str, list[float]] = {k: [] for k in SIDES}
    names = list(SIDES)
    for r in range(rounds + 1):                      # round 0: warm-up
        for name in (names if r % 2 == 0 else names[::-1]):
            s = SIDES[name](n)
            if r:
                samples[name].append(s)
    return {k: Stats(v) for k, v in samples.items()}


@benchmark("qcall-paths", "qcall")
def qcall_paths(cfg: Config) -> Result:
    """Host-side service time: sync `out` qcall vs ring submission + completion (no guest)."""
    n, rounds = (2000, 3) if cfg.quick else (20000, 7)
    stats = measure(n, rounds)
    sync_name = next(iter(SIDES))
    sync = stats[sync_name]
    rows = [Row(f"QCALL_CONSOLE_WRITE(1 byte, /dev/null), {name}", "sync qcall, host side", sync.fmt("us"),
                s.fmt("us"), s.median / sync.median) for name, s in stats.items() if name != sync_name]
    rows.insert(0, Row(f"QCALL_CONSOLE_WRITE(1 byte, /dev/null), {sync_name}", "—", "—", sync.fmt("us")))
    notes = [
        "HOST-SIDE SERVICE TIME ONLY, no guest: a Python loop on the host plays the guest's part "
        "on GuestMemory (writes the request, calls the server, reads the result); us per qcall.",
        "The VM exit of the `out` (the sync call, and each ring kick) is not included: see "
        "bench/kvm_exit.py (about 6-10 us per exit on kvm_pvm). The ring's data path needs no "
        "exit with the host poller, or one per batch with kicks.",
        f"{n} qcalls per round, {rounds} rounds (medians, min-max), interleaved; ring of "
        f"{ENTRIES} entries, 4 host threads; waiting for a CQE yields the GIL (sched_yield).",
        "The host poller yields (sched_yield) for 200 us after activity, then checks the SQ every "
        f"50 us (time.sleep). This host has {os.cpu_count()} CPUs: the loop, the poller and the "
        "workers share them and one GIL.",
    ]
    return Result(rows, notes)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(__doc__.split("\n\n")[0])
    print("Host-side service time only (no guest, no VM exit); us per qcall, median (min-max):")
    for name, s in measure(n, 5).items():
        print(f"  {name:45s} {s.fmt('us')}")
