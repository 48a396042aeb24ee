"""pagetables: the boot layout, page tables, GDT/TSS and register values (no /dev/kvm)."""

import dataclasses
import struct

import pytest

from qvisor.memory import PTE_NX, PTE_W, GiB, GuestFault, GuestMemory, MiB
from qvisor.pagetables import (CR0_PG, CR0_PE, CR0_WP, CR4_PAE, EFER_LMA, EFER_LME, EFER_NXE,
                               EFER_SCE, BootLayout, CpuFeatures, Segment, build_boot_state)

L = BootLayout()


@pytest.fixture
def mem():
    m = GuestMemory(32 * MiB)
    yield m
    m.close()


def test_defaults_are_the_documented_abi():
    assert L.DIRECT_MAP_BASE == 0xFFFF_8000_0000_0000
    assert L.KERNEL_BASE == 0xFFFF_C000_0000_0000
    assert L.KERNEL_PHYS == 0x200000 and L.BOOT_PARAMS_PHYS == 0x7000
    assert L.BOOT_STACK_SIZE == 64 * 1024
    assert L.boot_params_va == 0xFFFF_8000_0000_7000
    assert L.kernel_phys(L.KERNEL_BASE + 0x1234) == 0x201234


def test_layout_from_constants_mapping():
    # the future kernel-Python ABI module provides upper-case constants with the same names
    abi = {"KERNEL_PHYS": 0x400000, "BOOT_PARAMS_PHYS": 0x8000, "UNRELATED": 1}
    names = {f.name for f in dataclasses.fields(BootLayout)}
    lay = BootLayout(**{k: v for k, v in abi.items() if k in names})
    assert lay.KERNEL_PHYS == 0x400000 and lay.boot_params_va == L.DIRECT_MAP_BASE + 0x8000


def test_direct_map_and_kernel_window(mem):
    st = build_boot_state(mem, L, 0x3000)
    for pa in (0, 0x7000, 0x1FFFFF, 0x200000, 32 * MiB - 1):
        assert mem.translate(L.DIRECT_MAP_BASE + pa, st.cr3) == pa
    with pytest.raises(GuestFault):
        mem.translate(L.DIRECT_MAP_BASE + 32 * MiB, st.cr3)
    assert mem.translate(L.KERNEL_BASE + 0x123, st.cr3, write=True) == 0x200123
    assert mem.translate(L.KERNEL_BASE + 2 * MiB - 1, st.cr3) == 0x3FFFFF   # one 2 MiB page
    with pytest.raises(GuestFault):
        mem.translate(L.KERNEL_BASE + 2 * MiB, st.cr3)
    for low in (0, 0x7000, 0x400000):                   # nothing in the lower half
        with pytest.raises(GuestFault):
            mem.translate(low, st.cr3)
    assert L.PAGE_TABLES_PHYS <= st.cr3 < L.PAGE_TABLES_END


def _leaf(mem, va, cr3):
    t = cr3
    for shift in (39, 30, 21):
        e = mem.read_u64((t & ~0xFFF) + ((va >> shift) & 511) * 8)
        if e & 0x80 and shift != 39:
            return e
        t = e & 0x000F_FFFF_FFFF_F000
    return mem.read_u64(t + ((va >> 12) & 511) * 8)


def test_nx_and_write_bits(mem):
    st = build_boot_state(mem, L, 0x1000)
    d = _leaf(mem, L.DIRECT_MAP_BASE, st.cr3)
    k = _leaf(mem, L.KERNEL_BASE, st.cr3)
    assert d & PTE_NX and d & PTE_W
    assert not k & PTE_NX and k & PTE_W
    st2 = build_boot_state(mem, L, 0x1000, CpuFeatures(nx=False))
    assert not _leaf(mem, L.DIRECT_MAP_BASE, st2.cr3) & PTE_NX
    assert not st2.efer & EFER_NXE


