"""A process's virtual memory areas (VMAs) and the Linux memory calls on them.

Owns: the AddressSpace record (page-table root, the VMA array, brk, mmap base), the VMA array's
invariants, and the semantics of mmap (anonymous), munmap, mprotect, brk, mremap and madvise,
following Linux (mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c) in argument checks, errno
values and results. It keeps the page tables (qkernel.mm.pagetable) in step with the VMAs and
owns the user frames they map: every frame a user leaf owns was allocated here and is freed here.

Invariants of AddressSpace.vmas[0 .. count): sorted by start, non-overlapping, each non-empty and
page-aligned with end <= TASK_SIZE; adjacent VMAs that could be merged (same prot, flags, file
and contiguous offset) are merged by every operation that creates or changes VMAs. Every
owning leaf in the user half of `pml4` lies inside a VMA, and its flags are pte_flags(prot) of
that VMA (A/D aside); pages of a VMA may have no leaf yet (demand paging).

Population: nothing here maps pages on its own except MAP_POPULATE and MADV_POPULATE_*. The
caller chooses per case between populate() (eager: allocate, zero and map now) and handle_fault()
(on a #PF). New user frames are always zeroed.

Errors: functions returning i64 give 0 or -errno; mmap_anon and mremap return an address or
-errno as u64 (is_err() tells them apart, as Linux's IS_ERR_VALUE); brk returns the new break,
or the unchanged one on failure (Linux semantics). Operations are all-or-nothing where Linux's
are too, and also for mprotect (Linux changes the VMAs before the first hole it meets; here a
range with a hole fails with -ENOMEM before anything changes). The VMA array is the
max_map_count limit: an operation that would need more than MAX_VMAS VMAs fails with -ENOMEM
before changing anything.

Single CPU, no preemption inside these functions: callers serialise access to an AddressSpace.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, addr_of, array, asm, i64, ptr, sizeof, struct, u32, u64
from qkernel.mm import pagetable
from qkernel.mm.pagetable import PAGE_MASK, PTE_P, PTE_U, PTE_W
from qkernel.linux.errno import EFAULT, EINVAL, EEXIST, ENOMEM, EOPNOTSUPP, EPERM
from qkernel.linux.mman import (PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM,
                                 PROT_GROWSDOWN, PROT_GROWSUP, MAP_SHARED, MAP_PRIVATE,
                                 MAP_SHARED_VALIDATE, MAP_TYPE, MAP_FIXED, MAP_ANONYMOUS,
                                 MAP_32BIT, MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE,
                                 MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK,
                                 MAP_HUGETLB, MAP_SYNC, MAP_FIXED_NOREPLACE, MAP_UNINITIALIZED,
                                 MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP, MADV_DONTNEED,
                                 MADV_FREE, MADV_REMOVE, MADV_WIPEONFORK, MADV_KEEPONFORK,
                                 MADV_POPULATE_READ, MADV_POPULATE_WRITE,
                                 MADV_DONTNEED_LOCKED, MADV_COLLAPSE, MADV_HWPOISON,
                                 MADV_SOFT_OFFLINE, MAP_HUGE_MASK, MAP_HUGE_SHIFT)

TASK_SIZE: Final = 0x0000_7FFF_FFFF_F000   # end of user space (x86-64 Linux TASK_SIZE_MAX)
MMAP_MIN_ADDR: Final = 0x10000             # vm.mmap_min_addr: nothing is mapped below
STACK_GUARD_GAP: Final = 256 * PAGE_SIZE   # kept free below a grows-down VMA (Linux's default)
STACK_RLIMIT: Final = 8 << 20              # default RLIMIT_STACK: how far a stack may grow
MAX_VMAS: Final = 512
# Default mmap_base for init_space(): below the stack's 8 MiB rlimit plus Linux's minimum gap of
# 128 MiB (mm/util.c mmap_base(), without randomisation).
DEFAULT_MMAP_BASE: Final = 0x0000_7FFF_FFFF_F000 - (128 << 20)
MAP_32BIT_LO: Final = 0x4000_0000
MAP_32BIT_HI: Final = 0x8000_0000
ERR_MIN: Final = 0xFFFF_FFFF_FFFF_F001     # u64 results at or above this are -errno

# ---- the mmap family's flags: Linux's (qkernel/linux/mman.py); what this module derives from them
PROT_RWX: Final = PROT_READ | PROT_WRITE | PROT_EXEC
PROT_VALID: Final = PROT_RWX | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP
HUGETLB_SIZE_MASK: Final = MAP_HUGE_MASK << MAP_HUGE_SHIFT  # page-size bits of MAP_HUGETLB
MAP_KNOWN: Final = (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_32BIT | MAP_GROWSDOWN | MAP_DENYWRITE
                    | MAP_EXECUTABLE | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK
                    | MAP_STACK | MAP_HUGETLB | MAP_FIXED_NOREPLACE | MAP_UNINITIALIZED | HUGETLB_SIZE_MASK)

# ---- Vma.flags
VM_ANON: Final = 0x01        # no file behind it: pages start zeroed
VM_PRIVATE: Final = 0x02     # MAP_PRIVATE (copy-on-write once fork exists)
VM_SHARED: Final = 0x04      # MAP_SHARED
VM_GROWSDOWN: Final = 0x08   # a fault just below extends it down (stacks)
VM_STACK: Final = 0x10       # MAP_STACK / the main stack (informational, /proc/self/maps)
VM_HEAP: Final = 0x20        # the brk area


@struct
class Vma:
    """[start, end) with one protection and one kind; page-aligned, end exclusive."""
    start: u64
    end: u64
    prot: u32        # PROT_READ | PROT_WRITE | PROT_EXEC
    flags: u32       # VM_*
    file: u64        # the backing file (0: anonymous); for file mappings, later
    offset: u64      # the file offset mapped at `start`


@struct
class AddressSpace:
    pml4: u64            # physical address of the PML4 (pagetable.new_space())
    count: u64           # VMAs in use in vmas[]
    brk_start: u64       # page-aligned start of the heap (end of the program's bss)
    brk: u64             # the current break (byte-exact, as the program set it)
    mmap_base: u64       # top-down mmap placement searches below this first
    stack_rlimit: u64    # largest size a grows-down VMA may reach by faulting
    vmas: array[Vma, MAX_VMAS]


# The address space loaded in CR3 on this CPU (per-CPU: one vCPU today), which uaccess faults
# pages into; the scheduler sets it with the task. Processes own theirs (Process.mm);
# NULL before the first program starts.
active: ptr[AddressSpace] = NULL
# Bytes handle_fault maps per fault (a power of two >= PAGE_SIZE). On kvm_pvm a fault costs
# ~1 ms of emulated CPL 0 work, so the kernel maps 64 KiB blocks there; elsewhere one page.
fault_around: u64 = PAGE_SIZE


# ---- small helpers ---------------------------------------------------------------------------

def is_err(r: u64) -> bool:
    """Is this u64 result (mmap_anon, mremap) a -errno?"""
    return r >= ERR_MIN


def page_up(x: u64) -> u64:
    """x rounded up to a page (wraps to 0 for x > 2**64 - PAGE_SIZE: callers check)."""
    return (x + (PAGE_SIZE - 1)) & PAGE_MASK


def pte_flags(prot: u64) -> u64:
    """Leaf flags for a VMA protection: PROT_NONE gives 0 (held, not present)."""
    if prot & PROT_RWX == 0:
        return 0
    f: u64 = PTE_P | PTE_U
    if prot & PROT_WRITE != 0:
        f |= PTE_W
    if prot & PROT_EXEC == 0:
        f |= pagetable.nx_mask
    return f


def vma_at(mm: ptr[AddressSpace], i: u64) -> ptr[Vma]:
    return addr_of(mm.vmas[i])


def move_bytes(dst: u64, src: u64, n: u64) -> None:
    """memmove for the VMA array (overlapping ranges, either direction)."""
    if n == 0:
        return
    if dst <= src:
        asm("rep movsb", "{rdi},{rsi},{rcx},~{rdi},~{rsi},~{rcx},~{memory}", dst, src, n)
    else:
        asm("std\n\trep movsb\n\tcld", "{rdi},{rsi},{rcx},~{rdi},~{rsi},~{rcx},~{memory},~{flags}",
            dst + (n - 1), src + (n - 1), n)


def insert_slot(mm: ptr[AddressSpace], i: u64) -> ptr[Vma]:
    """Opens slot i (count must be < MAX_VMAS): vmas[i..] move up one; returns the slot."""
    move_bytes(u64(vma_at(mm, i + 1)), u64(vma_at(mm, i)), (mm.count - i) * sizeof(Vma))
    mm.count += 1
    return vma_at(mm, i)


def remove_slots(mm: ptr[AddressSpace], i: u64, n: u64) -> None:
    """Closes slots [i, i + n)."""
    if n == 0:
        return
    move_bytes(u64(vma_at(mm, i)), u64(vma_at(mm, i + n)), (mm.count - i - n) * sizeof(Vma))
    mm.count -= n


def clip_front(v: ptr[Vma], new_start: u64) -> None:
    """Moves v's start up to new_start (keeping the file offset of each page)."""
    v.offset += new_start - v.start
    v.start = new_start


