"""qkernel.mm.kalloc (kernel object pools) and frames.alloc_contig, compiled and run under
unicorn: objects are distinct, aligned, zeroed when asked, reused after free; exhaustion of the
pool's limit or of memory returns NULL, never a crash."""

from __future__ import annotations

from qkernel.abi import DIRECT_MAP_BASE as D
from qkernel.dialect import layout
from qkernel.mm.kalloc import Pool

WIN = 0x8000_0000
PAGE = 4096
FR = "qkernel.mm.frames"
KA = "qkernel.mm.kalloc"
POOL = layout(Pool)


def machine(kmachine, frames: int):
    m = kmachine(KA)
    m.map_region(D + WIN, frames * PAGE, "rw", phys=WIN)
    m.call(f"{FR}.init", WIN + frames * PAGE, WIN)
    return m


def new_pool(m, size: int, limit: int, zeroed: bool) -> int:
    pool = m.alloc(POOL.size, 8)
    m.call(f"{KA}.init", pool, size, limit, int(zeroed))
    return pool


def test_alloc_contig_finds_a_run_and_fails_cleanly(kmachine):
    m = machine(kmachine, 64)
    a = m.call(f"{FR}.alloc")
    b = m.call(f"{FR}.alloc")
    assert m.call(f"{FR}.free", a) & 0xFF == 1           # a one-frame hole at the bottom
    run = m.call(f"{FR}.alloc_contig", 4)
    assert run == b + PAGE                               # the hole is too small: first fit above
    assert m.read_u64(m.symbol(f"{FR}.nfree")) == 64 - 1 - 4
    assert m.call(f"{FR}.alloc_contig", 64) == 0         # no run that long: 0, nothing taken
    assert m.read_u64(m.symbol(f"{FR}.nfree")) == 64 - 1 - 4
    assert m.call(f"{FR}.alloc_contig", 0) == 0


def test_small_objects_share_a_slab_and_are_reused(kmachine):
    m = machine(kmachine, 16)
    pool = new_pool(m, 100, 0, True)                     # rounded to 112
    assert m.read_u64(pool + POOL.offset("size")) == 112
    objs = [m.call(f"{KA}.alloc", pool) for _ in range(36)]  # 4096 // 112 = 36 per slab
    assert len(set(objs)) == 36 and all(o % 16 == 0 and o >= D for o in objs)
    assert m.read_u64(pool + POOL.offset("slabs")) == 1
    m.write(objs[5], b"\xAA" * 112)
    m.call(f"{KA}.free", pool, objs[5])
    again = m.call(f"{KA}.alloc", pool)
    assert again == objs[5] and m.read(again, 112) == bytes(112)   # zeroed pool
    m.call(f"{KA}.alloc", pool)
    assert m.read_u64(pool + POOL.offset("slabs")) == 2
    assert m.read_u64(pool + POOL.offset("in_use")) == 37


def test_large_objects_take_contiguous_frames(kmachine):
    m = machine(kmachine, 64)
    pool = new_pool(m, 16384, 0, False)
    a = m.call(f"{KA}.alloc", pool)
    b = m.call(f"{KA}.alloc", pool)
    assert a != b and abs(a - b) >= 16384
    m.write(a + 16383, b"\x01")                         # the whole object is reachable


def test_limit_and_memory_exhaustion_return_null(kmachine):
    m = machine(kmachine, 8)
    limited = new_pool(m, 64, 3, True)
    got = [m.call(f"{KA}.alloc", limited) for _ in range(4)]
    assert got[3] == 0 and all(got[:3])
    m.call(f"{KA}.free", limited, got[0])
    assert m.call(f"{KA}.alloc", limited) == got[0]
    big = new_pool(m, 3 * PAGE, 0, False)
    results = [m.call(f"{KA}.alloc", big) for _ in range(4)]
    assert results[0] != 0 and 0 in results             # 8 frames, one taken: at most two fit
    m.call(f"{KA}.free", big, 0)                          # freeing NULL is a no-op
