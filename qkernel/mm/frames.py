"""The physical frame allocator: one bit per 4 KiB frame of guest RAM (1 = in use).

Frames below `first_free` (boot structures, the kernel image) are never handed out. Covers up to
MAX_FRAMES frames (4 GiB); RAM above that is ignored, and init() logs it.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import Final, addr_of, array, asm, cast, memset, ptr, u64
from qkernel.arch import priv
from qkernel.mm.addr import va
from qkernel import qcall

MAX_FRAMES: Final = 1 << 20
WORDS: Final = MAX_FRAMES // 64

bitmap: array[u64, 16384] = array[u64, 16384]()
nframes: u64 = 0
nfree: u64 = 0
hint: u64 = 0  # no free frame below word `hint`
host_zeroing: bool = False
touched: array[u64, 16384] = array[u64, 16384]()  # bit set: the frame was handed out before


initialized: bool = False


def init(mem_size: u64, first_free: u64) -> None:
    """Frees [first_free, mem_size) (both rounded to pages); frames below first_free and past
    the last one stay in use. The bitmap starts zero (guest RAM arrives zeroed), so only the
    words below first_free and the last partial word are written: the cost does not grow with
    memory (on kvm_pvm CPL 0 code runs in the hypervisor's emulator, ~1 us an instruction). A
    second init clears the maps first."""
    global nframes, nfree, hint, initialized
    if initialized:
        memset(addr_of(bitmap[0]), 0, WORDS * 8)
        memset(addr_of(touched[0]), 0, WORDS * 8)
    initialized = True
    nframes = mem_size // PAGE_SIZE
    if nframes > MAX_FRAMES:
        nframes = MAX_FRAMES
    start = (first_free + PAGE_SIZE - 1) // PAGE_SIZE
    if start > nframes:
        start = nframes
    nfree = nframes - start
    if start >= 64:
        memset(addr_of(bitmap[0]), 0xFF, (start >> 6) * 8)
    f = (start >> 6) << 6
    while f < start:
        bitmap[f >> 6] |= u64(1) << (f & 63)
        f += 1
    f = nframes
    while f & 63 != 0:  # the last word's bits past the end: never handed out
        bitmap[f >> 6] |= u64(1) << (f & 63)
        f += 1
    hint = start >> 6


def zero(phys: u64) -> None:
    """Zeroes the frame at `phys`. Where the kernel's CPL 0 code runs in the hypervisor's
    emulator (kvm_pvm: ~1 us per instruction, a `rep stosb` of a page costs milliseconds) the host
    does it with one qcall instead (`host_zeroing`, set at boot)."""
    if host_zeroing and priv.cpl() == 0:  # CPL 3 code (flat mode) runs natively: memset is fast
        qcall.zero_frames(phys, 1)
    else:
        memset(cast(ptr[None], va(phys)), 0, PAGE_SIZE)


def alloc_zeroed() -> u64:
    """alloc(), with the frame's contents zero. Guest RAM starts zeroed (the host maps it fresh),
    so only a frame handed out before (`touched`) needs zeroing."""
    phys = take()
    if phys == 0:
        return 0
    f = phys // PAGE_SIZE
    mask = u64(1) << (f & 63)
    if touched[f >> 6] & mask != 0:
        zero(phys)
    else:
        touched[f >> 6] |= mask
    return phys


def lowest_set(x: u64) -> u64:
    """Index of the lowest set bit of a nonzero x (bsf: known to every x86 emulator)."""
    return asm("bsfq $1, $0", "=r,r", x)


def alloc() -> u64:
    """A free frame's guest-physical address (not zeroed), or 0 when memory is exhausted."""
    phys = take()
    if phys != 0:
        touched[(phys // PAGE_SIZE) >> 6] |= u64(1) << ((phys // PAGE_SIZE) & 63)
    return phys


def take() -> u64:
    """alloc() without the `touched` bookkeeping (alloc and alloc_zeroed do it)."""
    global nfree, hint
    for w in range(hint, (nframes + 63) >> 6):
        word = bitmap[w]
        if word != 0xFFFFFFFFFFFFFFFF:
            bit = lowest_set(~word)
            bitmap[w] = word | (u64(1) << bit)
            nfree -= 1
            hint = w
            return ((w << 6) + bit) * PAGE_SIZE
    return 0


def free(phys: u64) -> bool:
    """Returns a frame; False (and no change) if it was not allocated or is out of range."""
    global nfree, hint
    f = phys // PAGE_SIZE
    if phys % PAGE_SIZE != 0 or f >= nframes:
        return False
    mask = u64(1) << (f & 63)
    if bitmap[f >> 6] & mask == 0:
        return False
    bitmap[f >> 6] &= ~mask
    nfree += 1
    if (f >> 6) < hint:
        hint = f >> 6
    return True


def alloc_contig(n: u64) -> u64:
    """n physically contiguous free frames (lowest first fit, not zeroed): the first one's
    guest-physical address, or 0 when no run of n frames is free. For kernel objects larger
    than a page (kernel stacks, buffers), reached through the direct map."""
    global nfree
    if n == 0:
        return 0
    if n == 1:
        return alloc()
    run: u64 = 0
    f = hint << 6
    while f < nframes:
        if bitmap[f >> 6] == 0xFFFFFFFFFFFFFFFF and f & 63 == 0:
            run = 0
            f += 64
            continue
        if bitmap[f >> 6] & (u64(1) << (f & 63)) != 0:
            run = 0
        else:
            run += 1
            if run == n:
                first = f + 1 - n
                for g in range(first, f + 1):
                    bitmap[g >> 6] |= u64(1) << (g & 63)
                    touched[g >> 6] |= u64(1) << (g & 63)
                nfree -= n
                return first * PAGE_SIZE
        f += 1
    return 0
