"""x86-64 4-level page tables of address spaces, reached through the direct map.

Owns: the PTE bit definitions, creating an address space (a PML4 whose kernel half is shared with
the kernel's own PML4), mapping / unmapping / re-protecting / translating single pages and page
ranges of the user half, moving page ranges (mremap), and freeing a space's user-half tables.

Layout and sharing. PML4 entries 0..255 map the user half (addresses below USER_TOP); entries
256..511 map the kernel half. new_space() copies the kernel PML4's entries 256..511, so every
space points at the *same* kernel PDPTs: a kernel mapping added below an existing kernel PML4
entry is visible everywhere; one that needs a new kernel PML4 entry is not (the kernel's boot
tables already hold the entries for the direct map and the image; a later kernel region must be
placed under those, or every space's PML4 must be updated). Nothing here ever writes a kernel-half
entry or frees a kernel-half table.

Tables. A table at physical p is read and written at va(p). User-half tables are frames from
qkernel.mm.frames, zeroed with memset when allocated; intermediate entries are P|W|U (the leaf
decides the access), never huge: user pages are 4 KiB. Tables emptied by unmap_range are freed
when the whole span they map lies inside the unmapped range; other empty tables stay linked
until destroy_space().

Leaf entries. A leaf either is 0 (nothing), present (PTE_P: the hardware sees `pa | flags`), or
"held" (PTE_P clear, PTE_PROTNONE set): a PROT_NONE page that still owns its frame, so its data
survives mprotect(PROT_NONE) and back. A held entry stores the frame address inverted (as Linux
does for PROT_NONE, against L1TF speculation through non-present entries); entry_pa() undoes it.
Callers pass leaf flags without PTE_P to create or convert to a held entry. A leaf "owns" its
frame when it is present or held; the frames themselves belong to the caller (the VMA layer),
which frees them unless it asks a range function to. A leaf with PTE_SHARED maps a frame that
is not its own (a page-cache page of a shared mapping): unmapping never frees it, copying a
range (fork) maps the same frame again, and protect keeps the bit.

TLB. Functions that change or remove a present leaf flush it when the space is the current one
(its PML4 is in CR3): invlpg per page for small ranges, a CR3 reload otherwise, and a CR3 reload
whenever tables were freed (paging-structure caches). One CPU: frames are freed before the
flush, which is safe because no user code runs before the operation returns.

Errors are negative Linux errno values (i64): -EINVAL for a bad argument (an address at or above
USER_TOP, misalignment, flags outside LEAF_FLAGS), -ENOMEM when a table frame cannot be
allocated, -EEXIST when mapping over an existing leaf, -EFAULT when a page is not mapped.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import (Final, addr_of, cast, i64, memcpy, ptr, struct,
                             u8, u64)
from qkernel.arch import priv
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.linux.errno import EEXIST, EFAULT, EINVAL, ENOMEM

# ---- PTE bits
PTE_P: Final = 1 << 0        # present
PTE_W: Final = 1 << 1        # writable
PTE_U: Final = 1 << 2        # user-accessible
PTE_PWT: Final = 1 << 3      # write-through
PTE_PCD: Final = 1 << 4      # cache disable
PTE_A: Final = 1 << 5        # accessed (set by the CPU)
PTE_D: Final = 1 << 6        # dirty (set by the CPU; leaves only)
PTE_PS: Final = 1 << 7       # PDPT/PD entry: 1 GiB / 2 MiB page (a 4 KiB leaf: PAT, never used here)
PTE_G: Final = 1 << 8        # global: never in the user half (it would survive a CR3 switch)
PTE_PROTNONE: Final = 1 << 9  # software, leaves with PTE_P clear: a held PROT_NONE frame
PTE_AVL1: Final = 1 << 10    # software, free for callers
PTE_AVL2: Final = 1 << 11    # software
PTE_SHARED: Final = PTE_AVL2  # the frame is borrowed (a shared mapping's page-cache page)
PTE_NX: Final = 1 << 63      # no execute (needs EFER.NXE)
PTE_ADDR: Final = 0x000F_FFFF_FFFF_F000
PTE_ADDR_LOW: Final = 0xFFF0_0000_0000_0FFF   # everything but the address bits
# Flags a caller may give a user leaf (map_page, protect, *_range).
LEAF_FLAGS: Final = PTE_P | PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_A | PTE_D | PTE_AVL1 | PTE_AVL2 | PTE_NX
TABLE_FLAGS: Final = PTE_P | PTE_W | PTE_U   # intermediate user-half entries

USER_TOP: Final = 0x0000_8000_0000_0000      # user addresses are below (canonical lower half)
PAGE_MASK: Final = 0xFFFF_FFFF_FFFF_F000
NO_PA: Final = 0xFFFF_FFFF_FFFF_FFFF         # translate(): not mapped
ENTRIES: Final = 512
KERNEL_FIRST: Final = 256                    # first kernel-half PML4 entry
SMALL_FLUSH_PAGES: Final = 32                # above this, a range flush reloads CR3

# walk() results that are not slot addresses
WALK_ABSENT: Final = 0
WALK_NOMEM: Final = 1
WALK_HUGE: Final = 2

OP_UNMAP: Final = 1
OP_PROTECT: Final = 2
OP_MOVE: Final = 3
OP_POPULATE: Final = 4
OP_COPY: Final = 5

# The kernel's PML4 (physical), whose upper half new_space() shares; 0: take CR3 at the time.
kernel_pml4: u64 = 0
# PTE_NX, or 0 when the CPU has no NX (EFER.NXE clear): then NX would be a reserved bit.
nx_mask: u64 = PTE_NX


@struct
class RangeOp:
    """One range operation's parameters and results (range_walk)."""
    op: u64
    flags: u64          # OP_PROTECT / OP_POPULATE: the leaf flags
    delta: u64          # OP_MOVE: destination - source (wrapping)
    free_frames: bool   # OP_UNMAP: frames.free() every owned frame
    pml4: u64
    count: u64          # leaves unmapped / changed / moved / populated
    present: u64        # of those, how many were present before (need a TLB flush)
    tables_freed: u64
    error: i64          # OP_MOVE / OP_POPULATE: the first failure (the walk stops there)
    stop: u64           # with error: the first address not processed
    dst: u64            # OP_COPY: the PML4 (physical) the copies are mapped into