def mergeable(a: ptr[Vma], b: ptr[Vma]) -> bool:
    """Can a and the VMA right after it, b, become one?"""
    return (a.end == b.start and a.prot == b.prot and a.flags == b.flags and a.file == b.file
            and (a.file == 0 or a.offset + (a.end - a.start) == b.offset))


def merge_span(mm: ptr[AddressSpace], lo: u64, hi: u64) -> None:
    """Merges each VMA with index in [lo, hi] into its predecessor where possible."""
    i = lo if lo > 0 else 1
    while i <= hi and i < mm.count:
        if mergeable(vma_at(mm, i - 1), vma_at(mm, i)):
            mm.vmas[i - 1].end = mm.vmas[i].end
            remove_slots(mm, i, 1)
            hi -= 1
        else:
            i += 1


def split_at(mm: ptr[AddressSpace], i: u64, addr: u64) -> None:
    """Splits vmas[i] (which strictly contains addr; a free slot must exist) at addr."""
    n = insert_slot(mm, i + 1)
    n[0] = mm.vmas[i]
    clip_front(n, addr)
    mm.vmas[i].end = addr


# ---- lookup ---------------------------------------------------------------------------------

def init(mm: ptr[AddressSpace], pml4: u64, mmap_base: u64, brk_start: u64) -> None:
    """An empty address space over the page tables at pml4 (from pagetable.new_space())."""
    mm.pml4 = pml4
    mm.count = 0
    base = mmap_base & PAGE_MASK
    mm.mmap_base = base if base <= TASK_SIZE else TASK_SIZE
    mm.brk_start = page_up(brk_start)
    mm.brk = mm.brk_start
    mm.stack_rlimit = STACK_RLIMIT


