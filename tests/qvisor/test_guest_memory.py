"""GuestMemory: bounds checks (hypothesis) and guest page-table walks."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qvisor.memory import (PTE_P, PTE_PS, PTE_U, PTE_W, GuestFault, GuestMemory, MiB)

SIZE = 1 * MiB
U64 = 1 << 64


@pytest.fixture(scope="module")
def mem():
    m = GuestMemory(SIZE)
    yield m
    m.close()


# addresses/lengths a hostile guest could pass: edges, huge, negative, wrapping
edge = st.sampled_from([0, 1, 7, 8, 4095, 4096, SIZE - 8, SIZE - 1, SIZE, SIZE + 1,
                        U64 - 1, U64, U64 + 1, -1, -(1 << 63), (1 << 63), 1 << 80])
addr = st.one_of(edge, st.integers(-(1 << 70), 1 << 70), st.integers(0, SIZE + 16))
length = st.one_of(edge, st.integers(-(1 << 70), 1 << 70), st.integers(0, 64))


def valid(gpa, n):
    return 0 <= gpa and 0 <= n and gpa + n <= SIZE


@settings(max_examples=400, deadline=None)
@given(addr, length)
def test_check_read_view_never_crash(mem, gpa, n):
    if valid(gpa, n):
        assert mem.check(gpa, n) == gpa
        assert len(mem.read(gpa, n)) == n
        v = mem.view(gpa, n)
        assert len(v) == n
        v.release()
    else:
        for op in (mem.check, mem.read, mem.view):
            with pytest.raises(GuestFault):
                op(gpa, n)


@settings(max_examples=300, deadline=None)
@given(addr, st.binary(max_size=32))
def test_write_roundtrip_or_fault(mem, gpa, data):
    if valid(gpa, len(data)):
        mem.write(gpa, data)
        assert mem.read(gpa, len(data)) == data
    else:
        with pytest.raises(GuestFault):
            mem.write(gpa, data)


@settings(max_examples=300, deadline=None)
@given(addr, st.integers(0, U64 - 1))
def test_u64_roundtrip_or_fault(mem, gpa, value):
    if valid(gpa, 8):
        mem.write_u64(gpa, value)
        assert mem.read_u64(gpa) == value
        assert mem.read(gpa, 8) == value.to_bytes(8, "little")
    else:
        with pytest.raises(GuestFault):
            mem.write_u64(gpa, value)
        with pytest.raises(GuestFault):
            mem.read_u64(gpa)


@settings(max_examples=200, deadline=None)
@given(addr, length, st.integers(0, U64 - 1))
def test_virtual_access_never_crashes(mem, gva, n, cr3):
    # random cr3 over (mostly empty) memory: either bytes or GuestFault, nothing else
    try:
        out = mem.read_virt(gva, n, cr3)
        assert len(out) == n
    except GuestFault:
        pass


def test_non_int_arguments_are_faults(mem):
    for bad in (1.5, "0", None, b"\0"):
        with pytest.raises(GuestFault):
            mem.read(bad, 1)
        with pytest.raises(GuestFault):
            mem.read(0, bad)


def test_u64_value_out_of_range_is_host_error(mem):
    with pytest.raises(ValueError):
        mem.write_u64(0, -1)
    with pytest.raises(ValueError):
        mem.write_u8(0, 256)


def test_read_cstr(mem):
    mem.write(0x100, b"abc\0def")
    assert mem.read_cstr(0x100, 16) == b"abc"
    with pytest.raises(GuestFault):
        mem.read_cstr(0x104, 3)
    mem.write(SIZE - 2, b"zz")
    with pytest.raises(GuestFault):
        mem.read_cstr(SIZE - 2, 100)


def test_host_address_and_size():
    with GuestMemory(64 * 1024) as m:
        assert m.host_address % 4096 == 0 and m.size == 64 * 1024
    with pytest.raises(ValueError):
        GuestMemory(1000)


# --- page-table walk ---------------------------------------------------------------------------
PML4, PDPT, PD, PT = 0x1000, 0x2000, 0x3000, 0x4000


def idx(va, shift):
    return (va >> shift) & 511


@pytest.fixture
def paged():
    """va 0x400000.. in 4 KiB pages (RW user, RO user, RW kernel-only), va 0x600000 -> 0x200000
    as one 2 MiB page, and a kernel-half 1 GiB page at 0xffff800000000000 -> 0."""
    m = GuestMemory(4 * MiB)
    wr = PTE_P | PTE_W | PTE_U
    m.write_u64(PML4 + idx(0x400000, 39) * 8, PDPT | wr)
    m.write_u64(PDPT + idx(0x400000, 30) * 8, PD | wr)
    m.write_u64(PD + idx(0x400000, 21) * 8, PT | wr)
    m.write_u64(PT + 0 * 8, 0x10000 | wr)                   # 0x400000 -> 0x10000
    m.write_u64(PT + 1 * 8, 0x30000 | PTE_P | PTE_U)         # 0x401000 -> 0x30000 read-only
    m.write_u64(PT + 2 * 8, 0x20000 | PTE_P | PTE_W)         # 0x402000 -> 0x20000 kernel only
    m.write_u64(PD + idx(0x600000, 21) * 8, 0x200000 | wr | PTE_PS)   # 2 MiB page
    kva = 0xFFFF_8000_0000_0000
    m.write_u64(PML4 + idx(kva, 39) * 8, 0x5000 | PTE_P | PTE_W)
    m.write_u64(0x5000 + idx(kva, 30) * 8, 0 | PTE_P | PTE_W | PTE_PS)  # 1 GiB at 0
    yield m
    m.close()


def test_translate_page_sizes(paged):
    assert paged.translate(0x400123, PML4) == 0x10123
    assert paged.translate(0x401FFF, PML4) == 0x30FFF
    assert paged.translate(0x6ABCDE, PML4) == 0x2ABCDE
    assert paged.walk(0x600000, PML4)[1] == 2 * MiB
    assert paged.translate(0xFFFF_8000_0012_3456, PML4) == 0x123456
    assert paged.walk(0xFFFF_8000_0000_0000, PML4 | 0xFFF)[1] == 1 << 30   # PCID bits ignored


def test_translate_faults(paged):
    with pytest.raises(GuestFault, match="not mapped"):
        paged.translate(0x403000, PML4)
    with pytest.raises(GuestFault, match="non-canonical"):
        paged.translate(0x0000_8000_0000_0000, PML4)
    with pytest.raises(GuestFault, match="not writable"):
        paged.translate(0x401000, PML4, write=True)
    with pytest.raises(GuestFault, match="user"):
        paged.translate(0x402000, PML4, user=True)
    with pytest.raises(GuestFault, match="outside guest memory"):
        paged.translate(0x400000, 0x7FF000)
    for bad in (-1, 1 << 64, 2.0):
        with pytest.raises(GuestFault):
            paged.translate(bad, PML4)


def test_virt_access_crosses_pages(paged):
    paged.write(0x10FFC, b"ABCD")
    paged.write(0x30000, b"EFGH")
    assert paged.read_virt(0x400FFC, 8, PML4) == b"ABCDEFGH"
    # 4K page -> unmapped gap is a fault; 2 MiB page -> 2 MiB page edge reads fine
    with pytest.raises(GuestFault):
        paged.read_virt(0x402FFF, 2, PML4)
    assert len(paged.read_virt(0x600000, 2 * MiB, PML4)) == 2 * MiB
    with pytest.raises(GuestFault):
        paged.read_virt(0x400000, 8 * MiB, PML4)          # longer than guest memory


def test_write_virt_is_all_or_nothing(paged):
    paged.write(0x10FF0, bytes(16))
    with pytest.raises(GuestFault):                     # second page is read-only
        paged.write_virt(0x400FF8, b"X" * 16, PML4)
    assert paged.read(0x10FF0, 16) == bytes(16)
    paged.write_virt(0x400FF8, b"Y" * 8, PML4)
    assert paged.read_virt(0x400FF8, 8, PML4) == b"Y" * 8
    with pytest.raises(GuestFault):
        paged.write_virt(0x402000, b"k", PML4, user=True)
    assert paged.read_virt(0x400000, 0, PML4) == b""
    with pytest.raises(GuestFault):
        paged.read_virt((1 << 64) - 4, 8, PML4)        # wraps
