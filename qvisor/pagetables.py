"""Platform-neutral initial CPU state for entering the guest kernel directly in 64-bit mode.

Owns: the boot memory layout (BootLayout), the first page tables, GDT and TSS written into
GuestMemory, and the resulting control/segment register values (BootState). The platforms
(pvm here; emu later) translate BootState into their own register APIs; nothing here knows
about KVM or unicorn.

The layout numbers are the kernel/host boot ABI. They will come from the kernel-Python ABI
module (BootLayout(**constants)); the logic below only ever reads them from the dataclass.
Addresses: *_PHYS are guest-physical, *_BASE guest-virtual, sizes in bytes.

Default guest-physical map:
    0x1000  GDT (one page)            0x2000  TSS (104 bytes)
    0x7000  boot-parameter page       0x10000..0x80000  page tables (bump-allocated)
    0x80000..0x90000  boot stack      0x200000..  kernel image (KERNEL_PHYS)
Default guest-virtual map (all in the upper half, none in the top 2 GiB):
    DIRECT_MAP_BASE + pa -> pa for all of guest RAM (2 MiB or 1 GiB pages, RW, NX)
    KERNEL_BASE + x -> KERNEL_PHYS + x for the image span (RWX, global)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .memory import GiB, MiB, PAGE_SIZE, PTE_NX, PTE_P, PTE_PS, PTE_U, PTE_W, GuestMemory
from .memory import is_canonical

PTE_G = 1 << 8

# control-register bits
CR0_PE, CR0_MP, CR0_ET, CR0_NE, CR0_WP, CR0_PG = 1, 1 << 1, 1 << 4, 1 << 5, 1 << 16, 1 << 31
CR4_PAE, CR4_PGE, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_FSGSBASE = (
    1 << 5, 1 << 7, 1 << 9, 1 << 10, 1 << 16)
EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE = 1, 1 << 8, 1 << 10, 1 << 11
RFLAGS_RESERVED1 = 1 << 1
TSS_SIZE = 104


@dataclass(frozen=True)
class BootLayout:
    DIRECT_MAP_BASE: int = 0xFFFF_8000_0000_0000
    KERNEL_BASE: int = 0xFFFF_C000_0000_0000
    KERNEL_PHYS: int = 0x20_0000
    KERNEL_PAGE_SIZE: int = 2 * MiB          # 2 MiB or 4 KiB pages for the kernel window
    KERNEL_USER: bool = False                # flat mode: the kernel window and direct map are
                                             # user-accessible (the kernel's syscall path runs at CPL 3)
    GDT_PHYS: int = 0x1000
    TSS_PHYS: int = 0x2000
    BOOT_PARAMS_PHYS: int = 0x7000
    PAGE_TABLES_PHYS: int = 0x1_0000
    PAGE_TABLES_END: int = 0x8_0000
    BOOT_STACK_PHYS: int = 0x8_0000          # lowest byte; rsp starts at PHYS + SIZE
    BOOT_STACK_SIZE: int = 0x1_0000
    DIRECT_MAP_NX: bool = True
    # GDT selectors (index*8, RPL 0); user selectors are used with RPL 3 (| 3).
    # USER_DS = USER_CS - 8 is what sysretq needs with STAR[63:48] = USER_DS - 8 | 3.
    KERNEL_CS: int = 0x08
    KERNEL_DS: int = 0x10
    USER_DS: int = 0x18
    USER_CS: int = 0x20
    TSS_SEL: int = 0x28                      # 16-byte descriptor: slots 5 and 6
    GDT_ENTRIES: int = 7

    # --- derived addresses -----------------------------------------------------------------
    def direct(self, pa: int) -> int:
        """Direct-map virtual address of guest-physical pa."""
        return self.DIRECT_MAP_BASE + pa

    def kernel_phys(self, va: int) -> int:
        """Guest-physical address behind a kernel-window virtual address."""
        return self.KERNEL_PHYS + (va - self.KERNEL_BASE)

    @property
    def boot_params_va(self) -> int:
        return self.direct(self.BOOT_PARAMS_PHYS)

    @property
    def stack_top_va(self) -> int:
        return self.direct(self.BOOT_STACK_PHYS + self.BOOT_STACK_SIZE)

    def validate(self, mem_size: int, kernel_span: int) -> None:
        """ValueError unless the layout fits guest memory of mem_size bytes and a kernel image
        of kernel_span bytes (from KERNEL_PHYS)."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"BootLayout: {msg}")
        need(self.KERNEL_PAGE_SIZE in (PAGE_SIZE, 2 * MiB), "KERNEL_PAGE_SIZE must be 4K or 2M")
        need(mem_size % (2 * MiB) == 0, f"memory size {mem_size:#x} not a 2 MiB multiple")
        need(self.DIRECT_MAP_BASE % GiB == 0, "DIRECT_MAP_BASE not 1 GiB aligned")
        need(self.KERNEL_BASE % self.KERNEL_PAGE_SIZE == 0, "KERNEL_BASE misaligned")
        need(self.KERNEL_PHYS % self.KERNEL_PAGE_SIZE == 0, "KERNEL_PHYS misaligned")
        for name, va, n in (("direct map", self.DIRECT_MAP_BASE, mem_size),
                            ("kernel window", self.KERNEL_BASE, kernel_span)):
            need(va >> 63 == 1 and is_canonical(va) and is_canonical(va + n - 1)
                 and va + n <= (1 << 64) - 2 * GiB, f"{name} not in the upper half below -2G")
        d0, d1 = self.DIRECT_MAP_BASE, self.DIRECT_MAP_BASE + mem_size
        k0, k1 = self.KERNEL_BASE, self.KERNEL_BASE + kernel_span
        need(k1 <= d0 or d1 <= k0, "kernel window overlaps the direct map")
        low = sorted([
            (self.GDT_PHYS, PAGE_SIZE, "GDT"), (self.TSS_PHYS, PAGE_SIZE, "TSS"),
            (self.BOOT_PARAMS_PHYS, PAGE_SIZE, "boot params"),
            (self.PAGE_TABLES_PHYS, self.PAGE_TABLES_END - self.PAGE_TABLES_PHYS, "page tables"),
            (self.BOOT_STACK_PHYS, self.BOOT_STACK_SIZE, "boot stack"),
            (self.KERNEL_PHYS, kernel_span, "kernel image")])
        for (a, n, what), (b, _, nxt) in zip(low, low[1:]):
            need(a % PAGE_SIZE == 0 and n > 0, f"{what} not page aligned / empty")
            need(a + n <= b, f"{what} overlaps {nxt}")
        need(self.KERNEL_PHYS + kernel_span <= mem_size,
             f"kernel image (ends {self.KERNEL_PHYS + kernel_span:#x}) beyond memory "
             f"{mem_size:#x}")
        need(self.TSS_SEL // 8 + 2 <= self.GDT_ENTRIES, "TSS descriptor outside the GDT")


@dataclass(frozen=True)
class CpuFeatures:
    """What the platform's CPU supports (from CPUID); selects optional bits."""
    nx: bool = True
    gbpages: bool = False
    pge: bool = True
    fsgsbase: bool = False


@dataclass(frozen=True)
class Segment:
    """A segment register as the platforms load it (KVM's kvm_segment fields). `limit` is the
    byte-granular effective limit (0xffffffff for flat g=1 segments)."""
    selector: int
    type: int
    base: int = 0
    limit: int = 0xFFFF_FFFF
    present: int = 1
    dpl: int = 0
    db: int = 0
    s: int = 1
    l: int = 0
    g: int = 1
    avl: int = 0
    unusable: int = 0

    def descriptor(self) -> bytes:
        """The GDT descriptor: 8 bytes, or 16 for a system segment (TSS) in long mode."""
        raw = self.limit >> 12 if self.g else self.limit
        if raw > 0xFFFFF:
            raise ValueError(f"segment limit {self.limit:#x} needs g=1")
        access = self.type | self.s << 4 | self.dpl << 5 | self.present << 7
        flags = self.avl | self.l << 1 | self.db << 2 | self.g << 3
        lo = ((raw & 0xFFFF) | (self.base & 0xFFFFFF) << 16 | access << 40
              | (raw >> 16) << 48 | flags << 52 | ((self.base >> 24) & 0xFF) << 56)
        if self.s:
            return struct.pack("<Q", lo)
        return struct.pack("<QQ", lo, self.base >> 32)


@dataclass(frozen=True)
class BootState:
    """Everything a platform loads into the boot vCPU (rip is the platform's: image entry)."""
    cr0: int
    cr3: int
    cr4: int
    efer: int
    gdt_base: int
    gdt_limit: int
    idt_base: int
    idt_limit: int
    segments: dict[str, Segment] = field(default_factory=dict)   # cs ds es fs gs ss tr ldt
    rsp: int = 0
    rdi: int = 0
    rflags: int = RFLAGS_RESERVED1


class PageTableBuilder:
    """Bump-allocates zeroed 4 KiB tables from [start, end) of guest memory and maps ranges."""

    def __init__(self, mem: GuestMemory, start: int, end: int) -> None:
        self.mem, self.next, self.end = mem, start, end
        self.pml4 = self._alloc()

    def _alloc(self) -> int:
        if self.next + PAGE_SIZE > self.end:
            raise ValueError(f"page-table region full at {self.next:#x}")
        pa, self.next = self.next, self.next + PAGE_SIZE
        self.mem.fill(pa, PAGE_SIZE, 0)
        return pa

    def _child(self, table: int, idx: int, user: bool) -> int:
        slot = table + idx * 8
        e = self.mem.read_u64(slot)
        if not e & PTE_P:
            child = self._alloc()
            self.mem.write_u64(slot, child | PTE_P | PTE_W | (PTE_U if user else 0))
            return child
        if e & PTE_PS:
            raise ValueError(f"mapping conflict: large page at table {table:#x}[{idx}]")
        if user and not e & PTE_U:
            self.mem.write_u64(slot, e | PTE_U)
        return e & 0x000F_FFFF_FFFF_F000

    def map(self, va: int, pa: int, size: int, page_size: int, *, writable: bool = True,
            nx: bool = False, user: bool = False, glob: bool = False) -> None:
        """Map [va, va+size) -> [pa, ...) with pages of page_size (4K, 2M or 1G)."""
        level = {PAGE_SIZE: 1, 2 * MiB: 2, GiB: 3}[page_size]
        if va % page_size or pa % page_size or size % page_size:
            raise ValueError(f"map {va:#x}->{pa:#x} +{size:#x} not {page_size:#x} aligned")
        leaf_flags = (PTE_P | (PTE_W if writable else 0) | (PTE_U if user else 0)
                      | (PTE_NX if nx else 0) | (PTE_G if glob else 0)
                      | (PTE_PS if level > 1 else 0))
        for off in range(0, size, page_size):
            v = va + off
            table = self.pml4
            for lvl, shift in ((4, 39), (3, 30), (2, 21)):
                if lvl == level:
                    break
                table = self._child(table, (v >> shift) & 511, user)
            slot = table + ((v >> (12 + 9 * (level - 1))) & 511) * 8
            if self.mem.read_u64(slot) & PTE_P:
                raise ValueError(f"mapping conflict at {v:#x}")
            self.mem.write_u64(slot, (pa + off) | leaf_flags)


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def gdt_segments(layout: BootLayout) -> dict[str, Segment]:
    kcode = Segment(layout.KERNEL_CS, type=0xB, l=1)             # exec/read, accessed
    kdata = Segment(layout.KERNEL_DS, type=0x3, db=1)            # read/write, accessed
    udata = Segment(layout.USER_DS | 3, type=0x3, db=1, dpl=3)
    ucode = Segment(layout.USER_CS | 3, type=0xB, l=1, dpl=3)
    tss = Segment(layout.TSS_SEL, type=0xB, base=layout.direct(layout.TSS_PHYS),
                  limit=TSS_SIZE - 1, s=0, g=0)                  # 64-bit TSS, busy
    ldt = Segment(0, type=0x2, limit=0, s=0, g=0, present=0, unusable=1)
    return {"kcode": kcode, "kdata": kdata, "udata": udata, "ucode": ucode, "tss": tss,
            "ldt": ldt}


def build_boot_state(mem: GuestMemory, layout: BootLayout, kernel_span: int,
                     features: CpuFeatures = CpuFeatures()) -> BootState:
    """Write page tables, GDT and TSS into mem; return the register values to enter with.
    kernel_span: bytes of the kernel image from KERNEL_PHYS (file + bss), rounded up here."""
    span = _round_up(max(kernel_span, 1), layout.KERNEL_PAGE_SIZE)
    layout.validate(mem.size, span)

    pt = PageTableBuilder(mem, layout.PAGE_TABLES_PHYS, layout.PAGE_TABLES_END)
    nx = layout.DIRECT_MAP_NX and features.nx
    gig = mem.size // GiB * GiB if features.gbpages else 0
    if gig:
        pt.map(layout.DIRECT_MAP_BASE, 0, gig, GiB, nx=nx, glob=features.pge, user=layout.KERNEL_USER)
    if mem.size > gig:
        pt.map(layout.DIRECT_MAP_BASE + gig, gig, mem.size - gig, 2 * MiB, nx=nx,
               glob=features.pge, user=layout.KERNEL_USER)
    pt.map(layout.KERNEL_BASE, layout.KERNEL_PHYS, span, layout.KERNEL_PAGE_SIZE,
           glob=features.pge, user=layout.KERNEL_USER)

    segs = gdt_segments(layout)
    mem.fill(layout.GDT_PHYS, PAGE_SIZE, 0)
    for s in (segs["kcode"], segs["kdata"], segs["udata"], segs["ucode"], segs["tss"]):
        mem.write(layout.GDT_PHYS + (s.selector & ~7), s.descriptor())
    mem.fill(layout.TSS_PHYS, PAGE_SIZE, 0)
    mem.write_u16(layout.TSS_PHYS + 102, TSS_SIZE)               # no I/O permission bitmap

    kd = segs["kdata"]
    return BootState(
        cr0=CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
        cr3=pt.pml4,
        cr4=(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (CR4_PGE if features.pge else 0)
             | (CR4_FSGSBASE if features.fsgsbase else 0)),
        efer=EFER_SCE | EFER_LME | EFER_LMA | (EFER_NXE if features.nx else 0),
        gdt_base=layout.direct(layout.GDT_PHYS), gdt_limit=layout.GDT_ENTRIES * 8 - 1,
        idt_base=0, idt_limit=0,              # no IDT: the kernel installs its own first
        segments={"cs": segs["kcode"], "ds": kd, "es": kd, "fs": kd, "gs": kd, "ss": kd,
                  "tr": segs["tss"], "ldt": segs["ldt"]},
        rsp=layout.stack_top_va, rdi=layout.boot_params_va)