def destroy(mm: ptr[AddressSpace]) -> None:
    """Frees every user frame, every user-half table and the PML4; the space must not be
    current. The AddressSpace is left empty (pml4 0)."""
    if mm.pml4 != 0:
        pagetable.destroy_space(mm.pml4, True)
    mm.pml4 = 0
    mm.count = 0


def init_space(mm: ptr[AddressSpace]) -> i64:
    """init() over a fresh page-table space (pagetable.new_space()), with DEFAULT_MMAP_BASE and
    the break at 0 until set_brk_start(). 0 or -ENOMEM."""
    pml4 = pagetable.new_space()
    if pml4 == 0:
        return -ENOMEM
    init(mm, pml4, DEFAULT_MMAP_BASE, 0)
    return 0


def set_brk_start(mm: ptr[AddressSpace], addr: u64) -> None:
    """Places the (empty) heap at addr rounded up to a page: the end of the program's image."""
    mm.brk_start = page_up(addr)
    mm.brk = mm.brk_start


def map_segment(mm: ptr[AddressSpace], start: u64, length: u64, prot: u64) -> i64:
    """The program loader's mapping: private anonymous memory at exactly [start, start +
    length) (replacing what was there), populated now with zeroed frames (PROT_NONE pages
    excepted). 0 or -errno (mmap's, or -ENOMEM when frames run out)."""
    r = mmap_anon(mm, start, length, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)
    if is_err(r):
        return i64(r)
    return populate(mm, start, start + length)


def map_stack(mm: ptr[AddressSpace], start: u64, length: u64, eager: u64) -> i64:
    """The main stack: a grows-down RW VMA at exactly [start, start + length), its top `eager`
    bytes (rounded to pages) populated now, the rest left to handle_fault(). 0 or -errno."""
    r = mmap_anon(mm, start, length, PROT_READ | PROT_WRITE,
                  MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_STACK)
    if is_err(r):
        return i64(r)
    end = start + page_up(length)
    if eager > end - start:
        eager = end - start
    if eager == 0:
        return 0
    return populate(mm, (end - eager) & PAGE_MASK, end)


def lower_index(mm: ptr[AddressSpace], addr: u64) -> u64:
    """Index of the first VMA with end > addr (count if none): Linux's find_vma()."""
    lo: u64 = 0
    hi = mm.count
    while lo < hi:
        mid = (lo + hi) >> 1
        if mm.vmas[mid].end > addr:
            hi = mid
        else:
            lo = mid + 1
    return lo


def find(mm: ptr[AddressSpace], addr: u64) -> ptr[Vma]:
    """The VMA containing addr, or NULL."""
    i = lower_index(mm, addr)
    if i < mm.count and mm.vmas[i].start <= addr:
        return vma_at(mm, i)
    return NULL


def intersects(mm: ptr[AddressSpace], start: u64, end: u64) -> bool:
    """Does any VMA overlap [start, end)?"""
    i = lower_index(mm, start)
    return i < mm.count and mm.vmas[i].start < end


def gap_top(mm: ptr[AddressSpace], i: u64) -> u64:
    """The end of the free gap below vmas[i] (TASK_SIZE for i == count): its start, less the
    guard gap when it grows down."""
    if i >= mm.count:
        return TASK_SIZE
    s = mm.vmas[i].start
    if mm.vmas[i].flags & VM_GROWSDOWN != 0:
        if s < STACK_GUARD_GAP:
            return 0
        return s - STACK_GUARD_GAP
    return s


def gap_bottom(mm: ptr[AddressSpace], i: u64) -> u64:
    """The start of the free gap below vmas[i]: the end of vmas[i - 1], or 0."""
    if i == 0:
        return 0
    return mm.vmas[i - 1].end


