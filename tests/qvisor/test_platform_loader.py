"""Kernel image loading into GuestMemory (platform-neutral, no /dev/kvm)."""

import pytest

from elf_builder import PF_R, PF_W, PF_X, make_elf
from qvisor.memory import GuestMemory, MiB
from qvisor.pagetables import BootLayout
from qvisor.platform.loader import load_elf, load_flat

L = BootLayout()
KB = L.KERNEL_BASE


@pytest.fixture
def mem():
    m = GuestMemory(16 * MiB)
    yield m
    m.close()


def test_load_elf_places_segments_and_zeroes_bss(mem):
    mem.fill(L.KERNEL_PHYS, 0x4000, 0xAA)                  # dirty: bss must be zeroed
    elf = make_elf(KB + 0x10, [(KB, 0, b"\x90" * 0x20, 0x20, PF_R | PF_X),
                               (KB + 0x1000, 0x1000, b"DATA", 0x2000, PF_R | PF_W)])
    entry, span = load_elf(mem, L, elf)
    assert entry == KB + 0x10 and span == 0x3000
    assert mem.read(L.KERNEL_PHYS, 0x20) == b"\x90" * 0x20
    assert mem.read(L.KERNEL_PHYS + 0x1000, 4) == b"DATA"
    assert mem.read(L.KERNEL_PHYS + 0x1004, 0x1FFC) == bytes(0x1FFC)


def test_load_elf_from_path(mem, tmp_path):
    p = tmp_path / "k.elf"
    p.write_bytes(make_elf(KB, [(KB, 0, b"\xf4", 1, PF_R | PF_X)]))
    assert load_elf(mem, L, str(p)) == (KB, 1)
    assert load_elf(mem, L, p) == (KB, 1)


@pytest.mark.parametrize("elf,msg", [
    (b"not an elf at all" * 8, "not an ELF"),
    (make_elf(KB, [(KB, 0, b"\xf4", 1, 5)], machine=3), "x86-64"),
    (make_elf(KB, [(KB + 0x1000, 0, b"\xf4", 1, 5)]), "p_vaddr"),
    (make_elf(KB, [(KB, 0, b"\xf4" * 4, 2, 5)]), "file size 0x4 .* does not fit"),
    (make_elf(KB + 0x5000, [(KB, 0, b"\xf4", 1, 5)]), "entry"),
    (make_elf(KB, [(KB, 0, b"\xf4", 64 * MiB, 5)]), "does not fit"),
    (make_elf(KB, []), "no PT_LOAD"),
])
def test_load_elf_rejects(mem, elf, msg):
    with pytest.raises(ValueError, match=msg):
        load_elf(mem, L, elf)


def test_load_flat(mem):
    assert load_flat(mem, L, b"\xcc\xf4", KB + 0x100) == 0x102
    assert mem.read(L.KERNEL_PHYS + 0x100, 2) == b"\xcc\xf4"
    with pytest.raises(ValueError, match="below KERNEL_BASE"):
        load_flat(mem, L, b"\xf4", KB - 1)
    with pytest.raises(ValueError, match="does not fit"):
        load_flat(mem, L, b"\xf4" * 2, KB + 16 * MiB - L.KERNEL_PHYS - 1)