def init(kpml4: u64, nx: bool) -> None:
    """Records the kernel PML4 (physical) that new spaces share, and whether NX may be used."""
    global kernel_pml4, nx_mask
    kernel_pml4 = kpml4 & PTE_ADDR
    nx_mask = PTE_NX if nx else 0


def table(phys: u64) -> ptr[u64]:
    """The 512 entries of the table at physical `phys`, through the direct map."""
    return cast(ptr[u64], va(phys))


def new_table() -> u64:
    """A zeroed frame for a page table, or 0 when frames are exhausted."""
    return frames.alloc_zeroed()


def current_pml4() -> u64:
    return priv.current_cr3() & PTE_ADDR


def is_current(pml4: u64) -> bool:
    """Is this space loaded in CR3 (so its TLB entries must be flushed on change)?"""
    return current_pml4() == pml4


def invlpg(v: u64) -> None:
    priv.invlpg(v)


def flush_all() -> None:
    """Drops every non-global TLB entry and the paging-structure caches (CR3 reload)."""
    priv.load_cr3(priv.current_cr3())


def new_space() -> u64:
    """A new address space: a zeroed PML4 whose entries 256..511 are copied from kernel_pml4 (or
    from CR3 when init() was not called). Returns its physical address, or 0 (-ENOMEM)."""
    src = kernel_pml4
    if src == 0:
        src = current_pml4()
    return new_space_from(src)


def new_space_from(kpml4: u64) -> u64:
    """new_space() with the kernel PML4 given explicitly (physical)."""
    p = new_table()
    if p == 0:
        return 0
    memcpy(table(p) + KERNEL_FIRST, table(kpml4 & PTE_ADDR) + KERNEL_FIRST, (ENTRIES - KERNEL_FIRST) * 8)
    return p


def make_leaf(phys: u64, flags: u64) -> u64:
    """The leaf entry for frame `phys` with `flags`: present if flags has PTE_P, else held."""
    if flags & PTE_P != 0:
        return phys | flags
    return (~phys & PTE_ADDR) | flags | PTE_PROTNONE


def owns(e: u64) -> bool:
    """Does leaf entry e own a frame (present or held)?"""
    return e & (PTE_P | PTE_PROTNONE) != 0


def entry_pa(e: u64) -> u64:
    """The frame of an owning leaf entry (held entries store it inverted)."""
    if e & PTE_P != 0:
        return e & PTE_ADDR
    return ~e & PTE_ADDR