def search(mm: ptr[AddressSpace], length: u64, lo: u64, hi: u64, topdown: bool) -> u64:
    """The highest (topdown) or lowest free range of `length` bytes inside [lo, hi), or 0."""
    n = mm.count
    for k in range(n + 1):
        i = n - k if topdown else k
        b = gap_bottom(mm, i)
        t = gap_top(mm, i)
        if b < lo:
            b = lo
        if t > hi:
            t = hi
        if t > b and t - b >= length:
            return t - length if topdown else b
    return 0


def get_area(mm: ptr[AddressSpace], hint: u64, length: u64, flags: u64) -> u64:
    """Chooses where a non-fixed mapping of `length` (page-aligned, > 0) goes: the hint when it
    is free, else top-down below mmap_base, else bottom-up above it (MAP_32BIT: bottom-up in
    [1 GiB, 2 GiB)). An address, or -ENOMEM."""
    if length > TASK_SIZE - MMAP_MIN_ADDR:
        return u64(-ENOMEM)
    if flags & MAP_32BIT != 0:
        a = search(mm, length, MAP_32BIT_LO, MAP_32BIT_HI, False)
        return a if a != 0 else u64(-ENOMEM)
    hint &= PAGE_MASK
    if hint != 0 and hint < MMAP_MIN_ADDR:
        hint = MMAP_MIN_ADDR
    if hint != 0 and hint <= TASK_SIZE - length:
        i = lower_index(mm, hint)
        if hint + length <= gap_top(mm, i):
            return hint
    a = search(mm, length, MMAP_MIN_ADDR, mm.mmap_base, True)
    if a == 0:
        a = search(mm, length, mm.mmap_base, TASK_SIZE, False)
    return a if a != 0 else u64(-ENOMEM)


# ---- changing the VMA list -------------------------------------------------------------------

def slots_after_carve(mm: ptr[AddressSpace], start: u64, end: u64) -> u64:
    """How many VMAs carve(start, end) would leave."""
    i = lower_index(mm, start)
    if i >= mm.count:
        return mm.count
    if mm.vmas[i].start < start and mm.vmas[i].end > end:
        return mm.count + 1
    j = i
    while j < mm.count and mm.vmas[j].end <= end:
        j += 1
    covered = j - i
    if mm.vmas[i].start < start and covered > 0:
        covered -= 1    # the first one is trimmed, not removed
    return mm.count - covered


def carve(mm: ptr[AddressSpace], start: u64, end: u64) -> i64:
    """Removes [start, end) (page-aligned, start < end <= TASK_SIZE) from the VMAs, splitting
    those that straddle an end, and unmaps it, freeing its frames and the tables that mapped
    only it. 0, or -ENOMEM (nothing changed) when a split needs a slot and none is free."""
    i = lower_index(mm, start)
    if i < mm.count:
        v = vma_at(mm, i)
        if v.start < start and v.end > end:
            if mm.count >= MAX_VMAS:
                return -ENOMEM
            split_at(mm, i, start)
            clip_front(vma_at(mm, i + 1), end)
            pagetable.unmap_range(mm.pml4, start, end, True)
            return 0
        if v.start < start:
            v.end = start
            i += 1
    j = i
    while j < mm.count and mm.vmas[j].end <= end:
        j += 1
    remove_slots(mm, i, j - i)
    if i < mm.count and mm.vmas[i].start < end:
        clip_front(vma_at(mm, i), end)
    pagetable.unmap_range(mm.pml4, start, end, True)
    return 0


def would_merge(mm: ptr[AddressSpace], start: u64, end: u64, prot: u64, flags: u64) -> bool:
    """Would an anonymous VMA [start, end) merge with a neighbour once [start, end) is carved
    out (so that inserting it needs no slot)?"""
    if start > 0:
        i = lower_index(mm, start - 1)
        if i < mm.count and mm.vmas[i].start < start and mm.vmas[i].file == 0:
            if u64(mm.vmas[i].prot) == prot and u64(mm.vmas[i].flags) == flags:
                return True
    j = lower_index(mm, end)
    if j < mm.count and mm.vmas[j].start <= end and mm.vmas[j].file == 0:
        if u64(mm.vmas[j].prot) == prot and u64(mm.vmas[j].flags) == flags:
            return True
    return False


def insert_vma(mm: ptr[AddressSpace], start: u64, end: u64, prot: u64, flags: u64, file: u64,
               offset: u64) -> i64:
    """Adds the VMA [start, end) over a free range, merged with its neighbours when they are
    compatible. 0, or -ENOMEM when it needs a slot and none is free."""
    i = lower_index(mm, start)
    n = Vma()
    n.start = start
    n.end = end
    n.prot = u32(prot)
    n.flags = u32(flags)
    n.file = file
    n.offset = offset
    if i > 0 and mergeable(vma_at(mm, i - 1), addr_of(n)):
        mm.vmas[i - 1].end = end
        merge_span(mm, i, i)
        return 0
    if i < mm.count and mergeable(addr_of(n), vma_at(mm, i)):
        mm.vmas[i].start = start
        mm.vmas[i].offset = offset
        return 0
    if mm.count >= MAX_VMAS:
        return -ENOMEM
    s = insert_slot(mm, i)
    s[0] = n
    return 0


