"""Faults and population of an address space: handle_fault (a #PF the VMAs can serve: fresh
pages, stack growth, fault-around blocks), populate (eager mapping for MAP_POPULATE, the initial
stack and MADV_POPULATE_*) and expand_down. Every new user frame is zeroed, or, in a
file-backed VMA (exec's program segments), a private copy of its file page (file_fill); the
VMA invariants are qkernel/mm/vma.py's."""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, cast, fn, i64, memset, ptr, u8, u64
from qkernel.linux.errno import EFAULT, ENOMEM
from qkernel.linux.mman import PROT_EXEC, PROT_WRITE
from qkernel.mm import frames, pagetable
from qkernel.mm.addr import va
from qkernel.mm.pagetable import PAGE_MASK
from qkernel.mm.vma import (AddressSpace, Vma, MMAP_MIN_ADDR, NO_COVER, PROT_RWX, STACK_GUARD_GAP,
                            TASK_SIZE, VM_GROWSDOWN, VM_PAGES, VM_SPECIAL, covering_end, lower_index, merge_span,
                            page_up, pte_flags, vma_at)

# Bytes handle_fault maps per fault (a power of two >= PAGE_SIZE). On kvm_pvm a fault costs
# ~1 ms of emulated CPL 0 work, so the kernel maps 64 KiB blocks there; elsewhere one page.
fault_around: u64 = PAGE_SIZE
# Reads the page of a file-backed VMA: (file, file offset, frame) -> bytes read (the rest of the
# page is zeroed here) or -errno. qkernel/exec.py sets it to qkernel/fs/filemap.py's (files live
# in the VFS, above this layer).
file_fill: fn[[u64, u64, u64], i64] = NULL
# The page-cache frame of a VM_PAGES VMA's page: (file, file offset) -> physical address (the
# page made now if it was a hole) or -errno (past the end of the file). Set with file_fill.
file_page: fn[[u64, u64], i64] = NULL
# The frame of a VM_SPECIAL VMA's page: (byte offset in the kernel's pages) -> physical address,
# or -1 (qkernel/mm/vdso.py's special_page; set by exec).
special_page: fn[[u64], i64] = NULL


def fill_page(mm: ptr[AddressSpace], v: ptr[Vma], page: u64, flags: u64) -> i64:
    """The file page behind `page` of file-backed v, mapped now: a private copy, or in a
    VM_PAGES VMA the page-cache frame itself, in a VM_SPECIAL one the kernel's page."""
    if v.flags & VM_SPECIAL != 0:
        if special_page == NULL:
            return -EFAULT
        sp = special_page(v.offset + (page - v.start))
        if sp < 0:
            return -EFAULT
        return pagetable.map_page(mm.pml4, page, u64(sp), flags | pagetable.PTE_SHARED)
    if v.flags & VM_PAGES != 0:
        if file_page == NULL:
            return -EFAULT
        phys = file_page(v.file, v.offset + (page - v.start))
        if phys < 0:
            return -EFAULT           # past the end of the file (Linux: SIGBUS)
        return pagetable.map_page(mm.pml4, page, u64(phys), flags | pagetable.PTE_SHARED)
    if file_fill == NULL:
        return -EFAULT
    f = frames.alloc()
    if f == 0:
        return -ENOMEM
    n = file_fill(v.file, v.offset + (page - v.start), f)
    if n < 0:
        frames.free(f)
        return -EFAULT           # an I/O error (Linux: SIGBUS)
    if u64(n) < PAGE_SIZE:
        memset(cast(ptr[u8], va(f)) + u64(n), 0, PAGE_SIZE - u64(n))
    r = pagetable.map_page(mm.pml4, page, f, flags)
    if r < 0:
        frames.free(f)
    return r


def fill_range(mm: ptr[AddressSpace], v: ptr[Vma], lo: u64, hi: u64, flags: u64) -> i64:
    """fill_page() on every page of [lo, hi) inside file-backed v that has no leaf yet."""
    page = lo
    while page < hi:
        if pagetable.get_leaf(mm.pml4, page) == 0:
            r = fill_page(mm, v, page, flags)
            if r < 0:
                return r
        page += PAGE_SIZE
    return 0


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
    j = covering_end(mm, i, start, end)
    if j == NO_COVER:
        return -ENOMEM
    while i < j:
        v = vma_at(mm, i)
        if v.prot & PROT_RWX != 0:
            s = v.start if v.start > start else start
            e = v.end if v.end < end else end
            r: i64 = 0
            if v.file != 0 or v.flags & VM_SPECIAL != 0:
                r = fill_range(mm, v, s, e, pte_flags(u64(v.prot)))
            else:
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
    if fault_around > PAGE_SIZE and v.flags & (VM_PAGES | VM_SPECIAL) == 0:
        # map the aligned block around the page too, inside this VMA (not for shared file
        # pages: the block may reach past the end of the file)
        lo = page & ~(fault_around - 1)
        hi = lo + fault_around
        if lo < v.start:
            lo = v.start
        if hi > v.end:
            hi = v.end
    if v.file != 0 or v.flags & VM_SPECIAL != 0:
        return fill_range(mm, v, lo, hi, flags)
    r = pagetable.populate_range(mm.pml4, lo, hi, flags)
    if r < 0:
        return r
    return 0
