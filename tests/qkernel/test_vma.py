"""qkernel.mm.vma (mmap/munmap/mprotect/brk/mremap/madvise, faults) compiled and run under unicorn.

Like test_pagetable.py, the machine has a RAM window at DIRECT_MAP_BASE + WIN whose physical
addresses are real, the frame allocator hands out its frames, and the page tables are walked
from Python. The randomized test drives a sequence of operations against a Python model of the
address space (page -> prot, page -> contents) and checks after every step that the VMA list,
the page tables, the frame contents and the frame count all agree with the model.
"""

from __future__ import annotations

import random
import struct

import pytest

import qkernel.linux.mman as M
import qkernel.mm.vma as V
from qkernel.dialect import layout

from qkernel.abi import DIRECT_MAP_BASE as D  # noqa: E402
WIN = 0x8000_0000
WIN_SIZE = 32 << 20
PAGE = 4096
MOD = "qkernel.mm.vma"
MMAP = "qkernel.mm.mmap"      # the mmap family and space building (vma.py has the VMA set)
FAULT = "qkernel.mm.fault"    # handle_fault, populate
IN_FAULT = {"handle_fault", "populate", "expand_down"}
IN_MMAP = {"init_space", "set_brk_start", "map_segment", "map_stack", "mmap_anon", "munmap",
           "mprotect", "brk", "move_vma", "mremap", "mremap_to", "advice_valid", "madvise"}


def fn_module(fn: str) -> str:
    return FAULT if fn in IN_FAULT else MMAP if fn in IN_MMAP else MOD
FR = "qkernel.mm.frames"
PT = "qkernel.mm.pagetable"
P, W, U, PROTNONE = 1, 2, 4, 0x200
NX = 1 << 63
ADDR = 0x000F_FFFF_FFFF_F000
M64 = (1 << 64) - 1
EPERM, ENOMEM, EFAULT, EEXIST, EINVAL, EOPNOTSUPP = 1, 12, 14, 17, 22, 95
R, RW, RX, NONE = M.PROT_READ, M.PROT_READ | M.PROT_WRITE, M.PROT_READ | M.PROT_EXEC, 0
PRIV_ANON = M.MAP_PRIVATE | M.MAP_ANONYMOUS
FIXED = PRIV_ANON | M.MAP_FIXED
ANON = V.VM_ANON | V.VM_PRIVATE
AS = layout(V.AddressSpace)
VMA = layout(V.Vma)
MMAP_BASE = 0x7000_0000_0000
BRK_START = 0x60_0000


