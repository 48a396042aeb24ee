"""A process's virtual memory areas (VMAs): the AddressSpace record and the VMA set.

Owns: the AddressSpace record (page-table root, the VMA array, brk, mmap base), the VMA array's
invariants, lookup, gaps and placement, and carving and inserting VMAs. The semantics of the
mmap family live in qkernel/mm/mmap.py and faults and population in qkernel/mm/fault.py; the
three keep the page tables (qkernel.mm.pagetable) in step with the VMAs and own the user frames
they map: every frame a user leaf owns was allocated by them and is freed by them.

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
from qkernel.dialect import NULL, Final, addr_of, array, asm, fn, i64, ptr, sizeof, struct, u32, u64
from qkernel.mm import pagetable
from qkernel.mm.pagetable import PAGE_MASK, PTE_P, PTE_U, PTE_W
from qkernel.linux.errno import ENOMEM
from qkernel.linux.mman import (PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM,
                                 PROT_GROWSDOWN, PROT_GROWSUP, MAP_TYPE, MAP_FIXED, MAP_ANONYMOUS,
                                 MAP_32BIT, MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE,
                                 MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK,
                                 MAP_HUGETLB, MAP_FIXED_NOREPLACE, MAP_UNINITIALIZED,
                                 MAP_HUGE_MASK, MAP_HUGE_SHIFT)

TASK_SIZE: Final = 0x0000_7FFF_FFFF_F000   # end of user space (x86-64 Linux TASK_SIZE_MAX)
MMAP_MIN_ADDR: Final = 0x10000             # vm.mmap_min_addr: nothing is mapped below
STACK_GUARD_GAP: Final = 256 * PAGE_SIZE   # kept free below a grows-down VMA (Linux's default)
STACK_RLIMIT: Final = 8 << 20              # default RLIMIT_STACK: how far a stack may grow
MAX_VMAS: Final = 512
MAX_FILES: Final = 256     # distinct files an address space maps at once (AddressSpace.files)
# Default mmap_base for init_space(): below the stack's 8 MiB rlimit plus Linux's minimum gap of
# 128 MiB (mm/util.c mmap_base(), without randomisation).
DEFAULT_MMAP_BASE: Final = 0x0000_7FFF_FFFF_F000 - (128 << 20)
MAP_32BIT_LO: Final = 0x4000_0000
MAP_32BIT_HI: Final = 0x8000_0000
ERR_MIN: Final = 0xFFFF_FFFF_FFFF_F001     # u64 results at or above this are -errno
NO_COVER: Final = 0xFFFF_FFFF_FFFF_FFFF    # covering_end(): the range has a hole

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
VM_PAGES: Final = 0x40       # file-backed, shared: maps the file's own page-cache frames
                             # (fault.file_page; PTE_SHARED leaves), not copies
VM_MAYWRITE: Final = 0x80    # VM_PAGES opened for writing: mprotect may add PROT_WRITE
VM_SPECIAL: Final = 0x100    # kernel pages ([vvar], [vdso]: qkernel/mm/vdso.py), offset = byte offset in
                             # them; borrowed leaves (PTE_SHARED), never writable


@struct
class Vma:
    """[start, end) with one protection and one kind; page-aligned, end exclusive."""
    start: u64
    end: u64
    prot: u32        # PROT_READ | PROT_WRITE | PROT_EXEC
    flags: u32       # VM_*
    file: u64        # the backing File (0: anonymous), held by the space (hold_file)
    offset: u64      # the file offset mapped at `start`


@struct
class AddressSpace:
    pml4: u64            # physical address of the PML4 (pagetable.new_space())
    count: u64           # VMAs in use in vmas[]
    brk_start: u64       # page-aligned start of the heap (end of the program's bss)
    brk: u64             # the current break (byte-exact, as the program set it)
    mmap_base: u64       # top-down mmap placement searches below this first
    stack_rlimit: u64    # largest size a grows-down VMA may reach by faulting
    users: u64           # processes sharing it (clone CLONE_VM, vfork); destroyed at the last
    nfiles: u64          # files[0 .. nfiles): the Files its file-backed VMAs read, one
    files: array[u64, MAX_FILES]   # reference each (hold_file); may include unmapped ones
    vmas: array[Vma, MAX_VMAS]


# The VFS's fget/fput for a Vma.file (the VFS sits above this layer; qkernel/exec.py sets them).
file_get: fn[[u64], None] = NULL
file_put: fn[[u64], None] = NULL

# The address space loaded in CR3 on this CPU (per-CPU: one vCPU today), which uaccess faults
# pages into; the scheduler sets it with the task. Processes own theirs (Process.mm);
# NULL before the first program starts.
active: ptr[AddressSpace] = NULL


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
            and ((a.file == 0 and a.flags & VM_SPECIAL == 0) or a.offset + (a.end - a.start) == b.offset))


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
    mm.users = 1
    mm.nfiles = 0


def destroy(mm: ptr[AddressSpace]) -> None:
    """Frees every user frame, every user-half table and the PML4, and lets go of every file;
    the space must not be current. The AddressSpace is left empty (pml4 0)."""
    if mm.pml4 != 0:
        pagetable.destroy_space(mm.pml4, True)
    mm.pml4 = 0
    mm.count = 0
    drop_files(mm)


# ---- the files behind file-backed VMAs ----------------------------------------------------
# A space holds one reference on each distinct File its VMAs map (not one per VMA: splits,
# merges and moves need no accounting). A file no VMA maps any more is let go when the set is
# full (collect_files) or with the space; so munmap of a file mapping keeps its File open at
# most until then, as a bounded cache.

def maps_file(mm: ptr[AddressSpace], file: u64) -> bool:
    for i in range(mm.count):
        if mm.vmas[i].file == file:
            return True
    return False


def collect_files(mm: ptr[AddressSpace]) -> None:
    """Lets go of the files no VMA maps."""
    k: u64 = 0
    for i in range(mm.nfiles):
        f = mm.files[i]
        if maps_file(mm, f):
            mm.files[k] = f
            k += 1
        elif file_put != NULL:
            file_put(f)
    mm.nfiles = k


def hold_file(mm: ptr[AddressSpace], file: u64) -> i64:
    """Makes mm hold `file` (a no-op when it does) before a VMA maps it. 0, or -ENOMEM when
    MAX_FILES distinct files are mapped already."""
    for i in range(mm.nfiles):
        if mm.files[i] == file:
            return 0
    if mm.nfiles >= MAX_FILES:
        collect_files(mm)
        if mm.nfiles >= MAX_FILES:
            return -ENOMEM
    if file_get != NULL:
        file_get(file)
    mm.files[mm.nfiles] = file
    mm.nfiles += 1
    return 0


def copy_files(dst: ptr[AddressSpace], src: ptr[AddressSpace]) -> None:
    """fork: dst (holding none) holds every file src holds."""
    for i in range(src.nfiles):
        if file_get != NULL:
            file_get(src.files[i])
        dst.files[i] = src.files[i]
    dst.nfiles = src.nfiles


def drop_files(mm: ptr[AddressSpace]) -> None:
    for i in range(mm.nfiles):
        if file_put != NULL:
            file_put(mm.files[i])
    mm.nfiles = 0


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


def covering_end(mm: ptr[AddressSpace], i: u64, start: u64, end: u64) -> u64:
    """From VMA i on, the index after the VMAs that cover [start, end) without a hole, or
    NO_COVER when a hole lies in the range."""
    cur = start
    j = i
    while cur < end:
        if j >= mm.count or mm.vmas[j].start > cur:
            return NO_COVER
        cur = mm.vmas[j].end
        j += 1
    return j


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
