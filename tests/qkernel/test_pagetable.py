"""qkernel.mm.pagetable compiled by qkc and run under unicorn.

The test machine maps a 32 MiB "RAM" window at DIRECT_MAP_BASE + WIN backed by the machine's
physical [WIN, WIN + 32 MiB) (Machine.map_region(phys=)), and the frame allocator hands out
frames from it: physical addresses the kernel computes are the machine's real ones. The tables
are checked by walking them from Python; the hardware tests load a built space into CR3 and let
unicorn's MMU walk it.
"""

from __future__ import annotations

import struct

import pytest

from toolchain.emucall import EmuError

from qkernel.abi import DIRECT_MAP_BASE as D  # noqa: E402
WIN = 0x8000_0000                   # physical base of the test RAM window
WIN_SIZE = 32 << 20
PAGE = 4096
PT = "qkernel.mm.pagetable"
FR = "qkernel.mm.frames"
P, W, U, PWT, PCD, A, DIRTY, PS, G, PROTNONE = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200
NX = 1 << 63
ADDR = 0x000F_FFFF_FFFF_F000
NO_PA = (1 << 64) - 1
USER_TOP = 1 << 47
EINVAL, ENOMEM, EEXIST, EFAULT = 22, 12, 17, 14
M64 = (1 << 64) - 1


def neg(e: int) -> int:
    return -e & M64


def setup(m, mem: int = WIN_SIZE):
    m.map_region(D + WIN, WIN_SIZE, "rw", phys=WIN)
    m.call(f"{FR}.init", WIN + mem, WIN)
    return m


@pytest.fixture
def m(kmachine):
    return setup(kmachine(PT))


def nfree(m) -> int:
    return m.read_u64(m.symbol(f"{FR}.nfree"))


def entries(m, table: int) -> tuple[int, ...]:
    return struct.unpack("<512Q", m.read(D + table, PAGE))


def walk(m, pml4: int) -> tuple[dict[int, int], set[int]]:
    """({user va: leaf entry} for every nonzero leaf, {user-half table frames}), checking the
    shape of intermediate entries on the way."""
    leaves: dict[int, int] = {}
    tables: set[int] = set()

    def down(t: int, level: int, base: int) -> None:
        ents = entries(m, t)
        for i, e in enumerate(ents[:256] if level == 4 else ents):
            va = base + (i << (12 + 9 * (level - 1)))
            if level == 1:
                if e:
                    leaves[va] = e
                continue
            if e == 0:
                continue
            assert e & ~ADDR & ~(A | DIRTY) == P | W | U, f"intermediate entry {e:#x} at {va:#x}"
            child = e & ADDR
            assert child not in tables
            tables.add(child)
            down(child, level - 1, va)
    down(pml4, 4, 0)
    return leaves, tables


def leaf_pa(e: int) -> int:
    return e & ADDR if e & P else ~e & ADDR


def new_space(m, kpml4: int = 0) -> int:
    if kpml4 == 0:
        kpml4 = m.call(f"{FR}.alloc")
        m.write(D + kpml4, bytes(PAGE))
    m.call(f"{PT}.init", kpml4, 1)
    pml4 = m.call(f"{PT}.new_space")
    assert pml4 and pml4 % PAGE == 0
    return pml4