def walk(pml4: u64, v: u64, create: bool) -> u64:
    """The direct-map address of the leaf slot for user address v, creating missing tables when
    `create`. Else WALK_ABSENT (a table is missing), WALK_NOMEM (create failed; the tables linked
    so far stay, empty, until destroy_space) or WALK_HUGE (a large page is in the way)."""
    t = pml4
    shift: u64 = 39
    while shift > 12:
        slot = table(t) + ((v >> shift) & 511)
        e = slot[0]
        if e & PTE_P == 0:
            if not create:
                return WALK_ABSENT
            n = new_table()
            if n == 0:
                return WALK_NOMEM
            slot[0] = n | TABLE_FLAGS
            t = n
        elif e & PTE_PS != 0:
            return WALK_HUGE
        else:
            t = e & PTE_ADDR
        shift -= 9
    return u64(table(t) + ((v >> 12) & 511))


def user_page(v: u64) -> bool:
    return v < USER_TOP and v & (PAGE_SIZE - 1) == 0


def map_page(pml4: u64, v: u64, phys: u64, flags: u64) -> i64:
    """Maps the 4 KiB user page at v to frame `phys` with leaf `flags` (PTE_U is not implied;
    without PTE_P the page is held: PROT_NONE). 0, -EINVAL (v not a page-aligned user address,
    phys not page-aligned / too wide, flags outside LEAF_FLAGS), -EEXIST (v already has a leaf:
    unmap it first), -ENOMEM (no frame for a table; tables linked before the failure stay)."""
    if not user_page(v) or phys & PTE_ADDR_LOW != 0 or flags & LEAF_FLAGS != flags:
        return -EINVAL
    slot = walk(pml4, v, True)
    if slot == WALK_NOMEM:
        return -ENOMEM
    if slot == WALK_HUGE:
        return -EEXIST
    s = cast(ptr[u64], slot)
    if s[0] != 0:
        return -EEXIST
    s[0] = make_leaf(phys, flags)   # was not present: nothing to flush
    return 0


def get_leaf(pml4: u64, v: u64) -> u64:
    """The raw leaf entry for user address v (0 when there is none)."""
    if v >= USER_TOP:
        return 0
    slot = walk(pml4, v & PAGE_MASK, False)
    if slot <= WALK_HUGE:
        return 0
    return cast(ptr[u64], slot)[0]


def unmap_page(pml4: u64, v: u64) -> u64:
    """Removes the leaf of user page v; returns the frame it owned (present or held), or 0 if
    there was none or it was borrowed (PTE_SHARED). The caller frees the frame. Flushes the
    TLB entry if pml4 is current."""
    if v >= USER_TOP:
        return 0
    v &= PAGE_MASK
    slot = walk(pml4, v, False)
    if slot <= WALK_HUGE:
        return 0
    s = cast(ptr[u64], slot)
    e = s[0]
    if not owns(e):
        return 0
    s[0] = 0
    if e & PTE_P != 0 and is_current(pml4):
        invlpg(v)
    if e & PTE_SHARED != 0:
        return 0
    return entry_pa(e)


def protect(pml4: u64, v: u64, flags: u64) -> i64:
    """Replaces the flags of user page v's leaf (keeping its frame and its A/D bits); flags
    without PTE_P make it held. 0, -EINVAL, or -EFAULT when v has no leaf."""
    if not user_page(v) or flags & LEAF_FLAGS != flags:
        return -EINVAL
    slot = walk(pml4, v, False)
    if slot <= WALK_HUGE:
        return -EFAULT
    s = cast(ptr[u64], slot)
    e = s[0]
    if not owns(e):
        return -EFAULT
    s[0] = make_leaf(entry_pa(e), flags | (e & (PTE_A | PTE_D | PTE_SHARED)))
    if e & PTE_P != 0 and is_current(pml4):
        invlpg(v)
    return 0


def translate(pml4: u64, v: u64) -> u64:
    """The physical address v maps to in this space (any half; 1 GiB and 2 MiB pages honoured),
    or NO_PA when it is not present or v is not canonical. Held (PROT_NONE) pages are not
    present: NO_PA."""
    return lookup(pml4, v, PTE_P)


def translate_user(pml4: u64, v: u64, write: bool) -> u64:
    """translate() as a user access sees it: every level present and user-accessible (and
    writable, for a write); NO_PA otherwise or for a kernel-half v."""
    if v >= USER_TOP:
        return NO_PA
    return lookup(pml4, v, PTE_P | PTE_U | (PTE_W if write else 0))