# ---- mmap / munmap ---------------------------------------------------------------------------

def mmap_anon(mm: ptr[AddressSpace], addr: u64, length: u64, prot: u64, flags: u64) -> u64:
    """mmap(addr, length, prot, flags | MAP_ANONYMOUS, -1, 0): the mapping's address or -errno.
    MAP_FIXED replaces what was there (frames freed); MAP_FIXED_NOREPLACE fails with -EEXIST
    instead; otherwise the hint is used when free, else the highest free range below
    mmap_base. Pages are not mapped (MAP_POPULATE: populated now, failures ignored as Linux
    does). -EINVAL: length 0, bad map type, MAP_SHARED|MAP_GROWSDOWN, unaligned fixed address;
    -ENOMEM: no room, too long, MAX_VMAS, MAP_HUGETLB (no huge pages); -EPERM: fixed below
    MMAP_MIN_ADDR; -EOPNOTSUPP: unknown flags with MAP_SHARED_VALIDATE."""
    mtype = flags & MAP_TYPE
    vmflags: u64 = VM_ANON
    if mtype == MAP_SHARED_VALIDATE:
        if flags & MAP_KNOWN != flags or flags & MAP_SYNC != 0:
            return u64(-EOPNOTSUPP)
        vmflags |= VM_SHARED
    elif mtype == MAP_SHARED:
        vmflags |= VM_SHARED
    elif mtype == MAP_PRIVATE:
        vmflags |= VM_PRIVATE
    else:
        return u64(-EINVAL)
    if length == 0:
        return u64(-EINVAL)
    if flags & MAP_HUGETLB != 0:
        return u64(-ENOMEM)
    if flags & MAP_GROWSDOWN != 0:
        if vmflags & VM_SHARED != 0:
            return u64(-EINVAL)
        vmflags |= VM_GROWSDOWN
    if flags & MAP_STACK != 0:
        vmflags |= VM_STACK
    length = page_up(length)
    if length == 0:
        return u64(-ENOMEM)
    fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0
    start = addr
    if fixed:
        if addr & (PAGE_SIZE - 1) != 0:
            return u64(-EINVAL)
        if length > TASK_SIZE or addr > TASK_SIZE - length:
            return u64(-ENOMEM)
        if addr < MMAP_MIN_ADDR:
            return u64(-EPERM)
        if flags & MAP_FIXED_NOREPLACE != 0 and intersects(mm, addr, addr + length):
            return u64(-EEXIST)
        need = slots_after_carve(mm, addr, addr + length)
        if not would_merge(mm, addr, addr + length, prot & PROT_RWX, vmflags):
            need += 1
        if need > MAX_VMAS:
            return u64(-ENOMEM)
        carve(mm, addr, addr + length)
    else:
        start = get_area(mm, addr, length, flags)
        if is_err(start):
            return start
        if mm.count >= MAX_VMAS and not would_merge(mm, start, start + length, prot & PROT_RWX, vmflags):
            return u64(-ENOMEM)
    if insert_vma(mm, start, start + length, prot & PROT_RWX, vmflags, 0, 0) != 0:
        return u64(-ENOMEM)   # not reached: a slot was checked for above
    if flags & MAP_POPULATE != 0 and flags & MAP_NONBLOCK == 0:
        populate(mm, start, start + length)
    return start


def munmap(mm: ptr[AddressSpace], addr: u64, length: u64) -> i64:
    """munmap(): 0 (also when nothing was mapped there), -EINVAL (unaligned addr, length 0,
    beyond TASK_SIZE), -ENOMEM (a split would exceed MAX_VMAS)."""
    if addr & (PAGE_SIZE - 1) != 0 or addr > TASK_SIZE or length > TASK_SIZE - addr:
        return -EINVAL
    length = page_up(length)
    if length == 0:
        return -EINVAL
    return carve(mm, addr, addr + length)


# ---- mprotect --------------------------------------------------------------------------------