def s64(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def test_map_translate_unmap_round_trip(m):
    pml4 = new_space(m)
    vas = [0, PAGE, 0x1F_F000, 0x20_0000, 0x4000_0000 - PAGE, 0x4000_0000, 0x7F_FFFF_F000,
           0x80_0000_0000, USER_TOP - PAGE, 0x1234_5000]
    want = {}
    for v in vas:
        f = m.call(f"{FR}.alloc")
        assert m.call(f"{PT}.map_page", pml4, v, f, P | W | U) == 0
        want[v] = f
    leaves, tables = walk(m, pml4)
    assert {v: leaf_pa(e) for v, e in leaves.items()} == want
    assert all(e == want[v] | P | W | U for v, e in leaves.items())
    for v, f in want.items():
        assert m.call(f"{PT}.translate", pml4, v + 0x123) == f + 0x123
        assert m.call(f"{PT}.get_leaf", pml4, v) == f | P | W | U
    assert m.call(f"{PT}.translate", pml4, 0x3000) == NO_PA
    assert m.call(f"{PT}.translate", pml4, 0x0000_9000_0000_0000) == NO_PA   # non-canonical
    for v, f in want.items():
        assert m.call(f"{PT}.unmap_page", pml4, v + 5) == f   # any address in the page
        assert m.call(f"{PT}.translate", pml4, v) == NO_PA
        assert m.call(f"{PT}.unmap_page", pml4, v) == 0
    leaves, tables2 = walk(m, pml4)
    assert leaves == {} and tables2 == tables   # single unmaps leave the (empty) tables


def test_leaf_flags_protect_and_held_pages(m):
    pml4 = new_space(m)
    f = m.call(f"{FR}.alloc")
    v = 0x40_0000
    flags = P | U | PWT | PCD | NX
    assert m.call(f"{PT}.map_page", pml4, v, f, flags) == 0
    leaves, _ = walk(m, pml4)
    assert leaves == {v: f | flags}
    slot_table = walk_slot(m, pml4, v)
    m.write_u64(slot_table, m.read_u64(slot_table) | A | DIRTY)        # as the CPU would
    assert m.call(f"{PT}.protect", pml4, v, P | W | U) == 0
    assert walk(m, pml4)[0] == {v: f | P | W | U | A | DIRTY}           # A/D kept
    # PROT_NONE: held, not present, frame stored inverted, still owned
    assert m.call(f"{PT}.protect", pml4, v, 0) == 0
    e = walk(m, pml4)[0][v]
    assert e & P == 0 and e & PROTNONE and e & ADDR == ~f & ADDR and leaf_pa(e) == f
    assert m.call(f"{PT}.translate", pml4, v) == NO_PA
    assert m.call(f"{PT}.protect", pml4, v, P | U) == 0
    assert walk(m, pml4)[0][v] == f | P | U | A | DIRTY
    assert m.call(f"{PT}.translate", pml4, v + 8) == f + 8
    assert m.call(f"{PT}.protect", pml4, v, 0) == 0
    assert m.call(f"{PT}.unmap_page", pml4, v) == f                     # held frames come back
    # a held page can be created directly
    assert m.call(f"{PT}.map_page", pml4, v, f, U) == 0
    assert leaf_pa(walk(m, pml4)[0][v]) == f
    assert m.call(f"{PT}.translate", pml4, v) == NO_PA


def walk_slot(m, pml4: int, v: int) -> int:
    """Direct-map address of v's leaf slot (the tables must exist)."""
    t = pml4
    for shift in (39, 30, 21):
        t = m.read_u64(D + t + ((v >> shift) & 511) * 8) & ADDR
    return D + t + ((v >> 12) & 511) * 8


def test_bad_arguments(m):
    pml4 = new_space(m)
    f = m.call(f"{FR}.alloc")
    mp = lambda v, pa, fl: s64(m.call(f"{PT}.map_page", pml4, v, pa, fl))  # noqa: E731
    assert mp(USER_TOP, f, P | U) == -EINVAL
    assert mp(0xFFFF_C000_0000_0000, f, P) == -EINVAL          # kernel half
    assert mp(0x1000_0000_0000_0000, f, P | U) == -EINVAL      # non-canonical
    assert mp(0x1001, f, P | U) == -EINVAL
    assert mp(0x1000, f + 8, P | U) == -EINVAL
    assert mp(0x1000, 1 << 52, P | U) == -EINVAL
    for bad in (PS, G, PROTNONE):
        assert mp(0x1000, f, P | U | bad) == -EINVAL
    assert walk(m, pml4) == ({}, set())                          # nothing was built
    assert mp(0x1000, f, P | U) == 0
    assert mp(0x1000, f, P | U) == -EEXIST
    assert s64(m.call(f"{PT}.protect", pml4, 0x2000, P | U)) == -EFAULT
    assert s64(m.call(f"{PT}.protect", pml4, 0x1000, P | G)) == -EINVAL
    assert s64(m.call(f"{PT}.protect", pml4, 0x1_0000_0000, P)) == -EFAULT   # no tables
    assert m.call(f"{PT}.unmap_page", pml4, 0xFFFF_8000_0000_0000) == 0
    assert s64(m.call(f"{PT}.unmap_range", pml4, 0x2000, 0x1000, 1)) == -EINVAL
    assert s64(m.call(f"{PT}.unmap_range", pml4, 0x1000, USER_TOP + PAGE, 1)) == -EINVAL


def test_enomem_when_frames_run_out_and_destroy_recovers(kmachine):
    m = setup(kmachine(PT), mem=4 * PAGE)      # four frames in all
    before = nfree(m)
    assert before == 4
    pml4 = new_space(m)                        # fake kernel PML4 + the space: 2 left
    f_user = WIN + 0x10_0000                   # a "frame" outside the allocator is fine here
    assert s64(m.call(f"{PT}.map_page", pml4, 0x40_0000, f_user, P | U)) == -ENOMEM
    assert nfree(m) == 0
    leaves, tables = walk(m, pml4)
    assert leaves == {} and len(tables) == 2   # PDPT and PD linked, empty: no leak
    m.call(f"{PT}.destroy_space", pml4, 0)
    assert nfree(m) == 3                       # both tables and the PML4 came back
    pml4 = m.call(f"{PT}.new_space")
    assert pml4
    assert s64(m.call(f"{PT}.populate_range", pml4, 0, 2 * PAGE, P | U)) == -ENOMEM
    assert nfree(m) == 0
    assert s64(m.call(f"{PT}.unmap_range", pml4, 0, USER_TOP, 1)) == 0
    assert nfree(m) == 2 and walk(m, pml4) == ({}, set())
    m.call(f"{PT}.destroy_space", pml4, 1)
    assert nfree(m) == 3
    assert m.call(f"{PT}.new_space_from", WIN) != 0


def test_kernel_half_shared_and_large_pages_translated(m):
    kp = m.call(f"{FR}.alloc")
    m.write(D + kp, bytes(PAGE))
    pdpt = m.call(f"{FR}.alloc")
    pd = m.call(f"{FR}.alloc")
    m.write(D + pdpt, bytes(PAGE))
    m.write(D + pd, bytes(PAGE))
    kbase = 0xFFFF_8000_0000_0000                      # PML4 entry 256
    m.write_u64(D + kp + 256 * 8, pdpt | P | W)
    m.write_u64(D + kp + 511 * 8, 0x1234_5000 | P)     # any kernel entry is copied as is
    m.write_u64(D + pdpt + 0, 0x4000_0000 | P | W | PS)            # 1 GiB page
    m.write_u64(D + pdpt + 8, pd | P | W)
    m.write_u64(D + pd + 3 * 8, 0x60_0000 | P | W | PS)            # 2 MiB page
    before = nfree(m)
    a = new_space(m, kp)
    b = m.call(f"{PT}.new_space")
    ka, kb, kk = entries(m, a), entries(m, b), entries(m, kp)
    assert ka[256:] == kk[256:] == kb[256:] and ka[:256] == kb[:256] == (0,) * 256
    assert m.call(f"{PT}.translate", a, kbase + 0x1234_5678) == 0x4000_0000 + 0x1234_5678
    assert m.call(f"{PT}.translate", b, kbase + (1 << 30) + 3 * (2 << 20) + 0x1_2345) == 0x60_0000 + 0x1_2345
    assert m.call(f"{PT}.translate", a, kbase + (1 << 30)) == NO_PA
    # A kernel mapping added later below a shared PDPT shows in every space: nothing was copied deeper.
    m.write_u64(D + pd + 4 * 8, 0x80_0000 | P | W | PS)
    for s in (a, b):
        assert m.call(f"{PT}.translate", s, kbase + (1 << 30) + 4 * (2 << 20) + 7) == 0x80_0000 + 7
    # user halves are private
    f = m.call(f"{FR}.alloc")
    assert m.call(f"{PT}.map_page", a, 0x1000, f, P | U) == 0
    assert m.call(f"{PT}.translate", a, 0x1000) == f
    assert m.call(f"{PT}.translate", b, 0x1000) == NO_PA
    assert s64(m.call(f"{PT}.map_page", a, kbase, f, P | W)) == -EINVAL
    # destroying frees the user half and the PML4 only; the kernel tables are untouched
    m.call(f"{PT}.destroy_space", a, 1)
    m.call(f"{PT}.destroy_space", b, 1)
    assert nfree(m) == before
    assert entries(m, kp) == kk and m.read_u64(D + pd + 4 * 8) == 0x80_0000 | P | W | PS


def test_ranges_populate_protect_unmap_free_tables(m):
    pml4 = new_space(m)
    base = nfree(m)
    lo, hi = 0x1F_E000, 0x40_2000           # crosses 2 MiB boundaries: three PTs
    assert m.call(f"{PT}.populate_range", pml4, lo, hi, P | W | U | NX) == (hi - lo) // PAGE
    leaves, tables = walk(m, pml4)
    assert sorted(leaves) == list(range(lo, hi, PAGE))
    assert len(tables) == 2 + 3
    frames = {leaf_pa(e) for e in leaves.values()}
    assert len(frames) == len(leaves) and all(e & ~ADDR == P | W | U | NX for e in leaves.values())
    assert base - nfree(m) == len(frames) + len(tables)
    assert all(m.read(D + f, PAGE) == bytes(PAGE) for f in list(frames)[:8])   # zeroed
    # populating again maps nothing new
    assert m.call(f"{PT}.populate_range", pml4, lo, hi, P | U) == 0
    assert m.call(f"{PT}.protect_range", pml4, 0x20_0000, 0x30_0000, P | U) == 256
    leaves, _ = walk(m, pml4)
    assert all(e & ~ADDR == (P | U if 0x20_0000 <= v < 0x30_0000 else P | W | U | NX)
               for v, e in leaves.items())
    # unmapping the whole middle 2 MiB frees its PT; partial spans keep theirs
    assert m.call(f"{PT}.unmap_range", pml4, 0x1F_F000, 0x40_1000, 1) == (0x40_1000 - 0x1F_F000) // PAGE
    leaves, tables = walk(m, pml4)
    assert sorted(leaves) == [0x1F_E000, 0x40_1000]
    assert len(tables) == 2 + 2
    assert base - nfree(m) == 2 + len(tables)
    # unmapping everything frees every table below the PML4
    assert m.call(f"{PT}.unmap_range", pml4, 0, USER_TOP, 1) == 2
    assert walk(m, pml4) == ({}, set()) and nfree(m) == base


def test_move_range_keeps_entries_and_rolls_back_on_enomem(kmachine):
    m = setup(kmachine(PT), mem=16 * PAGE)
    pml4 = new_space(m)
    src = 0x1F_C000
    n = m.call(f"{PT}.populate_range", pml4, src, src + 8 * PAGE, P | W | U)   # 2 PTs + PDPT + PD
    assert n == 8
    assert m.call(f"{PT}.protect", pml4, src + PAGE, P | U) == 0
    assert m.call(f"{PT}.protect", pml4, src + 2 * PAGE, 0) == 0             # held page moves too
    before, _ = walk(m, pml4)
    free_now = nfree(m)
    assert free_now == 16 - 2 - 4 - 8
    # Destination in another PML4 slot: its first PT chain needs 3 tables, the second PT one
    # more, and only two frames are free -> the move fails at the first page and undoes itself.
    dst = 0x80_0000_0000 + 0x1F_C000
    assert s64(m.call(f"{PT}.move_range", pml4, src, src + 8 * PAGE, dst)) == -ENOMEM
    after, _ = walk(m, pml4)
    assert after == before
    # One free frame: the dest PDPT and PD stayed linked, so the first dest PT fits and the
    # second does not: four pages move, then the move fails and they are moved back.
    m.call(f"{FR}.free", leaf_pa(before[src + 7 * PAGE]))
    m.call(f"{PT}.unmap_page", pml4, src + 7 * PAGE)
    before, _ = walk(m, pml4)
    assert nfree(m) == 1
    assert s64(m.call(f"{PT}.move_range", pml4, src, src + 8 * PAGE, dst)) == -ENOMEM
    assert walk(m, pml4)[0] == before
    assert nfree(m) == 0
    # Enough frames (the failed destination's tables freed: 3): everything moves, entries as
    # they were.
    m.call(f"{PT}.unmap_range", pml4, 0x80_0000_0000, 0x100_0000_0000, 1)
    assert nfree(m) == 3
    dst = src + 0x40_0000                      # same PD, two new PTs
    assert m.call(f"{PT}.move_range", pml4, src, src + 8 * PAGE, dst) == 7
    moved, _ = walk(m, pml4)
    assert moved == {v - src + dst: e for v, e in before.items()}
    # overlapping or misaligned destinations are refused
    assert s64(m.call(f"{PT}.move_range", pml4, dst, dst + 8 * PAGE, dst + PAGE)) == -EINVAL
    assert s64(m.call(f"{PT}.move_range", pml4, dst, dst + 8 * PAGE, 0x10)) == -EINVAL
    # a leaf in the destination: -EEXIST, the pages moved before it are moved back
    assert m.call(f"{PT}.map_page", pml4, src + 3 * PAGE, WIN, P | U) == 0
    assert s64(m.call(f"{PT}.move_range", pml4, dst, dst + 8 * PAGE, src)) == -EEXIST
    after, _ = walk(m, pml4)
    assert after == {**moved, src + 3 * PAGE: WIN | P | U}


def test_copy_range_copies_bytes_and_flags_into_a_new_space(kmachine):
    """fork's eager copy: every owned leaf of the source gets a frame of its own in the
    destination, with the same bytes and flags (held pages stay held); the source is unchanged;
    a destination that runs out of frames fails with -ENOMEM."""
    m = setup(kmachine(PT), mem=64 * PAGE)
    src_space = new_space(m)
    base = 0x40_0000
    assert m.call(f"{PT}.populate_range", src_space, base, base + 4 * PAGE, P | W | U) == 4
    assert m.call(f"{PT}.protect", src_space, base + PAGE, P | U | NX) == 0      # read-only, NX
    assert m.call(f"{PT}.protect", src_space, base + 2 * PAGE, U) == 0           # held (PROT_NONE)
    src_leaves, _ = walk(m, src_space)
    for k in range(4):
        m.write(D + leaf_pa(src_leaves[base + k * PAGE]), bytes([k + 1]) * PAGE)
    dst_space = new_space(m)
    assert m.call(f"{PT}.copy_range", src_space, dst_space, base, base + 8 * PAGE) == 4
    assert walk(m, src_space)[0] == src_leaves
    dst_leaves, _ = walk(m, dst_space)
    assert set(dst_leaves) == set(src_leaves)
    for v, e in src_leaves.items():
        d = dst_leaves[v]
        assert leaf_pa(d) != leaf_pa(e)
        assert d & ~ADDR == e & ~ADDR                     # same flags (and held stays held)
        assert m.read(D + leaf_pa(d), PAGE) == m.read(D + leaf_pa(e), PAGE)
    # out of frames: -ENOMEM (the caller destroys the partial copy)
    while m.call(f"{FR}.alloc") != 0:
        pass
    m.call(f"{PT}.unmap_range", dst_space, base, base + 4 * PAGE, 0)
    assert s64(m.call(f"{PT}.copy_range", src_space, dst_space, base, base + 4 * PAGE)) == -ENOMEM


def test_destroy_space_frees_frames_only_when_asked(m):
    pml4 = new_space(m)
    base = nfree(m)
    m.call(f"{PT}.populate_range", pml4, 0x1000, 0x9000, P | U)
    m.call(f"{PT}.populate_range", pml4, 0x7FFF_FFFF_0000, 0x7FFF_FFFF_4000, P | U)
    leaves, tables = walk(m, pml4)
    frames = [leaf_pa(e) for e in leaves.values()]
    m.call(f"{PT}.destroy_space", pml4, 0)
    assert nfree(m) == base + 1 - len(frames)
    for f in frames:                                         # still allocated: free them now
        assert m.call(f"{FR}.free", f) & 0xFF == 1
    assert nfree(m) == base + 1


# ---- the real MMU walks the tables ------------------------------------------------------------

PROBE = '''
"""Test helper: runs accesses with a given PML4 in CR3."""
from __future__ import annotations

from qkernel.dialect import cast, fn, ptr, read_cr3, u64, volatile_load, volatile_store, write_cr3
from qkernel.mm import pagetable


def read_in(pml4: u64, addr: u64) -> u64:
    old = read_cr3()
    write_cr3(pml4)
    v = volatile_load(cast(ptr[u64], addr))
    write_cr3(old)
    return v


def write_in(pml4: u64, addr: u64, val: u64) -> None:
    old = read_cr3()
    write_cr3(pml4)
    volatile_store(cast(ptr[u64], addr), val)
    write_cr3(old)


def exec_in(pml4: u64, addr: u64) -> u64:
    old = read_cr3()
    write_cr3(pml4)
    f = cast(fn[[], u64], addr)
    v = f()
    write_cr3(old)
    return v


def unmap_then_read(pml4: u64, addr: u64) -> u64:
    old = read_cr3()
    write_cr3(pml4)
    v = volatile_load(cast(ptr[u64], addr))       # the translation is now in the TLB
    pagetable.unmap_page(pml4, addr)              # current space: must invlpg
    v += volatile_load(cast(ptr[u64], addr))      # must fault
    write_cr3(old)
    return v


def clear_then_read(pml4: u64, addr: u64, slot: u64) -> u64:
    old = read_cr3()
    write_cr3(pml4)
    v = volatile_load(cast(ptr[u64], addr))
    volatile_store(cast(ptr[u64], slot), 0)       # no flush: a stale TLB entry still reads
    v += volatile_load(cast(ptr[u64], addr))
    write_cr3(old)
    return v


def protect_then_write(pml4: u64, addr: u64) -> None:
    old = read_cr3()
    write_cr3(pml4)
    volatile_store(cast(ptr[u64], addr), 1)       # writable translation in the TLB
    pagetable.protect(pml4, addr, pagetable.PTE_P | pagetable.PTE_U)
    volatile_store(cast(ptr[u64], addr), 2)       # must fault
    write_cr3(old)
'''


@pytest.fixture
def hw(tmp_path, kernel_cache):
    """(machine, pml4): a space whose kernel half is the machine's own, so CR3 can hold it."""
    from toolchain.driver import build_files
    from toolchain.emucall import Machine
    src = tmp_path / "ptprobe.py"
    src.write_text(PROBE)
    m = setup(Machine(build_files([src], kernel_cache).elf))
    kp = m.call(f"{FR}.alloc")
    # The machine's own PML4 (emucall's private attributes: it is not in the direct map window).
    m.write(D + kp, bytes(2048) + bytes(m._uc.mem_read(m._pml4 + 2048, 2048)))
    return m, new_space(m, kp)


def test_hw_read_write_and_accessed_dirty(hw):
    m, pml4 = hw
    f = m.call(f"{FR}.alloc")
    v = 0x40_0000
    assert m.call(f"{PT}.map_page", pml4, v, f, P | W | U | NX) == 0
    m.write_u64(D + f + 8, 0xDEAD_BEEF)
    assert m.call("ptprobe.read_in", pml4, v + 8) == 0xDEAD_BEEF
    assert m.read_u64(walk_slot(m, pml4, v)) & (A | DIRTY) == A
    m.call("ptprobe.write_in", pml4, v + 16, 0x1234)
    assert m.read_u64(D + f + 16) == 0x1234
    assert m.read_u64(walk_slot(m, pml4, v)) & (A | DIRTY) == A | DIRTY
    with pytest.raises(EmuError):
        m.call("ptprobe.read_in", pml4, v + PAGE)            # nothing mapped there


def test_hw_read_only_and_nx_enforced(hw):
    m, pml4 = hw
    ro, code = m.call(f"{FR}.alloc"), m.call(f"{FR}.alloc")
    assert m.call(f"{PT}.map_page", pml4, 0x1000, ro, P | U | NX) == 0
    with pytest.raises(EmuError):
        m.call("ptprobe.write_in", pml4, 0x1000, 1)
    m.write(D + code, bytes.fromhex("b82a000000c3"))             # mov eax, 42; ret
    assert m.call(f"{PT}.map_page", pml4, 0x2000, code, P | U) == 0
    assert m.call("ptprobe.exec_in", pml4, 0x2000) & 0xFFFF_FFFF == 42
    assert m.call(f"{PT}.protect", pml4, 0x2000, P | U | NX) == 0
    with pytest.raises(EmuError):
        m.call("ptprobe.exec_in", pml4, 0x2000)
    assert m.call(f"{PT}.protect", pml4, 0x2000, 0) == 0         # held: not present
    with pytest.raises(EmuError):
        m.call("ptprobe.read_in", pml4, 0x2000)


def test_hw_tlb_flushed_in_the_current_space(hw):
    m, pml4 = hw
    f = m.call(f"{FR}.alloc")
    v = 0x7000_0000
    m.write_u64(D + f, 5)
    assert m.call(f"{PT}.map_page", pml4, v, f, P | W | U) == 0
    # The check is sensitive: without a flush the stale translation still reads.
    assert m.call("ptprobe.clear_then_read", pml4, v, walk_slot(m, pml4, v)) == 10
    assert m.call(f"{PT}.map_page", pml4, v, f, P | W | U) == 0
    with pytest.raises(EmuError):
        m.call("ptprobe.unmap_then_read", pml4, v)
    assert m.call(f"{PT}.translate", pml4, v) == NO_PA
    assert m.call(f"{PT}.map_page", pml4, v, f, P | W | U) == 0
    with pytest.raises(EmuError, match="write"):
        m.call("ptprobe.protect_then_write", pml4, v)
    assert m.read_u64(D + f) == 1


def test_emucall_map_region(kmachine):
    m = kmachine(PT)
    ro = D + 0x100_0000
    base = m.map_region(ro, 16 * PAGE, "r")                  # physical placement chosen by emucall
    assert base % PAGE == 0 and base != 0x100_0000
    m.call(f"{FR}.init", 0x100_0000 + 16 * PAGE, 0x100_0000)
    # frames never handed out are zero (guest RAM starts zeroed): only a recycled one is zeroed
    assert m.call(f"{FR}.free", m.call(f"{FR}.alloc")) & 0xFF == 1
    m.write(ro, b"\xff" * PAGE)                              # the host may write anywhere
    with pytest.raises(EmuError, match="write to read-only memory"):
        m.call(f"{PT}.new_table")                            # memset through the direct map
    rw = D + 0x200_0000
    m.map_region(rw, 4 * PAGE)
    m.call(f"{FR}.init", 0x200_0000 + 4 * PAGE, 0x200_0000)
    assert m.call(f"{FR}.free", m.call(f"{FR}.alloc")) & 0xFF == 1
    m.write(rw, b"\xff" * PAGE)
    assert m.call(f"{PT}.new_table") == 0x200_0000 and m.read(rw, PAGE) == bytes(PAGE)
    with pytest.raises(ValueError, match="overlaps"):
        m.map_region(rw + 3 * PAGE, 2 * PAGE)
    with pytest.raises(ValueError, match="aligned"):
        m.map_region(D + 0x300_0800, PAGE)
    with pytest.raises(ValueError, match="perms"):
        m.map_region(D + 0x300_0000, PAGE, "w")
    with pytest.raises(ValueError, match="in use"):
        m.map_region(D + 0x300_0000, PAGE, phys=base)
    with pytest.raises(ValueError, match="canonical"):
        m.map_region(0x0000_8000_0000_0000, PAGE)