def lookup(pml4: u64, v: u64, need: u64) -> u64:
    """The one page-table walk: v's physical address when every level has the `need` bits."""
    top = v >> 47
    if top != 0 and top != 0x1FFFF:
        return NO_PA
    t = pml4 & PTE_ADDR
    shift: u64 = 39
    while True:
        e = table(t)[(v >> shift) & 511]
        if e & need != need:
            return NO_PA
        if shift == 12:
            return (e & PTE_ADDR) | (v & (PAGE_SIZE - 1))
        if e & PTE_PS != 0 and (shift == 30 or shift == 21):
            size = u64(1) << shift
            return (e & PTE_ADDR & ~(size - 1)) | (v & (size - 1))
        t = e & PTE_ADDR
        shift -= 9


# ---- ranges ---------------------------------------------------------------------------------

def range_walk(t: u64, shift: u64, base: u64, start: u64, end: u64, r: ptr[RangeOp]) -> None:
    """Applies r.op to the leaves of [start, end) below table t, whose entry 0 maps `base` and
    whose entries each span 1 << shift bytes. Absent subtrees are skipped whole (except by
    OP_POPULATE, which creates them). start < end, both page-aligned, inside t's span."""
    span = u64(1) << shift
    tab = table(t)
    i = (start - base) >> shift
    last = (end - 1 - base) >> shift
    while i <= last:
        lo = base + (i << shift)
        s = start if start > lo else lo
        e = end if end < lo + span else lo + span
        if shift == 12:
            leaf_op(addr_of(tab[i]), lo, r)
        else:
            ent = tab[i]
            if ent & PTE_P == 0 and r.op == OP_POPULATE:
                n = new_table()
                if n == 0:
                    r.error = -ENOMEM
                    r.stop = s
                    return
                tab[i] = n | TABLE_FLAGS
                ent = tab[i]
            if ent & PTE_P != 0 and ent & PTE_PS == 0:
                child = ent & PTE_ADDR
                range_walk(child, shift - 9, lo, s, e, r)
                if r.op == OP_UNMAP and s == lo and e == lo + span:
                    # The whole span was unmapped: the child table is empty now.
                    tab[i] = 0
                    frames.free(child)
                    r.tables_freed += 1
        if r.error != 0:
            return
        i += 1


def leaf_op(slot: ptr[u64], v: u64, r: ptr[RangeOp]) -> None:
    e = slot[0]
    if r.op == OP_POPULATE:
        if e != 0:
            return
        f = frames.alloc_zeroed()
        if f == 0:
            r.error = -ENOMEM
            r.stop = v
            return
        slot[0] = make_leaf(f, r.flags)
        r.count += 1
        return
    if not owns(e):
        return
    if r.op == OP_COPY:
        copy_leaf(e, v, r)
        return
    if e & PTE_P != 0:
        r.present += 1
    if r.op == OP_UNMAP:
        slot[0] = 0
        if r.free_frames and e & PTE_SHARED == 0:
            frames.free(entry_pa(e))
    elif r.op == OP_PROTECT:
        slot[0] = make_leaf(entry_pa(e), r.flags | (e & (PTE_A | PTE_D | PTE_SHARED)))
    elif r.op == OP_MOVE:
        d = walk(r.pml4, v + r.delta, True)
        if d <= WALK_HUGE or cast(ptr[u64], d)[0] != 0:
            r.error = -ENOMEM if d == WALK_NOMEM else -EEXIST
            r.stop = v
            if e & PTE_P != 0:
                r.present -= 1
            return
        cast(ptr[u64], d)[0] = e
        slot[0] = 0
    r.count += 1


def copy_leaf(e: u64, v: u64, r: ptr[RangeOp]) -> None:
    """OP_COPY: a new frame with the bytes of e's, mapped at v in r.dst with e's flags (a
    borrowed frame, PTE_SHARED, is mapped itself: both spaces share it)."""
    d = walk(r.dst, v, True)
    err: i64 = 0
    if d == WALK_HUGE or (d > WALK_HUGE and cast(ptr[u64], d)[0] != 0):
        err = -EEXIST
    elif d <= WALK_HUGE:
        err = -ENOMEM
    if err == 0 and e & PTE_SHARED != 0:
        cast(ptr[u64], d)[0] = e
        r.count += 1
        return
    f: u64 = 0
    if err == 0:
        f = frames.alloc()
        if f == 0:
            err = -ENOMEM
    if err != 0:
        r.error = err
        r.stop = v
        return
    memcpy(cast(ptr[u8], va(f)), cast(ptr[u8], va(entry_pa(e))), PAGE_SIZE)
    cast(ptr[u64], d)[0] = make_leaf(f, e & LEAF_FLAGS)
    r.count += 1


def range_ok(start: u64, end: u64) -> bool:
    return start < end and end <= USER_TOP and (start | end) & (PAGE_SIZE - 1) == 0


