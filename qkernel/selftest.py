"""The built-in self-test `qvisor boot` runs: memory map, frame allocator, timer ticks, qcalls.

Each check logs what it saw; the first failure panics with its name.
"""

from __future__ import annotations

from qkernel.abi import LOG_INFO, PAGE_SIZE, BootParams
from qkernel.arch import cpu, lapic, trap
from qkernel.dialect import addr_of, array, cast, ptr, u8, u64, volatile_load, volatile_store
from qkernel.klog import msg_dec, msg_hex, info
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.panic import panic
from qkernel import qcall

TIMER_TICKS_WANTED: u64 = 3


def check_memory(bp: ptr[BootParams]) -> None:
    msg_dec(LOG_INFO, b"selftest: memory MiB ", bp.mem_size >> 20)
    msg_hex(LOG_INFO, b"selftest: image end ", bp.image_end_phys)
    if bp.mem_size < 16 << 20 or bp.image_end_phys >= bp.mem_size:
        panic(b"selftest: memory map is inconsistent")
    last = cast(ptr[u64], va(bp.mem_size - 8))  # the last word of RAM, through the direct map
    volatile_store(last, 0x5A5A_1234_ABCD_0001)
    if volatile_load(last) != 0x5A5A_1234_ABCD_0001:
        panic(b"selftest: the direct map does not reach the end of RAM")


def check_frames() -> None:
    before = frames.nfree
    got: array[u64, 64] = array[u64, 64]()
    for i in range(64):
        f = frames.alloc()
        if f == 0 or f % PAGE_SIZE != 0:
            panic(b"selftest: frame allocator returned a bad frame")
        if i > 0 and f <= got[i - 1]:  # lowest-first allocation: strictly increasing, so distinct
            panic(b"selftest: frame allocator returned a frame twice or out of order")
        got[i] = f
    if frames.nfree != before - 64:
        panic(b"selftest: free count wrong after alloc")
    for i in range(64):
        if not frames.free(got[i]):
            panic(b"selftest: free of an allocated frame failed")
    if frames.free(got[0]):
        panic(b"selftest: double free not detected")
    if frames.nfree != before:
        panic(b"selftest: free count wrong after free")
    msg_dec(LOG_INFO, b"selftest: frames free ", frames.nfree)


def check_timer() -> u64:
    """Waits for TIMER_TICKS_WANTED LAPIC timer interrupts; returns the count seen."""
    if not lapic.init():
        panic(b"selftest: no x2APIC")
    lapic.start_timer(trap.VEC_TIMER, 1000000)
    while volatile_load(addr_of(trap.ticks)) < TIMER_TICKS_WANTED:
        cpu.sti_hlt()
    cpu.cli()
    lapic.stop_timer()
    n = trap.ticks
    msg_dec(LOG_INFO, b"selftest: timer ticks ", n)
    return n


def check_qcalls() -> None:
    t0 = qcall.clock_ns(1)
    t1 = qcall.clock_ns(1)
    if t0 <= 0 or t1 < t0:
        panic(b"selftest: monotonic clock went backwards")
    buf: array[u8, 32] = array[u8, 32]()
    if qcall.random_bytes(addr_of(buf[0]), 32) != 32:
        panic(b"selftest: random qcall failed")
    nonzero: u64 = 0
    for i in range(32):
        if buf[i] != 0:
            nonzero += 1
    if nonzero == 0:
        panic(b"selftest: random bytes are all zero")
    info(b"selftest: qcall round trips ok")