def test_kernel_4k_pages_and_gbpages():
    lay = BootLayout(KERNEL_PAGE_SIZE=4096)
    with GuestMemory(GiB + 4 * MiB) as m:
        st = build_boot_state(m, lay, 0x5001, CpuFeatures(gbpages=True))
        assert m.walk(lay.KERNEL_BASE + 0x5000, st.cr3) == (0x205000, 4096)
        with pytest.raises(GuestFault):
            m.translate(lay.KERNEL_BASE + 0x6000, st.cr3)
        assert m.walk(lay.DIRECT_MAP_BASE + 5, st.cr3) == (5, GiB)
        assert m.walk(lay.DIRECT_MAP_BASE + GiB + 5, st.cr3) == (GiB + 5, 2 * MiB)


def test_registers(mem):
    st = build_boot_state(mem, L, 0x1000)
    assert st.cr0 & (CR0_PE | CR0_PG | CR0_WP) == CR0_PE | CR0_PG | CR0_WP
    assert st.cr4 & CR4_PAE
    assert st.efer == EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE
    assert st.rsp == L.DIRECT_MAP_BASE + L.BOOT_STACK_PHYS + L.BOOT_STACK_SIZE
    assert st.rsp % 16 == 0 and st.rdi == L.boot_params_va
    cs = st.segments["cs"]
    assert cs.selector == 0x08 and cs.l == 1 and cs.db == 0 and cs.dpl == 0
    assert st.segments["ss"].selector == 0x10 and st.segments["tr"].selector == 0x28
    assert st.gdt_base == L.direct(L.GDT_PHYS) and st.gdt_limit == 7 * 8 - 1
    assert (st.idt_base, st.idt_limit) == (0, 0)


def test_gdt_contents(mem):
    st = build_boot_state(mem, L, 0x1000)
    gdt = struct.unpack("<7Q", mem.read(L.GDT_PHYS, 56))
    assert gdt[0] == 0
    assert gdt[1] == 0x00AF9B000000FFFF          # kernel code: P, DPL0, code, L, G
    assert gdt[2] == 0x00CF93000000FFFF          # kernel data
    assert gdt[3] == 0x00CFF3000000FFFF          # user data, DPL3
    assert gdt[4] == 0x00AFFB000000FFFF          # user code, DPL3, L
    tss_va = L.direct(L.TSS_PHYS)
    lo, hi = gdt[5], gdt[6]
    assert (lo >> 40) & 0xFF == 0x8B and lo & 0xFFFF == 103
    base = ((lo >> 16) & 0xFFFFFF) | ((lo >> 56) << 24) | (hi << 32)
    assert base == tss_va == st.segments["tr"].base
    assert mem.read_u16(L.TSS_PHYS + 102) == 104


def test_segment_descriptor_limits():
    with pytest.raises(ValueError):
        Segment(0x8, type=0xB, limit=0x1FFFFF, g=0).descriptor()


@pytest.mark.parametrize("kw,span,msize,msg", [
    ({}, 40 * MiB, 32 * MiB, "beyond memory"),
    ({"KERNEL_PHYS": 0x80000}, 0x1000, 32 * MiB, "misaligned"),
    ({"BOOT_PARAMS_PHYS": 0x10000}, 0x1000, 32 * MiB, "overlaps"),
    ({"KERNEL_BASE": 0xFFFF_8000_0100_0000}, 0x1000, 32 * MiB, "overlaps the direct map"),
    ({"KERNEL_BASE": 0xFFFF_FFFF_C000_0000}, 0x1000, 32 * MiB, "upper half"),
    ({"DIRECT_MAP_BASE": 0x0000_4000_0000_0000}, 0x1000, 32 * MiB, "upper half"),
    ({}, 0x1000, 33 * MiB, "2 MiB multiple"),
])
def test_layout_validation(kw, span, msize, msg):
    with pytest.raises(ValueError, match=msg):
        BootLayout(**kw).validate(msize, span)


def test_page_table_region_exhaustion():
    lay = BootLayout(PAGE_TABLES_END=0x12000)          # room for 2 tables only
    with GuestMemory(32 * MiB) as m, pytest.raises(ValueError, match="full"):
        build_boot_state(m, lay, 0x1000)
