"""PROPOSED section of qkernel/abi.py: the asynchronous qcall ring (Quark's QCall design).

This file holds exactly the kernel-Python definitions to paste into qkernel/abi.py (below the
`Qcall` block, with QCALL_MAX raised to 21); until then the host (qvisor/services/ring.py)
imports them from here. Once moved, re-point that import to `qkernel.abi`.

The ring lives in guest RAM at a page-aligned guest-physical address `ring_pa`:

    ring_pa + 0                          RingHeader (128 bytes: a guest-written cache line,
                                         then a host-written one)
    ring_pa + RING_SQ_OFFSET             entries x RingSqe (64 bytes), the submission queue
    ring_pa + RING_SQ_OFFSET
            + entries * 64               entries x RingCqe (16 bytes), the completion queue

    ring bytes = RING_SQ_OFFSET + entries * (64 + 16)

Indices are free-running u32 counters (they wrap at 2**32); slot = index & (entries - 1).
SQ: the guest produces at sq_tail, the host consumes at sq_head. CQ: the host produces at
cq_tail, the guest consumes at cq_head. Each side writes only its own fields; the host keeps
its own copy of sq_head and cq_tail and never reads them back from guest memory.

Protocol (what the guest must do):
1. Set up: pick `entries` (a power of two, 1..RING_ENTRIES_MAX), allocate ring bytes of
   physically contiguous RAM at a page-aligned address (not inside the kernel image or the boot
   area below KERNEL_PHYS, entirely inside RAM), then QCALL_RING_SETUP(ring_pa, entries, flags).
   It answers the RING_SETUP_* features granted (>= 0), or -EINVAL (entries, alignment, flags,
   overlap), -EFAULT (past RAM), -EBUSY (a ring is already set up). The host initialises the
   header (all indices 0, `entries`, host_flags); the guest must not touch the ring before the
   call returns. One ring per VM; QCALL_RING_TEARDOWN ends it (in-flight completions are then
   dropped, sleeps cut short) and the memory is the guest's again.
2. Submit: if sq_tail - sq_head (u32) == entries the SQ is full. Else fill the RingSqe at slot
   sq_tail (nr, flags = 0, args, tag), then store sq_tail + 1 (a release store: the entry's
   stores first; on x86 a compiler barrier suffices, the `atomic_store` intrinsic). Then a FULL
   fence (`fence`: mfence or a locked op: the store of sq_tail must be visible before the load
   that follows), then load host_flags: if RING_NEED_KICK is set, QCALL_RING_KICK(), which
   returns how many SQEs the host took (>= 0), -ENXIO (no ring), -EIO (ring broken). Batching
   several SQEs per kick is allowed.
3. The host takes an SQE only while (completions posted but not consumed) + (SQEs taken but not
   completed) < entries, so the CQ cannot overflow; SQEs it could not take yet stay in the SQ.
   So after consuming completions, if sq_head != sq_tail and RING_NEED_KICK is set, kick again.
4. Complete: the host writes the RingCqe at slot cq_tail (tag as submitted, result >= 0 or
   -errno), then stores cq_tail + 1. cq_tail is the completion counter the guest's idle loop
   checks: `atomic_load(cq_tail) != cq_head` means work. Read cq_tail with an acquire load
   (x86: a plain load, then no reordering of the CQE loads above it by the compiler), read the
   CQEs, then store cq_head (release: after the CQE loads). With RING_SETUP_IRQ granted the
   platform also injects RING_IRQ_VECTOR after posting (coalesced: one interrupt may stand for
   many completions; the handler must drain to cq_tail).
5. Results: as the synchronous qcall's, plus -ENOSYS (unknown nr, logged once), -EINVAL (a qcall
   that is synchronous only, or flags != 0), -EFAULT (a bad address in args), -EINTR (a sleep
   cut short by teardown). Only blocking-capable qcalls are served on the ring: today
   CONSOLE_WRITE, CONSOLE_READ (at most 64 KiB per entry) and NANOSLEEP.
6. Broken ring: if the host finds sq_tail - sq_head > entries or cq_tail - cq_head > entries
   (u32), it sets RING_BROKEN, stops serving the ring and drops its completions; the guest must
   tear it down (a kernel bug).
"""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, u32, u64

# ---- asynchronous qcalls: a shared-memory ring served by host threads
QCALL_RING_SETUP: Final = 18     # (ring_pa, entries, flags RING_SETUP_*) -> features granted | -errno
QCALL_RING_KICK: Final = 19      # () -> SQEs taken | -ENXIO (no ring) | -EIO (ring broken)
QCALL_RING_TEARDOWN: Final = 20  # () -> 0 | -ENXIO; completions in flight are dropped
# (QCALL_MAX becomes 21)

RING_ENTRIES_MAX: Final = 1024   # entries: a power of two, 1..RING_ENTRIES_MAX
RING_SQ_OFFSET: Final = 128      # sizeof(RingHeader): the SQ starts here, the CQ after it
RING_SQE_SIZE: Final = 64
RING_CQE_SIZE: Final = 16
RING_SETUP_IRQ: Final = 1        # setup flag / feature: inject RING_IRQ_VECTOR on completions
RING_IRQ_VECTOR: Final = 0x41    # proposed; the platform's interrupt injection uses it
RING_NEED_KICK: Final = 1        # host_flags: no host thread polls the SQ; kick after submitting
RING_BROKEN: Final = 2           # host_flags: corrupt indices seen; the host stopped serving


@struct
class RingHeader:
    # written by the guest, read by the host (first cache line)
    sq_tail: u32                 # next SQ slot the guest fills
    cq_head: u32                 # next CQE the guest consumes
    guest_reserved: array[u32, 14]
    # written by the host, read by the guest (second cache line)
    sq_head: u32                 # SQEs before it have been copied by the host (slots reusable)
    cq_tail: u32                 # CQEs before it are posted: the completion counter
    host_flags: u32              # RING_NEED_KICK | RING_BROKEN
    entries: u32                 # as accepted by QCALL_RING_SETUP
    host_reserved: array[u32, 12]


@struct
class RingSqe:
    nr: u32                      # the qcall number (QCALL_*)
    flags: u32                   # 0 (others: -EINVAL)
    args: array[u64, 6]          # as a Qcall's; addresses guest-physical
    tag: u64                     # the guest's, returned in the RingCqe as is


@struct
class RingCqe:
    tag: u64
    result: u64                  # >= 0 on success, -errno (two's complement) on failure
