"""The mmap family's semantics on an AddressSpace, following Linux (mm/mmap.c, mm/mprotect.c,
mm/mremap.c, mm/madvise.c) in argument checks, errno values and results: mmap (anonymous),
munmap, mprotect, brk, mremap, madvise, and the building of a fresh space for exec (init_space,
map_segment, map_stack, set_brk_start). Results and all-or-nothing rules: qkernel/mm/vma.py's
module docstring."""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, addr_of, cast, i64, memcpy, ptr, sizeof, u8, u32, u64
from qkernel.linux.errno import EACCES, EEXIST, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM
from qkernel.linux.mman import (MS_ASYNC, MS_INVALIDATE, MS_SYNC,
                                MADV_COLLAPSE, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE,
                                MADV_HWPOISON, MADV_KEEPONFORK, MADV_POPULATE_READ,
                                MADV_POPULATE_WRITE, MADV_REMOVE, MADV_SOFT_OFFLINE,
                                MADV_WIPEONFORK, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE,
                                MAP_GROWSDOWN, MAP_HUGETLB, MAP_NONBLOCK, MAP_POPULATE,
                                MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK, MAP_SYNC,
                                MAP_TYPE, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
                                PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE)
from qkernel.mm import pagetable
from qkernel.mm.pagetable import PAGE_MASK
from qkernel.mm.fault import populate
from qkernel.mm.vma import (AddressSpace, Vma, DEFAULT_MMAP_BASE, MAP_KNOWN, MAX_VMAS, MMAP_MIN_ADDR,
                            NO_COVER, PROT_RWX, PROT_VALID, TASK_SIZE, VM_ANON, VM_GROWSDOWN,
                            VM_HEAP, VM_MAYWRITE, VM_PAGES, VM_PRIVATE, VM_SHARED, VM_SPECIAL, VM_STACK,
                            carve, copy_files,
                            covering_end, find, hold_file,
                            gap_top, get_area, init, insert_vma, intersects, is_err, lower_index,
                            merge_span, page_up, pte_flags, slots_after_carve, split_at, vma_at,
                            would_merge)


def init_space(mm: ptr[AddressSpace]) -> i64:
    """init() over a fresh page-table space (pagetable.new_space()), with DEFAULT_MMAP_BASE and
    the break at 0 until set_brk_start(). 0 or -ENOMEM."""
    pml4 = pagetable.new_space()
    if pml4 == 0:
        return -ENOMEM
    init(mm, pml4, DEFAULT_MMAP_BASE, 0)
    return 0


def copy_space(dst: ptr[AddressSpace], src: ptr[AddressSpace]) -> i64:
    """fork: dst (an AddressSpace object without page tables) becomes a copy of src: the same
    VMAs, break and placement, and every populated page copied now into a frame of its own
    (eager copy: src's live page tables are only read, and dst's, not yet in CR3, are written
    natively; copy-on-write would write-protect src's leaves, a trapping store each on
    kvm_pvm); shared mappings' frames (PTE_SHARED) are shared, not copied. 0 or
    -ENOMEM, dst left empty (pml4 0) on failure."""
    pml4 = pagetable.new_space()
    if pml4 == 0:
        return -ENOMEM
    init(dst, pml4, src.mmap_base, src.brk_start)
    dst.brk = src.brk
    dst.stack_rlimit = src.stack_rlimit
    dst.count = src.count
    memcpy(cast(ptr[u8], addr_of(dst.vmas[0])), cast(ptr[u8], addr_of(src.vmas[0])),
           src.count * sizeof(Vma))
    for i in range(src.count):
        r = pagetable.copy_range(src.pml4, pml4, src.vmas[i].start, src.vmas[i].end)
        if r < 0:
            pagetable.destroy_space(pml4, True)
            dst.pml4 = 0
            dst.count = 0
            return -ENOMEM
    copy_files(dst, src)
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


def map_file(mm: ptr[AddressSpace], start: u64, length: u64, prot: u64, file: u64, offset: u64) -> i64:
    """The loader's private file mapping at exactly [start, start + length) (replacing what
    was there): nothing is read now; each page is a private copy of `file`'s page at
    offset + (page - start), made at its first touch (fault.fill_page). The space holds the
    File (vma.hold_file). 0 or -ENOMEM."""
    end = start + length
    if slots_after_carve(mm, start, end) + 1 > MAX_VMAS:
        return -ENOMEM
    if hold_file(mm, file) < 0:
        return -ENOMEM
    carve(mm, start, end)
    return insert_vma(mm, start, end, prot & PROT_RWX, VM_PRIVATE, file, offset)


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


def mmap_anon(mm: ptr[AddressSpace], addr: u64, length: u64, prot: u64, flags: u64) -> u64:
    """mmap(addr, length, prot, flags | MAP_ANONYMOUS, -1, 0): the mapping's address or -errno.
    MAP_FIXED replaces what was there (frames freed); MAP_FIXED_NOREPLACE fails with -EEXIST
    instead; otherwise the hint is used when free, else the highest free range below
    mmap_base. Pages are not mapped (MAP_POPULATE: populated now, failures ignored as Linux
    does). -EINVAL: length 0, bad map type, MAP_SHARED|MAP_GROWSDOWN, unaligned fixed address;
    -ENOMEM: no room, too long, MAX_VMAS, MAP_HUGETLB (no huge pages); -EPERM: fixed below
    MMAP_MIN_ADDR; -EOPNOTSUPP: unknown flags with MAP_SHARED_VALIDATE."""
    return mmap_region(mm, addr, length, prot, flags, 0, 0, 0)