def run_range(pml4: u64, start: u64, end: u64, r: ptr[RangeOp]) -> None:
    r.pml4 = pml4
    range_walk(pml4, 39, 0, start, end, r)
    if (r.present == 0 and r.tables_freed == 0) or not is_current(pml4):
        return
    if r.tables_freed == 0 and (end - start) >> 12 <= SMALL_FLUSH_PAGES:
        v = start
        while v < end:
            invlpg(v)
            v += PAGE_SIZE
    else:
        flush_all()


def unmap_range(pml4: u64, start: u64, end: u64, free_frames: bool) -> i64:
    """Removes every leaf in [start, end) (page-aligned user range), freeing the frames when
    `free_frames`, and the tables whose whole span lies inside the range. Returns the number of
    leaves removed, or -EINVAL."""
    if not range_ok(start, end):
        return -EINVAL
    r = RangeOp()
    r.op = OP_UNMAP
    r.free_frames = free_frames
    run_range(pml4, start, end, addr_of(r))
    return i64(r.count)


def protect_range(pml4: u64, start: u64, end: u64, flags: u64) -> i64:
    """protect() on every leaf of [start, end); pages without a leaf stay without one. Returns
    the number of leaves changed, or -EINVAL."""
    if not range_ok(start, end) or flags & LEAF_FLAGS != flags:
        return -EINVAL
    r = RangeOp()
    r.op = OP_PROTECT
    r.flags = flags
    run_range(pml4, start, end, addr_of(r))
    return i64(r.count)


def populate_range(pml4: u64, start: u64, end: u64, flags: u64) -> i64:
    """Maps a fresh zeroed frame with `flags` at every page of [start, end) that has no leaf.
    Returns the number of pages mapped, or -EINVAL / -ENOMEM (pages mapped before the failure
    stay mapped: they are valid zero pages)."""
    if not range_ok(start, end) or flags & LEAF_FLAGS != flags:
        return -EINVAL
    r = RangeOp()
    r.op = OP_POPULATE
    r.flags = flags
    run_range(pml4, start, end, addr_of(r))   # nothing was present: no flush
    if r.error != 0:
        return r.error
    return i64(r.count)


def move_range(pml4: u64, src: u64, end: u64, dst: u64) -> i64:
    """Moves every leaf of [src, end) to the same offset from dst (entries move as they are:
    frames, flags, A/D). The destination range must not overlap the source and must hold no
    leaves. Returns the number moved; on -ENOMEM / -EEXIST everything already moved is moved
    back (that needs no allocation: the source tables are still linked), so the space is as it
    was. Source tables stay linked (empty); -EINVAL for bad ranges."""
    if not range_ok(src, end):
        return -EINVAL
    dend = dst + (end - src)
    if dst & (PAGE_SIZE - 1) != 0 or dend <= dst or dend > USER_TOP or (dst < end and src < dend):
        return -EINVAL
    r = RangeOp()
    r.op = OP_MOVE
    r.delta = dst - src
    run_range(pml4, src, end, addr_of(r))
    if r.error == 0:
        return i64(r.count)
    if r.stop > src:
        back = RangeOp()
        back.op = OP_MOVE
        back.delta = src - dst
        run_range(pml4, dst, dst + (r.stop - src), addr_of(back))
    return r.error


def copy_range(src: u64, dst: u64, start: u64, end: u64) -> i64:
    """fork's eager copy: every leaf of [start, end) in space `src` gets a new frame holding a
    copy of its bytes, mapped at the same address in space `dst` with the same flags (held
    entries stay held). `dst` is not current, so nothing is flushed, and `src` is only read (a
    live page table is never written: on kvm_pvm each store into one traps). Returns the
    number of pages copied, or -EINVAL / -ENOMEM / -EEXIST (dst already maps a page); pages
    copied before a failure stay mapped in dst, which the caller destroys."""
    if not range_ok(start, end):
        return -EINVAL
    r = RangeOp()
    r.op = OP_COPY
    r.dst = dst
    r.pml4 = src
    range_walk(src, 39, 0, start, end, addr_of(r))
    if r.error != 0:
        return r.error
    return i64(r.count)


def destroy_space(pml4: u64, free_frames: bool) -> None:
    """Frees every user-half table of the space and its PML4 (the kernel half is shared and left
    alone), and the frames its leaves own when `free_frames`. The space must not be current."""
    r = RangeOp()
    r.op = OP_UNMAP
    r.free_frames = free_frames
    r.pml4 = pml4
    range_walk(pml4, 39, 0, 0, USER_TOP, addr_of(r))
    frames.free(pml4)