def mprotect(mm: ptr[AddressSpace], start: u64, length: u64, prot: u64) -> i64:
    """mprotect(): changes the VMAs covering [start, start + length) (splitting at the ends,
    merging afterwards) and the leaves already present. 0 (length 0 too), -EINVAL (unaligned
    start, unknown prot bits, PROT_GROWSDOWN on a VMA that does not grow down, PROT_GROWSUP),
    -ENOMEM (part of the range unmapped, overflow, MAX_VMAS): then nothing changed."""
    if start & (PAGE_SIZE - 1) != 0 or prot & PROT_VALID != prot:
        return -EINVAL
    if prot & PROT_GROWSDOWN != 0 and prot & PROT_GROWSUP != 0:
        return -EINVAL
    if length == 0:
        return 0
    end = start + page_up(length)
    if end <= start:
        return -ENOMEM
    i = lower_index(mm, start)
    if i >= mm.count or mm.vmas[i].start >= end:
        return -ENOMEM
    if prot & PROT_GROWSUP != 0:
        return -EINVAL
    if prot & PROT_GROWSDOWN != 0:
        if mm.vmas[i].flags & VM_GROWSDOWN == 0:
            return -EINVAL
        start = mm.vmas[i].start
    elif mm.vmas[i].start > start:
        return -ENOMEM
    cur = start
    j = i
    while cur < end:
        if j >= mm.count or mm.vmas[j].start > cur:
            return -ENOMEM
        cur = mm.vmas[j].end
        j += 1
    last = j - 1
    newprot = prot & PROT_RWX
    split_lo = mm.vmas[i].start < start and mm.vmas[i].prot != newprot
    split_hi = mm.vmas[last].end > end and mm.vmas[last].prot != newprot
    if mm.count + u64(split_lo) + u64(split_hi) > MAX_VMAS:
        return -ENOMEM
    if split_lo:
        split_at(mm, i, start)
        i += 1
        last += 1
    if split_hi:
        split_at(mm, last, end)
    for k in range(i, last + 1):
        mm.vmas[k].prot = u32(newprot)
    pagetable.protect_range(mm.pml4, start, end, pte_flags(newprot))
    merge_span(mm, i, last + 1)
    return 0


# ---- brk ----------------------------------------------------------------------------------------

def brk(mm: ptr[AddressSpace], new: u64) -> u64:
    """brk(new): the new break, or the current one when new is below brk_start, the heap cannot
    grow (another mapping within a page of the new end, TASK_SIZE, MAX_VMAS) or shrinking finds
    nothing mapped to release. brk(0) queries. The heap is a VM_HEAP anonymous RW VMA from
    brk_start to the break rounded up; shrinking unmaps and frees."""
    orig = mm.brk
    if new < mm.brk_start:
        return orig
    newbrk = page_up(new)
    oldbrk = page_up(mm.brk)
    if newbrk < new:
        return orig
    if oldbrk == newbrk:
        mm.brk = new
        return new
    if new <= mm.brk:
        if not intersects(mm, newbrk, oldbrk) or carve(mm, newbrk, oldbrk) != 0:
            return orig
        mm.brk = new
        return new
    if newbrk > TASK_SIZE or oldbrk < MMAP_MIN_ADDR:
        return orig
    if newbrk + PAGE_SIZE > gap_top(mm, lower_index(mm, oldbrk)):
        return orig
    if insert_vma(mm, oldbrk, newbrk, PROT_READ | PROT_WRITE, VM_ANON | VM_PRIVATE | VM_HEAP, 0, 0) != 0:
        return orig
    mm.brk = new
    return new


# ---- mremap ---------------------------------------------------------------------------------

def move_vma(mm: ptr[AddressSpace], old: u64, old_len: u64, new_len: u64, dst: u64,
             dontunmap: bool) -> u64:
    """Moves [old, old + old_len) (inside one VMA) to a free [dst, dst + new_len): the pages
    move with their frames; the VMA copy covers new_len. dst or -ENOMEM (nothing changed)."""
    if mm.count + 2 > MAX_VMAS:
        return u64(-ENOMEM)
    v = find(mm, old)
    src = v[0]
    r = pagetable.move_range(mm.pml4, old, old + old_len, dst)
    if r < 0:
        return u64(-ENOMEM)
    insert_vma(mm, dst, dst + new_len, u64(src.prot), u64(src.flags), src.file,
               src.offset + (old - src.start))
    if not dontunmap:
        carve(mm, old, old + old_len)
    return dst


