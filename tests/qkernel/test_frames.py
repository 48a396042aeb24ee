"""qkernel.mm.frames, the physical frame allocator, compiled and run under unicorn."""

from __future__ import annotations

PAGE = 4096
MOD = "qkernel.mm.frames"


def test_init_reserves_below_first_free_and_counts(kmachine):
    m = kmachine(MOD)
    m.call(f"{MOD}.init", 64 << 20, 0x23_3000)
    nframes = (64 << 20) // PAGE
    first = 0x233000 // PAGE
    assert m.read_u64(m.symbol(f"{MOD}.nframes")) == nframes
    assert m.read_u64(m.symbol(f"{MOD}.nfree")) == nframes - first
    assert m.call(f"{MOD}.alloc") == first * PAGE


def test_alloc_is_lowest_first_and_free_returns_frames(kmachine):
    m = kmachine(MOD)
    m.call(f"{MOD}.init", 32 << 20, 0x10_0000 + 5)  # first_free rounds up to a page
    got = [m.call(f"{MOD}.alloc") for _ in range(100)]
    assert got == [0x101000 + i * PAGE for i in range(100)]
    assert m.call(f"{MOD}.free", got[10]) & 0xFF == 1
    assert m.call(f"{MOD}.free", got[10]) & 0xFF == 0          # double free detected
    assert m.call(f"{MOD}.free", got[11] + 8) & 0xFF == 0      # unaligned
    assert m.call(f"{MOD}.free", 1 << 40) & 0xFF == 0          # out of range
    assert m.call(f"{MOD}.alloc") == got[10]            # the hole is reused first


def test_exhaustion_returns_zero(kmachine):
    m = kmachine(MOD)
    mem = 4 << 20
    m.call(f"{MOD}.init", mem, mem - 3 * PAGE)
    assert [m.call(f"{MOD}.alloc") for _ in range(4)] == [mem - 3 * PAGE, mem - 2 * PAGE, mem - PAGE, 0]


def test_frames_not_multiple_of_64(kmachine):
    m = kmachine(MOD)
    mem = (64 * 3 + 5) * PAGE
    m.call(f"{MOD}.init", mem, 0)
    frames = [m.call(f"{MOD}.alloc") for _ in range(64 * 3 + 5)]
    assert frames == [i * PAGE for i in range(64 * 3 + 5)]
    assert m.call(f"{MOD}.alloc") == 0