def mmap_file(mm: ptr[AddressSpace], addr: u64, length: u64, prot: u64, flags: u64, file: u64,
              offset: u64, vmextra: u64) -> u64:
    """mmap(addr, length, prot, flags, fd, offset) of a file the caller checked (the VFS's
    File `file`; offset page-aligned): as mmap_anon, but each page is the file's page at
    offset + (page - start), mapped at its first touch (fault.fill_page): a copy, or with
    VM_PAGES in vmextra (shared mappings of in-memory files) the page-cache frame itself;
    VM_MAYWRITE lets mprotect make such a mapping writable. Also -EOVERFLOW when offset +
    length wraps; -ENOMEM when the space maps MAX_FILES files."""
    if offset + page_up(length) < offset:
        return u64(-EOVERFLOW)
    return mmap_region(mm, addr, length, prot, flags, file, offset, vmextra & (VM_PAGES | VM_MAYWRITE))


def mmap_region(mm: ptr[AddressSpace], addr: u64, length: u64, prot: u64, flags: u64, file: u64,
                offset: u64, vmextra: u64) -> u64:
    """mmap_anon (file 0) and mmap_file."""
    mtype = flags & MAP_TYPE
    vmflags: u64 = VM_ANON if file == 0 else vmextra
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
        if file != 0 or not would_merge(mm, addr, addr + length, prot & PROT_RWX, vmflags):
            need += 1
        if need > MAX_VMAS or (file != 0 and hold_file(mm, file) < 0):
            return u64(-ENOMEM)           # the file is held before anything changes
        carve(mm, addr, addr + length)
    else:
        start = get_area(mm, addr, length, flags)
        if is_err(start):
            return start
        if mm.count >= MAX_VMAS and (file != 0 or not would_merge(mm, start, start + length,
                                                                  prot & PROT_RWX, vmflags)):
            return u64(-ENOMEM)
        if file != 0 and hold_file(mm, file) < 0:
            return u64(-ENOMEM)
    if insert_vma(mm, start, start + length, prot & PROT_RWX, vmflags, file, offset) != 0:
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


def mprotect(mm: ptr[AddressSpace], start: u64, length: u64, prot: u64) -> i64:
    """mprotect(): changes the VMAs covering [start, start + length) (splitting at the ends,
    merging afterwards) and the leaves already present. 0 (length 0 too), -EINVAL (unaligned
    start, unknown prot bits, PROT_GROWSDOWN on a VMA that does not grow down, PROT_GROWSUP),
    -ENOMEM (part of the range unmapped, overflow, MAX_VMAS), -EACCES (PROT_WRITE on a shared
    file mapping of a file not open for writing, or of one whose pages are copies): then
    nothing changed."""
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
    j = covering_end(mm, i, start, end)
    if j == NO_COVER:
        return -ENOMEM
    last = j - 1
    newprot = prot & PROT_RWX
    if newprot & PROT_WRITE != 0:
        for k in range(i, j):      # a shared file mapping opened read-only, or of copies
            vf = u64(mm.vmas[k].flags)
            if mm.vmas[k].file != 0 and vf & VM_SHARED != 0 and vf & VM_MAYWRITE == 0:
                return -EACCES
            if vf & VM_SPECIAL != 0:
                return -EACCES     # the vDSO's pages are every process's: never writable
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
            r = populate(mm, s, e)
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


def mapped_range(mm: ptr[AddressSpace], start: u64, length: u64, end_out: ptr[u64]) -> i64:
    """Checks [start, start + length) for msync and mincore: 0 with its page-aligned end in
    end_out, -EINVAL for an unaligned start or a wrapping length, -ENOMEM when part of it is
    not mapped."""
    if start & (PAGE_SIZE - 1) != 0:
        return -EINVAL
    end = start + page_up(length)
    if end < start or (length != 0 and end == start):
        return -ENOMEM
    end_out[0] = end
    if end == start:
        return 0
    if end > TASK_SIZE or covering_end(mm, lower_index(mm, start), start, end) == NO_COVER:
        return -ENOMEM
    return 0


def msync(mm: ptr[AddressSpace], start: u64, length: u64, flags: u64) -> i64:
    """msync(): 0 (nothing to write back: shared file mappings are read-only), -EINVAL (unknown
    flags, MS_ASYNC with MS_SYNC, unaligned start), -ENOMEM (part of the range unmapped)."""
    if flags & ~u64(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0:
        return -EINVAL
    if flags & MS_ASYNC != 0 and flags & MS_SYNC != 0:
        return -EINVAL
    end: u64 = 0
    return mapped_range(mm, start, length, addr_of(end))


def mincore_page(mm: ptr[AddressSpace], page: u64) -> u8:
    """mincore's byte for one page: 1 when it has a frame."""
    e = pagetable.get_leaf(mm.pml4, page)
    return u8(1) if e != 0 and pagetable.owns(e) else u8(0)