def s64(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def pte_flags(prot: int) -> int:
    if prot & 7 == 0:
        return 0
    return P | U | (W if prot & M.PROT_WRITE else 0) | (0 if prot & M.PROT_EXEC else NX)


class Env:
    """A machine with qkernel.mm.vma, a RAM window, and one AddressSpace in its heap."""

    def __init__(self, m, mmap_base: int = MMAP_BASE, brk_start: int = BRK_START, mem: int = WIN_SIZE):
        self.m = m
        m.map_region(D + WIN, WIN_SIZE, "rw", phys=WIN)
        m.call(f"{FR}.init", WIN + mem, WIN)
        kp = m.call(f"{FR}.alloc")
        m.write(D + kp, bytes(PAGE))
        m.call(f"{PT}.init", kp, 1)
        self.pml4 = m.call(f"{PT}.new_space")
        self.mm = m.alloc(AS.size, 8)
        m.call(f"{MOD}.init", self.mm, self.pml4, mmap_base, brk_start)
        self.free0 = self.nfree()

    # ---- calls (results as signed where the kernel returns -errno)
    def __call__(self, fn: str, *args: int) -> int:
        return s64(self.m.call(f"{fn_module(fn)}.{fn}", self.mm, *args))

    def mmap(self, addr: int, length: int, prot: int, flags: int = PRIV_ANON) -> int:
        return self("mmap_anon", addr, length, prot, flags)

    def nfree(self) -> int:
        return self.m.read_u64(self.m.symbol(f"{FR}.nfree"))

    def field(self, name: str) -> int:
        return self.m.read_u64(self.mm + AS.fields[name][0])

    def vmas(self) -> list[tuple[int, int, int, int]]:
        n = self.field("count")
        raw = self.m.read(self.mm + AS.fields["vmas"][0], n * VMA.size)
        return [struct.unpack_from("<QQII", raw, i * VMA.size) for i in range(n)]

    def spans(self) -> list[tuple[int, int, int]]:
        return [(s, e, p) for s, e, p, _ in self.vmas()]

    def leaves(self) -> tuple[dict[int, int], set[int]]:
        leaves: dict[int, int] = {}
        tables: set[int] = set()

        def down(t: int, level: int, base: int) -> None:
            ents = struct.unpack("<512Q", self.m.read(D + t, PAGE))
            for i, e in enumerate(ents[:256] if level == 4 else ents):
                va = base + (i << (12 + 9 * (level - 1)))
                if level == 1:
                    if e:
                        leaves[va] = e
                elif e:
                    assert e & ~ADDR == P | W | U
                    tables.add(e & ADDR)
                    down(e & ADDR, level - 1, va)
        down(self.pml4, 4, 0)
        return leaves, tables

    @staticmethod
    def frame(e: int) -> int:
        return e & ADDR if e & P else ~e & ADDR

    def frame_of(self, va: int) -> int:
        return self.frame(self.leaves()[0][va & ~(PAGE - 1)])

    def poke(self, va: int, value: int) -> None:
        """Writes a u64 into the (mapped) user page at va through the direct map."""
        self.m.write_u64(D + self.frame_of(va) + (va & (PAGE - 1)), value)

    def peek(self, va: int) -> int:
        return self.m.read_u64(D + self.frame_of(va) + (va & (PAGE - 1)))

    def check_frames(self) -> None:
        """No frame leaked or double-owned: the tables and the leaves' frames are what left."""
        leaves, tables = self.leaves()
        owned = [self.frame(e) for e in leaves.values()]
        assert len(set(owned)) == len(owned)
        assert self.free0 - self.nfree() == len(owned) + len(tables)


@pytest.fixture
def env(kmachine):
    return Env(kmachine(MMAP))


def test_mmap_top_down_placement_hints_and_merging(env):
    a = env.mmap(0, 3 * PAGE, RW)
    assert a == MMAP_BASE - 3 * PAGE
    b = env.mmap(0, 1, RW)                                  # rounded up to a page
    assert b == a - PAGE
    assert env.vmas() == [(b, MMAP_BASE, RW, ANON)]         # merged with its neighbour
    c = env.mmap(0, PAGE, R)
    assert c == b - PAGE and len(env.vmas()) == 2           # other prot: its own VMA
    assert env.mmap(0x1000_0123, 2 * PAGE, RW) == 0x1000_0000        # free hint, rounded down
    assert env.mmap(0x1000_0000, PAGE, RW) == c - PAGE               # taken hint: top-down
    assert env.mmap(0x1000, PAGE, RW) == V.MMAP_MIN_ADDR             # low hint raised
    assert env.mmap(0x100, PAGE, RW) == c - 2 * PAGE                 # rounds down to no hint
    assert env.mmap(0, PAGE, RW, M.MAP_SHARED | M.MAP_ANONYMOUS) == c - 3 * PAGE
    assert env.vmas()[-4:] == [(c - 3 * PAGE, c - 2 * PAGE, RW, V.VM_ANON | V.VM_SHARED),  # no merge
                               (c - 2 * PAGE, c, RW, ANON), (c, b, R, ANON), (b, MMAP_BASE, RW, ANON)]
    g = env.mmap(0, PAGE, RW, PRIV_ANON | M.MAP_32BIT)
    assert g == 0x4000_0000
    assert env.mmap(0, PAGE, RW, PRIV_ANON | M.MAP_GROWSDOWN | M.MAP_STACK) == c - 4 * PAGE
    assert env.vmas()[-5][3] == ANON | V.VM_GROWSDOWN | V.VM_STACK
    # The guard gap below a grows-down VMA is kept free by placement.
    assert env.mmap(0, PAGE, R) == c - 4 * PAGE - V.STACK_GUARD_GAP - PAGE
    assert env.leaves()[0] == {}                            # nothing populated


def test_mmap_errors(env):
    assert env.mmap(0, 0, RW) == -EINVAL
    assert env.mmap(0, PAGE, RW, M.MAP_ANONYMOUS) == -EINVAL                  # no map type
    assert env.mmap(0, PAGE, RW, 0x0F | M.MAP_ANONYMOUS) == -EINVAL
    assert env.mmap(0, PAGE, RW, M.MAP_SHARED | M.MAP_ANONYMOUS | M.MAP_GROWSDOWN) == -EINVAL
    assert env.mmap(0, PAGE, RW, M.MAP_SHARED_VALIDATE | M.MAP_ANONYMOUS | 0x80_0000) == -EOPNOTSUPP
    assert env.mmap(0, PAGE, RW, M.MAP_SHARED_VALIDATE | M.MAP_ANONYMOUS | M.MAP_SYNC) == -EOPNOTSUPP
    assert env.mmap(0, PAGE, RW, PRIV_ANON | M.MAP_HUGETLB) == -ENOMEM
    assert env.mmap(0, M64 - 100, RW) == -ENOMEM                              # rounds past 2**64
    assert env.mmap(0, 1 << 47, RW) == -ENOMEM
    assert env.mmap(0x10_0001, PAGE, RW, FIXED) == -EINVAL
    assert env.mmap(0x1000, PAGE, RW, FIXED) == -EPERM                         # below mmap_min_addr
    assert env.mmap(V.TASK_SIZE - PAGE, 2 * PAGE, RW, FIXED) == -ENOMEM
    assert env.mmap(V.TASK_SIZE - PAGE, PAGE, RW, FIXED) == V.TASK_SIZE - PAGE
    assert env.mmap(0x10_0000, 2 * PAGE, RW, PRIV_ANON | M.MAP_FIXED_NOREPLACE) == 0x10_0000
    assert env.mmap(0x10_1000, 2 * PAGE, RW, PRIV_ANON | M.MAP_FIXED_NOREPLACE) == -EEXIST
    assert env.spans() == [(0x10_0000, 0x10_2000, RW), (V.TASK_SIZE - PAGE, V.TASK_SIZE, RW)]


def test_map_fixed_replaces_and_frees(env):
    a = env.mmap(0x20_0000, 8 * PAGE, RW, FIXED)
    assert env("populate", a, a + 8 * PAGE) == 0
    for i in range(8):
        env.poke(a + i * PAGE, 100 + i)
    env.check_frames()
    assert env.mmap(a + 2 * PAGE, 3 * PAGE, R, FIXED) == a + 2 * PAGE
    assert env.spans() == [(a, a + 2 * PAGE, RW), (a + 2 * PAGE, a + 5 * PAGE, R), (a + 5 * PAGE, a + 8 * PAGE, RW)]
    leaves, _ = env.leaves()
    assert sorted(leaves) == [a + i * PAGE for i in (0, 1, 5, 6, 7)]
    assert [env.peek(a + i * PAGE) for i in (0, 1, 5, 6, 7)] == [100, 101, 105, 106, 107]
    env.check_frames()
    # replacing with the same prot merges everything back into one VMA
    assert env.mmap(a + 2 * PAGE, 3 * PAGE, RW, FIXED) == a + 2 * PAGE
    assert env.spans() == [(a, a + 8 * PAGE, RW)]
    # fixed over several VMAs and holes
    env.mmap(a + 10 * PAGE, PAGE, R, FIXED)
    assert env.mmap(a + 4 * PAGE, 8 * PAGE, RX, FIXED) == a + 4 * PAGE
    assert env.spans() == [(a, a + 4 * PAGE, RW), (a + 4 * PAGE, a + 12 * PAGE, RX)]
    env.check_frames()


def test_munmap_splits_and_frees(env):
    a = env.mmap(0x30_0000, 10 * PAGE, RW, FIXED)
    env("populate", a, a + 10 * PAGE)
    before = env.nfree()
    assert env("munmap", a + 3 * PAGE, 2 * PAGE) == 0
    assert env.spans() == [(a, a + 3 * PAGE, RW), (a + 5 * PAGE, a + 10 * PAGE, RW)]
    assert env.nfree() == before + 2
    assert sorted(env.leaves()[0]) == [a + i * PAGE for i in (0, 1, 2, 5, 6, 7, 8, 9)]
    assert env("munmap", a + 4 * PAGE, 1) == 0                   # a hole: fine, nothing to do
    assert env("munmap", a + 1, PAGE) == -EINVAL
    assert env("munmap", a, 0) == -EINVAL
    assert env("munmap", V.TASK_SIZE, PAGE) == -EINVAL
    assert env("munmap", a, 1 << 48) == -EINVAL
    assert env("munmap", a + 2 * PAGE, 4 * PAGE) == 0            # across a hole, trims both
    assert env.spans() == [(a, a + 2 * PAGE, RW), (a + 6 * PAGE, a + 10 * PAGE, RW)]
    assert env("munmap", 0, V.TASK_SIZE) == 0
    assert env.vmas() == [] and env.leaves() == ({}, set())
    env.check_frames()
    assert env.nfree() == env.free0


def test_mprotect_splits_merges_and_updates_ptes(env):
    a = env.mmap(0x40_0000, 8 * PAGE, RW, FIXED)
    env("populate", a, a + 8 * PAGE)
    env.poke(a + 3 * PAGE, 0x77)
    assert env("mprotect", a + 2 * PAGE, 3 * PAGE, R) == 0
    assert env.spans() == [(a, a + 2 * PAGE, RW), (a + 2 * PAGE, a + 5 * PAGE, R), (a + 5 * PAGE, a + 8 * PAGE, RW)]
    leaves, _ = env.leaves()
    assert {v: e & ~ADDR for v, e in leaves.items()} == {
        a + i * PAGE: pte_flags(R if 2 <= i < 5 else RW) for i in range(8)}
    assert env("mprotect", a + 3 * PAGE, PAGE, NONE) == 0        # held: not present, kept
    e = env.leaves()[0][a + 3 * PAGE]
    assert e & P == 0 and e & PROTNONE
    assert env("handle_fault", a + 3 * PAGE, 0, 0) == -EFAULT
    assert env("mprotect", a, 8 * PAGE, RW) == 0                 # all back: one VMA again
    assert env.spans() == [(a, a + 8 * PAGE, RW)]
    assert env.peek(a + 3 * PAGE) == 0x77                          # contents survived PROT_NONE
    assert env("mprotect", a, 0, R) == 0
    assert env("mprotect", a + 1, PAGE, R) == -EINVAL
    assert env("mprotect", a, PAGE, 0x10) == -EINVAL
    assert env("mprotect", a, PAGE, R | M.PROT_GROWSDOWN) == -EINVAL   # not a grows-down VMA
    assert env("mprotect", a, PAGE, R | M.PROT_GROWSUP) == -EINVAL
    assert env("mprotect", a, 9 * PAGE, R) == -ENOMEM                  # runs into a hole
    assert env("mprotect", a - PAGE, 2 * PAGE, R) == -ENOMEM
    assert env("mprotect", a, M64 - PAGE, R) == -ENOMEM                # wraps
    assert env.spans() == [(a, a + 8 * PAGE, RW)]                      # no partial change
    assert env("mprotect", a + 4 * PAGE, PAGE, R | M.PROT_SEM) == 0    # PROT_SEM ignored
    assert env.spans()[1] == (a + 4 * PAGE, a + 5 * PAGE, R)
    s = env.mmap(0x80_0000, 4 * PAGE, RW, FIXED | M.MAP_GROWSDOWN)
    assert env("mprotect", s + 2 * PAGE, PAGE, RX | M.PROT_GROWSDOWN) == 0   # from the VMA's start
    assert env.spans()[-2] == (s, s + 3 * PAGE, RX)
    env.check_frames()


def test_brk_grow_shrink_and_failures(env):
    assert env("brk", 0) == BRK_START
    assert env("brk", BRK_START + 0x1234) == BRK_START + 0x1234
    assert env.vmas() == [(BRK_START, BRK_START + 0x2000, RW, ANON | V.VM_HEAP)]
    assert env("brk", BRK_START + 0x1FFF) == BRK_START + 0x1FFF       # same page: no change
    assert env("brk", BRK_START + 0x5000) == BRK_START + 0x5000
    assert env.vmas() == [(BRK_START, BRK_START + 0x5000, RW, ANON | V.VM_HEAP)]
    env("populate", BRK_START, BRK_START + 0x5000)
    before = env.nfree()
    assert env("brk", BRK_START + 0x1001) == BRK_START + 0x1001       # shrink frees
    assert env.spans() == [(BRK_START, BRK_START + 0x2000, RW)]
    assert env.nfree() == before + 3
    assert env("brk", BRK_START - 1) == BRK_START + 0x1001            # below the start: current
    assert env("brk", M64 - 5) == BRK_START + 0x1001
    # another mapping above: the heap may come no closer than one page
    env.mmap(BRK_START + 0x10_0000, PAGE, R, FIXED)
    assert env("brk", BRK_START + 0x10_0000) == BRK_START + 0x1001
    assert env("brk", BRK_START + 0xF_F001) == BRK_START + 0x1001
    assert env("brk", BRK_START + 0xF_F000) == BRK_START + 0xF_F000
    assert env.spans() == [(BRK_START, BRK_START + 0xF_F000, RW), (BRK_START + 0x10_0000, BRK_START + 0x10_1000, R)]
    assert env("brk", BRK_START) == BRK_START
    assert env.spans() == [(BRK_START + 0x10_0000, BRK_START + 0x10_1000, R)]
    # nothing mapped where the heap would shrink: Linux refuses
    assert env("brk", BRK_START + 0x3000) == BRK_START + 0x3000
    env("munmap", BRK_START, 0x3000)
    assert env("brk", BRK_START + 0x1000) == BRK_START + 0x3000
    env.check_frames()


def test_mremap_shrink_grow_move(env):
    a = env.mmap(0x100_0000, 4 * PAGE, RW, FIXED)
    env("populate", a, a + 4 * PAGE)
    for i in range(4):
        env.poke(a + i * PAGE, 0x500 + i)
    assert env("mremap", a, 4 * PAGE, 3 * PAGE, 0, 0) == a                  # shrink in place
    assert env.spans() == [(a, a + 3 * PAGE, RW)]
    assert env("mremap", a, 3 * PAGE, 6 * PAGE, 0, 0) == a                  # grow in place
    assert env.spans() == [(a, a + 6 * PAGE, RW)]
    env.mmap(a + 7 * PAGE, PAGE, RW, FIXED)
    assert env("mremap", a, 6 * PAGE, 7 * PAGE, 0, 0) == a                  # grows into, merges
    assert env.spans() == [(a, a + 8 * PAGE, RW)]
    env.mmap(a + 9 * PAGE, PAGE, R, FIXED)
    assert env("mremap", a, 8 * PAGE, 10 * PAGE, 0, 0) == -ENOMEM           # blocked, no MAYMOVE
    b = env("mremap", a, 8 * PAGE, 10 * PAGE, M.MREMAP_MAYMOVE, 0)
    assert b == MMAP_BASE - 10 * PAGE
    assert env.spans() == [(a + 9 * PAGE, a + 10 * PAGE, R), (b, b + 10 * PAGE, RW)]
    assert [env.peek(b + i * PAGE) for i in range(3)] == [0x500, 0x501, 0x502]
    assert sorted(env.leaves()[0]) == [b + i * PAGE for i in range(3)]
    env.check_frames()
    # MREMAP_FIXED: onto a given address, replacing what was there
    c = 0x200_0000
    env.mmap(c, 2 * PAGE, R, FIXED)
    env("populate", c, c + 2 * PAGE)
    assert env("mremap", b, 2 * PAGE, 4 * PAGE, M.MREMAP_MAYMOVE | M.MREMAP_FIXED, c) == c
    assert env.spans()[1:] == [(c, c + 4 * PAGE, RW), (b + 2 * PAGE, b + 10 * PAGE, RW)]
    assert [env.peek(c + i * PAGE) for i in range(2)] == [0x500, 0x501]
    assert sorted(v for v in env.leaves()[0] if c <= v < c + 4 * PAGE) == [c, c + PAGE]
    # MREMAP_DONTUNMAP: the old range stays mapped, empty
    d = env("mremap", c, 2 * PAGE, 2 * PAGE, M.MREMAP_MAYMOVE | M.MREMAP_DONTUNMAP, 0)
    assert d not in (c, -ENOMEM) and env.peek(d + PAGE) == 0x501
    assert env.spans()[1] == (c, c + 4 * PAGE, RW)
    assert not any(c <= v < c + 4 * PAGE for v in env.leaves()[0])
    env.check_frames()
    # errors
    assert env("mremap", c, PAGE, PAGE, 8, 0) == -EINVAL
    assert env("mremap", c, PAGE, 2 * PAGE, M.MREMAP_FIXED, 0x300_0000) == -EINVAL
    assert env("mremap", c, PAGE, 2 * PAGE, M.MREMAP_MAYMOVE | M.MREMAP_DONTUNMAP, 0) == -EINVAL
    assert env("mremap", c + 1, PAGE, PAGE, 0, 0) == -EINVAL
    assert env("mremap", c, PAGE, 0, 0, 0) == -EINVAL
    assert env("mremap", 0x300_0000, PAGE, 2 * PAGE, M.MREMAP_MAYMOVE, 0) == -EFAULT
    assert env("mremap", c, 8 * PAGE, 9 * PAGE, M.MREMAP_MAYMOVE, 0) == -EFAULT   # beyond the VMA
    assert env("mremap", c, 0, PAGE, M.MREMAP_MAYMOVE, 0) == -EINVAL
    assert env("mremap", c, 2 * PAGE, 2 * PAGE, M.MREMAP_MAYMOVE | M.MREMAP_FIXED, c + PAGE) == -EINVAL
    env.check_frames()


def test_madvise_dontneed_reads_back_zero(env):
    a = env.mmap(0x50_0000, 4 * PAGE, RW, FIXED)
    env("populate", a, a + 4 * PAGE)
    for i in range(4):
        env.poke(a + i * PAGE + 8, 0xAB00 + i)
    before = env.nfree()
    assert env("madvise", a + PAGE, 2 * PAGE, M.MADV_DONTNEED) == 0
    assert env.nfree() == before + 2
    assert sorted(env.leaves()[0]) == [a, a + 3 * PAGE]
    assert env.spans() == [(a, a + 4 * PAGE, RW)]                # the VMA stays
    assert env("handle_fault", a + PAGE + 8, 0, 0) == 0
    assert env.peek(a + PAGE + 8) == 0 and env.peek(a + 8) == 0xAB00
    # a hole: applied to the mapped part, then -ENOMEM
    assert env("madvise", a + 3 * PAGE, 2 * PAGE, M.MADV_FREE) == -ENOMEM
    assert sorted(env.leaves()[0]) == [a, a + PAGE]
    assert env("madvise", a, PAGE, 5) == -EINVAL
    assert env("madvise", a + 1, PAGE, M.MADV_DONTNEED) == -EINVAL
    assert env("madvise", a, 0, M.MADV_DONTNEED) == 0
    assert env("madvise", a, PAGE, M.MADV_HWPOISON) == -EPERM
    assert env("madvise", a, PAGE, M.MADV_REMOVE) == -EINVAL
    assert env("madvise", a, 4 * PAGE, M.MADV_HUGEPAGE) == 0
    assert env("madvise", a, 4 * PAGE, M.MADV_POPULATE_WRITE) == 0
    assert sorted(env.leaves()[0]) == [a + i * PAGE for i in range(4)]
    env("mprotect", a, PAGE, R)
    assert env("madvise", a, 4 * PAGE, M.MADV_POPULATE_WRITE) == -EINVAL
    # shared anonymous memory keeps its contents under DONTNEED (as shmem would)
    s = env.mmap(0x60_0000 + 0x100_0000, PAGE, RW, M.MAP_SHARED | M.MAP_ANONYMOUS | M.MAP_POPULATE)
    env.poke(s, 9)
    assert env("madvise", s, PAGE, M.MADV_DONTNEED) == 0 and env.peek(s) == 9
    assert env("madvise", s, PAGE, M.MADV_FREE) == -EINVAL
    env.check_frames()


def test_handle_fault_allows_and_denies_by_prot(env):
    rw = env.mmap(0x70_0000, 2 * PAGE, RW, FIXED)
    ro = env.mmap(0x80_0000, PAGE, R, FIXED)
    rx = env.mmap(0x90_0000, PAGE, RX, FIXED)
    no = env.mmap(0xA0_0000, PAGE, NONE, FIXED)
    assert env("handle_fault", rw + 5, 0, 0) == 0
    assert env.leaves()[0][rw] & ~ADDR == pte_flags(RW)
    assert env("handle_fault", rw + PAGE, 1, 0) == 0
    assert env("handle_fault", rw, 1, 0) == 0                    # already mapped: spurious
    assert env("handle_fault", rw, 0, 1) == -EFAULT              # not executable
    assert env("handle_fault", ro, 1, 0) == -EFAULT
    assert env("handle_fault", ro, 0, 0) == 0
    assert env.leaves()[0][ro] & ~ADDR == pte_flags(R)
    assert env("handle_fault", rx, 0, 1) == 0
    assert env.leaves()[0][rx] & ~ADDR == pte_flags(RX)
    assert env("handle_fault", no, 0, 0) == -EFAULT
    assert env("handle_fault", 0xB0_0000, 0, 0) == -EFAULT      # no VMA
    assert env("handle_fault", 0xFFFF_8000_0000_0000, 0, 0) == -EFAULT
    assert env("handle_fault", V.TASK_SIZE, 0, 0) == -EFAULT
    assert env("populate", 0x70_0000, 0xB0_0000) == -ENOMEM      # holes
    env.check_frames()


def test_grows_down_stack_faults(env):
    top = 0x7FFF_0000_0000
    s = env.mmap(top - 4 * PAGE, 4 * PAGE, RW, FIXED | M.MAP_GROWSDOWN | M.MAP_STACK)
    assert env("handle_fault", s - 3 * PAGE + 16, 1, 0) == 0
    assert env.spans() == [(s - 3 * PAGE, top, RW)]
    assert env("handle_fault", top - (8 << 20) - 8, 1, 0) == -EFAULT      # beyond RLIMIT_STACK
    # a mapping below: the stack keeps STACK_GUARD_GAP away from it
    low = env.mmap(s - 3 * PAGE - V.STACK_GUARD_GAP - 2 * PAGE, PAGE, R, FIXED)
    assert env("handle_fault", low + PAGE + V.STACK_GUARD_GAP - 8, 1, 0) == -EFAULT
    assert env("handle_fault", low + PAGE + V.STACK_GUARD_GAP, 1, 0) == 0
    assert env.spans()[-1] == (low + PAGE + V.STACK_GUARD_GAP, top, RW)
    # no guard gap between two grows-down VMAs; growing into the lower one merges them
    x = 0x5000_0000
    env.mmap(x, PAGE, RW, FIXED | M.MAP_GROWSDOWN)
    env.mmap(x + 2 * PAGE, PAGE, RW, FIXED | M.MAP_GROWSDOWN)
    assert env("handle_fault", x + PAGE, 1, 0) == 0
    assert env.vmas()[0] == (x, x + 3 * PAGE, RW, ANON | V.VM_GROWSDOWN)
    env.check_frames()


def test_populate_eager_and_out_of_frames(kmachine):
    env = Env(kmachine(MMAP), mem=64 * PAGE)
    a = env.mmap(0x40_0000, 16 * PAGE, RW, FIXED)
    env.mmap(a + 16 * PAGE, 4 * PAGE, NONE, FIXED)
    assert env("populate", a + 5, a + 20 * PAGE) == 0            # rounded out; PROT_NONE skipped
    leaves, _ = env.leaves()
    assert sorted(leaves) == [a + i * PAGE for i in range(16)]
    assert all(env.peek(v) == 0 for v in leaves)
    b = env.mmap(0x100_0000, 64 * PAGE, RW, FIXED)
    assert env("populate", b, b + 64 * PAGE) == -ENOMEM
    assert env.nfree() == 0
    env.check_frames()
    assert env("handle_fault", b + 63 * PAGE, 1, 0) == -ENOMEM
    env("munmap", b, 64 * PAGE)
    assert env("handle_fault", a + 16 * PAGE - 1, 1, 0) == 0     # already there
    env.check_frames()
    env.m.call(f"{MOD}.destroy", env.mm)
    assert env.nfree() == env.free0 + 1                            # + the PML4


def test_vma_limit(env):
    n = V.MAX_VMAS
    base = 0x1000_0000
    for i in range(n):                          # alternating prots: nothing merges
        assert env.mmap(base + 2 * i * PAGE, PAGE, R if i % 2 else RW, FIXED) == base + 2 * i * PAGE
    assert len(env.vmas()) == n
    assert env.mmap(0, PAGE, RW) == -ENOMEM
    assert env.mmap(base - 2 * PAGE, PAGE, R, FIXED) == -ENOMEM
    # No new slot needed when the mapping merges with a neighbour (after the carve).
    assert env.mmap(base + PAGE, PAGE, RW, FIXED) == base + PAGE            # joins the left one
    assert env.mmap(base + PAGE, PAGE, R, FIXED) == base + PAGE             # trims it, joins the right
    assert env.spans()[:2] == [(base, base + PAGE, RW), (base + PAGE, base + 3 * PAGE, R)]
    assert len(env.vmas()) == n
    assert env.mmap(0, PAGE, RW) == -ENOMEM
    assert env("munmap", base, PAGE) == 0
    big = env.mmap(0x2000_0000, 3 * PAGE, RW, FIXED)
    assert len(env.vmas()) == n
    assert env("munmap", big + PAGE, PAGE) == -ENOMEM                        # split needs a slot
    assert env("mprotect", big + PAGE, PAGE, R) == -ENOMEM
    assert env.spans()[-1] == (big, big + 3 * PAGE, RW)
    assert env("munmap", big, PAGE) == 0                                      # trims: fine
    assert env("mprotect", big + PAGE, 2 * PAGE, R) == 0                      # no split: fine
    assert env("brk", BRK_START + PAGE) == BRK_START                         # no slot for the heap
    env.check_frames()


# ---- randomized sequences against a model ------------------------------------------------------

REGION = 0x1000_0000
NPAGES = 40
LO = REGION - 8 * PAGE
HI = REGION + NPAGES * PAGE
PROTS = (NONE, R, RW, RX, RW | M.PROT_EXEC)


class Model:
    """The address space as pages: prot of every mapped page, contents of every populated one."""

    def __init__(self):
        self.prot: dict[int, int] = {}
        self.data: dict[int, int] = {}

    def drop(self, a: int, n: int) -> None:
        for p in range(a, a + n * PAGE, PAGE):
            self.prot.pop(p, None)
            self.data.pop(p, None)

    def mapped(self, a: int, n: int) -> bool:
        return all(p in self.prot for p in range(a, a + n * PAGE, PAGE))

    def runs(self) -> list[tuple[int, int, int]]:
        """Maximal runs of same-prot pages: the VMA list the kernel must have."""
        out: list[list[int]] = []
        for p in sorted(self.prot):
            if out and out[-1][1] == p and out[-1][2] == self.prot[p]:
                out[-1][1] = p + PAGE
            else:
                out.append([p, p + PAGE, self.prot[p]])
        return [tuple(r) for r in out]

    def place(self, length: int) -> int:
        ivs = []
        for s, e, _ in self.runs():
            if ivs and ivs[-1][1] == s:
                ivs[-1][1] = e
            else:
                ivs.append([s, e])
        gaps, prev = [], 0
        for s, e in ivs:
            gaps.append((prev, s))
            prev = e
        gaps.append((prev, V.TASK_SIZE))
        for b, t in reversed(gaps):
            b, t = max(b, V.MMAP_MIN_ADDR), min(t, HI)
            if t > b and t - b >= length:
                return t - length
        raise AssertionError("model: no room")


def check(env: Env, model: Model) -> None:
    vmas = env.vmas()
    assert all(f == ANON for *_, f in vmas)
    assert env.spans() == model.runs()
    leaves, _ = env.leaves()
    assert set(leaves) == set(model.data)
    for v, e in leaves.items():
        assert e & ~ADDR == (pte_flags(model.prot[v]) or PROTNONE), hex(v)
        assert env.peek(v) == model.data[v], hex(v)
    env.check_frames()


def step(env: Env, model: Model, rnd: random.Random, counter: list[int]) -> None:
    op = rnd.choice(["mmap_fixed", "mmap_fixed", "mmap", "munmap", "mprotect", "mprotect", "populate",
                     "touch", "fault", "madvise", "mremap"])
    a = rnd.randrange(LO, HI, PAGE)
    if model.prot and rnd.random() < 0.5:       # often start on a mapped page
        a = rnd.choice(sorted(model.prot))
    n = rnd.randint(1, 8)
    prot = rnd.choice(PROTS)
    if op == "mmap_fixed":
        assert env.mmap(a, n * PAGE, prot, FIXED) == a
        model.drop(a, n)
        model.prot.update({p: prot for p in range(a, a + n * PAGE, PAGE)})
    elif op == "mmap":
        want = model.place(n * PAGE)
        assert env.mmap(0, n * PAGE, prot) == want
        model.prot.update({p: prot for p in range(want, want + n * PAGE, PAGE)})
    elif op == "munmap":
        assert env("munmap", a, n * PAGE) == 0
        model.drop(a, n)
    elif op == "mprotect":
        r = env("mprotect", a, n * PAGE, prot)
        if model.mapped(a, n):
            assert r == 0
            model.prot.update({p: prot for p in range(a, a + n * PAGE, PAGE)})
        else:
            assert r == -ENOMEM
    elif op == "populate":
        r = env("populate", a, a + n * PAGE)
        if model.mapped(a, n):
            assert r == 0
            for p in range(a, a + n * PAGE, PAGE):
                if model.prot[p] != NONE:
                    model.data.setdefault(p, 0)
        else:
            assert r == -ENOMEM
    elif op == "touch":
        if model.data:
            p = rnd.choice(sorted(model.data))
            counter[0] += 1
            env.poke(p, counter[0])
            model.data[p] = counter[0]
    elif op == "fault":
        write, exe = rnd.random() < 0.5, rnd.random() < 0.2
        r = env("handle_fault", a + rnd.randrange(PAGE), int(write), int(exe))
        pr = model.prot.get(a)
        ok = pr is not None and pr != NONE and (not write or pr & M.PROT_WRITE) and (not exe or pr & M.PROT_EXEC)
        assert r == (0 if ok else -EFAULT)
        if ok:
            model.data.setdefault(a, 0)
    elif op == "madvise":
        r = env("madvise", a, n * PAGE, M.MADV_DONTNEED)
        assert r == (0 if model.mapped(a, n) else -ENOMEM)
        for p in range(a, a + n * PAGE, PAGE):
            model.data.pop(p, None)
    elif op == "mremap":
        mapped = [p for p in sorted(model.prot) if LO <= p < HI]
        if not mapped:
            return
        a = rnd.choice(mapped)
        run = next(r for r in model.runs() if r[0] <= a < r[1])
        old_n = rnd.randint(1, (run[1] - a) // PAGE)
        new_n = rnd.randint(1, 8)
        r = env("mremap", a, old_n * PAGE, new_n * PAGE, M.MREMAP_MAYMOVE, 0)
        if new_n <= old_n:
            assert r == a
            model.drop(a + new_n * PAGE, old_n - new_n)
            return
        grow_in_place = a + old_n * PAGE == run[1] and all(
            p not in model.prot for p in range(run[1], a + new_n * PAGE, PAGE))
        dst = a if grow_in_place else model.place(new_n * PAGE)
        assert r == dst
        moved = {p - a + dst: model.data[p] for p in range(a, a + old_n * PAGE, PAGE) if p in model.data}
        if not grow_in_place:
            model.drop(a, old_n)
        model.prot.update({p: run[2] for p in range(dst, dst + new_n * PAGE, PAGE)})
        model.data.update(moved)
    check(env, model)


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_match_the_model(kmachine, seed):
    env = Env(kmachine(MMAP), mmap_base=HI)
    model = Model()
    rnd = random.Random(seed)
    counter = [0]
    for _ in range(200):
        step(env, model, rnd, counter)
    env("munmap", 0, V.TASK_SIZE)
    assert env.vmas() == [] and env.nfree() == env.free0 - len(env.leaves()[1])


def test_loader_helpers(env):
    mm2 = env.m.alloc(AS.size, 8)
    assert s64(env.m.call(f"{MMAP}.init_space", mm2)) == 0
    pml4 = env.m.read_u64(mm2 + AS.fields["pml4"][0])
    assert pml4 and env.m.read_u64(mm2 + AS.fields["mmap_base"][0]) == V.DEFAULT_MMAP_BASE
    env.m.call(f"{MOD}.destroy", mm2)
    # the rest runs on env's space (its tables are the ones env walks)
    seg = 0x40_0000
    assert env("map_segment", seg, 2 * PAGE + 5, RX) == 0
    assert env.spans() == [(seg, seg + 3 * PAGE, RX)]
    assert sorted(env.leaves()[0]) == [seg, seg + PAGE, seg + 2 * PAGE]
    assert env("map_segment", seg + 0x1001, PAGE, RW) == -EINVAL
    env.m.call(f"{MMAP}.set_brk_start", env.mm, seg + 3 * PAGE + 0x10)
    assert env("brk", 0) == seg + 4 * PAGE
    top = 0x7FFF_FFFF_F000
    assert env("map_stack", top - (8 << 20), 8 << 20, 3 * PAGE - 1) == 0
    assert env.vmas()[-1] == (top - (8 << 20), top, RW, ANON | V.VM_GROWSDOWN | V.VM_STACK)
    assert sorted(env.leaves()[0])[-3:] == [top - 3 * PAGE, top - 2 * PAGE, top - PAGE]
    assert len(env.leaves()[0]) == 6
    env.check_frames()