def mremap(mm: ptr[AddressSpace], old: u64, old_len: u64, new_len: u64, flags: u64,
           new_addr: u64) -> u64:
    """mremap(): the (possibly new) address or -errno. Shrinking unmaps the tail; growing
    extends in place when the pages after the VMA are free, else moves with MREMAP_MAYMOVE
    (pages keep their contents: the leaves move). MREMAP_FIXED moves to new_addr (replacing
    what was there), MREMAP_DONTUNMAP leaves the old range mapped and empty. -EINVAL (flags,
    alignment, new_len 0, old_len 0, overlapping fixed ranges), -EFAULT (old range not inside
    one VMA), -ENOMEM (no room without MAYMOVE, no free range, MAX_VMAS)."""
    if flags & (MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != flags:
        return u64(-EINVAL)
    if flags & MREMAP_FIXED != 0 and flags & MREMAP_MAYMOVE == 0:
        return u64(-EINVAL)
    if flags & MREMAP_DONTUNMAP != 0 and (flags & MREMAP_MAYMOVE == 0 or old_len != new_len):
        return u64(-EINVAL)
    if old & (PAGE_SIZE - 1) != 0:
        return u64(-EINVAL)
    old_len = page_up(old_len)
    new_len = page_up(new_len)
    if new_len == 0:
        return u64(-EINVAL)
    v = find(mm, old)
    if v == NULL:
        return u64(-EFAULT)
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0:
        return mremap_to(mm, old, old_len, new_len, flags, new_addr)
    if old_len >= new_len:
        if old_len == new_len:
            return old
        r = munmap(mm, old + new_len, old_len - new_len)
        if r != 0:
            return u64(r)
        return old
    if old_len == 0:
        return u64(-EINVAL)
    if old_len > v.end - old:
        return u64(-EFAULT)
    if old + old_len == v.end:
        newend = old + new_len
        if newend > v.end and newend <= TASK_SIZE and not intersects(mm, v.end, newend):
            i = lower_index(mm, old)
            v.end = newend
            merge_span(mm, i + 1, i + 1)
            return old
    if flags & MREMAP_MAYMOVE == 0:
        return u64(-ENOMEM)
    dst = get_area(mm, 0, new_len, 0)
    if is_err(dst):
        return dst
    return move_vma(mm, old, old_len, new_len, dst, False)


def mremap_to(mm: ptr[AddressSpace], old: u64, old_len: u64, new_len: u64, flags: u64,
              new_addr: u64) -> u64:
    """mremap with MREMAP_FIXED (new_addr is the place) or MREMAP_DONTUNMAP (new_addr a hint)."""
    if new_addr & (PAGE_SIZE - 1) != 0:
        return u64(-EINVAL)
    if new_len > TASK_SIZE or new_addr > TASK_SIZE - new_len:
        return u64(-EINVAL)
    if old + old_len > new_addr and new_addr + new_len > old:
        return u64(-EINVAL)
    fixed = flags & MREMAP_FIXED != 0
    if fixed:
        if new_addr < MMAP_MIN_ADDR:
            return u64(-EPERM)
        r = munmap(mm, new_addr, new_len)
        if r != 0:
            return u64(r)
    if old_len > new_len:
        r2 = munmap(mm, old + new_len, old_len - new_len)
        if r2 != 0:
            return u64(r2)
        old_len = new_len
    v = find(mm, old)
    if v == NULL:
        return u64(-EFAULT)
    if old_len == 0:
        return u64(-EINVAL)
    if old_len > v.end - old:
        return u64(-EFAULT)
    dst = new_addr
    if not fixed:
        dst = get_area(mm, new_addr, new_len, 0)
        if is_err(dst):
            return dst
    return move_vma(mm, old, old_len, new_len, dst, flags & MREMAP_DONTUNMAP != 0)


# ---- madvise --------------------------------------------------------------------------------

def advice_valid(advice: u64) -> bool:
    return (advice <= MADV_DONTNEED or (MADV_FREE <= advice and advice <= MADV_DONTNEED_LOCKED)
            or advice == MADV_HWPOISON or advice == MADV_SOFT_OFFLINE)


def madvise(mm: ptr[AddressSpace], start: u64, length: u64, advice: u64) -> i64:
    """madvise(): MADV_DONTNEED / MADV_DONTNEED_LOCKED / MADV_FREE drop the pages of private
    anonymous VMAs in the range (they read back as zero; on shared ones DONTNEED keeps them,
    which reads the same as refaulting shared memory; FREE is -EINVAL there);
    MADV_POPULATE_READ/WRITE populate (-EINVAL where the VMA does not allow the access);
    MADV_REMOVE is -EINVAL (no file behind anonymous memory); WIPEONFORK/KEEPONFORK need
    private VMAs; the other known advice is accepted and ignored. -EINVAL for unknown advice or
    an unaligned start, -EPERM for HWPOISON/SOFT_OFFLINE, -ENOMEM when part of the range is
    unmapped (after applying the advice to the mapped part, like Linux)."""
    if not advice_valid(advice) or start & (PAGE_SIZE - 1) != 0:
        return -EINVAL
    end = start + page_up(length)
    if length != 0 and end == start:
        return -EINVAL
    if end < start:
        return -EINVAL
    if end == start:
        return 0
    if advice == MADV_HWPOISON or advice == MADV_SOFT_OFFLINE:
        return -EPERM
    if advice == MADV_COLLAPSE:
        return -EINVAL
    hole = False
    cur = start
    i = lower_index(mm, start)
    while cur < end:
        if i >= mm.count or mm.vmas[i].start >= end:
            hole = True
            break
        v = vma_at(mm, i)
        if v.start > cur:
            hole = True
            if advice == MADV_POPULATE_READ or advice == MADV_POPULATE_WRITE:
                return -ENOMEM
        s = v.start if v.start > cur else cur
        e = v.end if v.end < end else end
        shared = v.flags & VM_SHARED != 0
        if advice == MADV_DONTNEED or advice == MADV_DONTNEED_LOCKED or advice == MADV_FREE:
            if shared and advice == MADV_FREE:
                return -EINVAL
            if not shared:
                pagetable.unmap_range(mm.pml4, s, e, True)
        elif advice == MADV_POPULATE_READ or advice == MADV_POPULATE_WRITE:
            if v.prot & PROT_RWX == 0 or (advice == MADV_POPULATE_WRITE and v.prot & PROT_WRITE == 0):
                return -EINVAL
            r = pagetable.populate_range(mm.pml4, s, e, pte_flags(u64(v.prot)))
            if r < 0:
                return r
        elif advice == MADV_REMOVE:
            return -EINVAL
        elif advice == MADV_WIPEONFORK or advice == MADV_KEEPONFORK:
            if shared:
                return -EINVAL
        cur = e
        i += 1
    if hole:
        return -ENOMEM
    return 0


# ---- population and faults ------------------------------------------------------------------

def populate(mm: ptr[AddressSpace], start: u64, end: u64) -> i64:
    """Eagerly maps zeroed frames on every page of [start, end) (rounded out to pages) that has
    none, in every VMA there except PROT_NONE ones. 0, -ENOMEM when part of the range is not
    mapped (nothing done) or frames ran out (pages mapped so far stay: they are valid)."""
    start &= PAGE_MASK
    end = page_up(end)
    if end == 0 or end > TASK_SIZE:
        return -ENOMEM
    if end <= start:
        return 0
    i = lower_index(mm, start)
    cur = start
    j = i
    while cur < end:
        if j >= mm.count or mm.vmas[j].start > cur:
            return -ENOMEM
        cur = mm.vmas[j].end
        j += 1
    while i < j:
        v = vma_at(mm, i)
        if v.prot & PROT_RWX != 0:
            s = v.start if v.start > start else start
            e = v.end if v.end < end else end
            r = pagetable.populate_range(mm.pml4, s, e, pte_flags(u64(v.prot)))
            if r < 0:
                return r
        i += 1
    return 0


def expand_down(mm: ptr[AddressSpace], i: u64, new_start: u64) -> bool:
    """Grows the grows-down vmas[i] down to new_start (page-aligned) if the stack limit, the
    guard gap above the previous VMA and MMAP_MIN_ADDR allow."""
    v = vma_at(mm, i)
    if new_start < MMAP_MIN_ADDR or v.end - new_start > mm.stack_rlimit:
        return False
    if i > 0:
        p = vma_at(mm, i - 1)
        if p.end > new_start:
            return False
        if p.flags & VM_GROWSDOWN == 0 and p.prot & PROT_RWX != 0 and new_start - p.end < STACK_GUARD_GAP:
            return False
    v.offset -= v.start - new_start
    v.start = new_start
    return True


def handle_fault(mm: ptr[AddressSpace], addr: u64, is_write: bool, is_exec: bool) -> i64:
    """A user page fault at addr: 0 when handled (a zeroed frame mapped, a grows-down VMA
    extended, or the leaf already allowed the access), -EFAULT when the access is not allowed
    (no VMA, or its prot forbids it: the caller delivers SIGSEGV), -ENOMEM when no frame is
    left (the caller kills the process)."""
    if addr >= TASK_SIZE:
        return -EFAULT
    i = lower_index(mm, addr)
    if i >= mm.count:
        return -EFAULT
    v = vma_at(mm, i)
    if v.start > addr:
        if v.flags & VM_GROWSDOWN == 0 or not expand_down(mm, i, addr & PAGE_MASK):
            return -EFAULT
        merge_span(mm, i, i)              # it may now touch a grows-down VMA below it
        i = lower_index(mm, addr)
        v = vma_at(mm, i)
    prot = u64(v.prot)
    if prot & PROT_RWX == 0 or (is_write and prot & PROT_WRITE == 0) or (is_exec and prot & PROT_EXEC == 0):
        return -EFAULT
    page = addr & PAGE_MASK
    flags = pte_flags(prot)
    e = pagetable.get_leaf(mm.pml4, page)
    if e != 0:
        if e & flags != flags or e & pagetable.PTE_NX & ~flags != 0:
            pagetable.protect(mm.pml4, page, flags)   # out of step with the VMA: resync
        return 0
    lo = page
    hi = page + PAGE_SIZE
    if fault_around > PAGE_SIZE:  # map the aligned block around the page too, inside this VMA
        lo = page & ~(fault_around - 1)
        hi = lo + fault_around
        if lo < v.start:
            lo = v.start
        if hi > v.end:
            hi = v.end
    r = pagetable.populate_range(mm.pml4, lo, hi, flags)
    if r < 0:
        return r
    return 0
