"""Unicorn internals the emu platform needs and unicorn's API does not expose (unicorn 2.1.x).

Owns: finding, by experiment, where a few fields of QEMU's CPUX86State lie inside a unicorn CPU
context (uc_context_save/restore copy the whole CPUX86State), a window onto a saved context to
read and patch those fields, the CPUID values unicorn's CPU model reports natively, and a
4-level page walk that reports x86 #PF error codes.

Why the context fields: unicorn hands every exception to UC_HOOK_INTR instead of delivering it
through the guest IDT, and skips what QEMU does after a delivery, so
- `old_exception` (QEMU's "exception in flight", which turns the next contributory fault into
  #DF and the one after into a triple fault) is never cleared: it must be reset to -1 after each
  exception we deliver ourselves;
- the exact error code QEMU computed (`error_code`: #PF P/W/U/I bits, #GP selector) and whether
  the event was a software interrupt (`exception_is_int`: int3/int n) are only in the context;
- a privilege change (ring 3 -> ring 0) cannot be made through unicorn's register API (it
  checks segment loads like `mov` does: CS/SS with DPL 0 cannot be loaded at CPL 3), so the CS
  and SS descriptor caches and the CPL bits of `hflags` are written into the context.

The probe (`layout()`) runs tiny guests in a scratch unicorn instance once per process and
cross-checks every offset; a unicorn whose layout differs fails loudly here, not silently later.
"""

from __future__ import annotations

import ctypes
import struct
import time
from dataclasses import dataclass
from functools import lru_cache

from unicorn import (UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_64, Uc)
from unicorn import x86_const as X

# QEMU hflags bits (target/i386/cpu.h)
HF_CPL_MASK = 3
HF_INHIBIT_IRQ = 1 << 3      # interrupt shadow: after sti / mov ss
HF_CS32 = 1 << 4
HF_SS32 = 1 << 5
HF_ADDSEG = 1 << 6
HF_LMA = 1 << 14
HF_CS64 = 1 << 15
# descriptor (high dword, "e2") bits
DESC_TYPE_SHIFT = 8
DESC_S = 1 << 12
DESC_DPL_SHIFT = 13
DESC_P = 1 << 15
DESC_L = 1 << 21
DESC_B = 1 << 22
DESC_CODE = 1 << 11          # type bit 3 (with S=1)

SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS = range(6)
REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI = range(8)  # QEMU order
REG_R11 = 11

_MARK_RBX = 0x1122_3344_5566_7788
_MARK_FS = 0x0000_1234_5678_9AB0
_MARK_GS = 0x0000_2234_5678_9AB0
_MSR_FS_BASE, _MSR_GS_BASE = 0xC000_0100, 0xC000_0101
_SEG = struct.Struct("<I4xQII")          # SegmentCache: selector, base, limit, flags
_I32, _U32, _U64 = struct.Struct("<i"), struct.Struct("<I"), struct.Struct("<Q")


class LayoutError(RuntimeError):
    """This unicorn's CPU context does not look like the CPUX86State the emu platform knows."""


# QEMU 5's CPUX86State, from its start: regs[16], eip, eflags, cc_dst/src/src2, cc_op, df,
# hflags, hflags2, segs[6], ldt, tr, gdt, idt, cr[5] (each SegmentCache 24 bytes)
_OFF_RSP, _OFF_EIP, _OFF_HFLAGS, _OFF_SEGS = 4 * 8, 128, 176, 184
_OFF_TR, _OFF_GDT, _OFF_IDT, _OFF_CR = 352, 376, 400, 424


@dataclass(frozen=True)
class CtxLayout:
    """Byte offsets inside a saved uc_context (header included)."""
    size: int
    data: int            # where CPUX86State starts
    hflags: int
    segs: int            # SegmentCache[6]: es cs ss ds fs gs, 24 bytes each
    error_code: int
    exception_is_int: int
    old_exception: int

    @property
    def rsp(self) -> int:
        return self.data + _OFF_RSP

    @property
    def eip(self) -> int:
        return self.data + _OFF_EIP

    @property
    def tr(self) -> int:
        return self.data + _OFF_TR

    @property
    def gdt(self) -> int:
        return self.data + _OFF_GDT

    @property
    def idt(self) -> int:
        return self.data + _OFF_IDT

    def cr(self, n: int) -> int:
        return self.data + _OFF_CR + 8 * n


def _raw(ctx) -> bytes:
    return ctypes.string_at(ctx.context.value, ctx.size)


def _i32(b: bytes, off: int) -> int:
    return _I32.unpack_from(b, off)[0]


def _scratch(code: bytes) -> tuple[Uc, list[bytes]]:
    """Run code at 0x1000 (unicorn's 64-bit reset state: paging off) until its first
    exception; return the machine and the contexts before and at the exception."""
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 0x10000)
    uc.mem_write(0x1000, code)
    uc.reg_write(X.UC_X86_REG_RSP, 0x8000)
    seen = [_raw(uc.context_save())]

    def intr(uc, intno, _ud):
        seen.append(_raw(uc.context_save()))
        uc.emu_stop()
    uc.hook_add(UC_HOOK_INTR, intr)
    uc.emu_start(0x1000, 0x1000 + len(code))
    return uc, seen


def _unique(offs: list[int], what: str) -> int:
    if len(offs) != 1:
        raise LayoutError(f"unicorn context: {what} found at {len(offs)} places {offs[:8]}")
    return offs[0]


@lru_cache(maxsize=1)
def layout() -> CtxLayout:
    # registers, descriptor tables, control registers and segment caches: write markers
    # through unicorn's API, find them in the context, check they sit where QEMU 5 has them
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    marks = {X.UC_X86_REG_RSP: 0x0000_7777_1111_2220, X.UC_X86_REG_RIP: 0x0000_7777_1111_3330,
             X.UC_X86_REG_CR3: 0x0000_0000_1234_5000}
    uc.reg_write(X.UC_X86_REG_RBX, _MARK_RBX)
    for reg, v in marks.items():
        uc.reg_write(reg, v)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x0000_7777_1111_4440, 0x77, 0))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, 0x0000_7777_1111_5550, 0x88, 0))
    uc.reg_write(X.UC_X86_REG_TR, (0x28, 0x0000_7777_1111_6660, 0x67, 0x8B00))
    uc.msr_write(_MSR_FS_BASE, _MARK_FS)
    uc.msr_write(_MSR_GS_BASE, _MARK_GS)
    b = _raw(uc.context_save())
    data = _unique([i for i in range(0, len(b) - 8, 8)
                    if _U64.unpack_from(b, i)[0] == _MARK_RBX], "RBX") - 3 * 8
    segs, hflags = data + _OFF_SEGS, data + _OFF_HFLAGS

    def q(off: int) -> int:
        return _U64.unpack_from(b, data + off)[0]
    expect = {"RSP": (q(_OFF_RSP), marks[X.UC_X86_REG_RSP]),
              "RIP": (q(_OFF_EIP), marks[X.UC_X86_REG_RIP]),
              "CR3": (q(_OFF_CR + 24), marks[X.UC_X86_REG_CR3]),
              "GDTR": (q(_OFF_GDT + 8), 0x0000_7777_1111_4440),
              "IDTR": (q(_OFF_IDT + 8), 0x0000_7777_1111_5550),
              "TR": (q(_OFF_TR + 8), 0x0000_7777_1111_6660),
              "FS base": (q(_OFF_SEGS + SEG_FS * _SEG.size + 8), _MARK_FS),
              "GS base": (q(_OFF_SEGS + SEG_GS * _SEG.size + 8), _MARK_GS)}
    for what, (got, want) in expect.items():
        if got != want:
            raise LayoutError(f"unicorn context: {what} is not where QEMU 5 keeps it "
                              f"({got:#x} != {want:#x})")
    hf = _U32.unpack_from(b, hflags)[0]
    if not hf & HF_LMA or not hf & HF_CS64 or hf & HF_CPL_MASK:
        raise LayoutError(f"unicorn context: hflags {hf:#x} at {hflags} is not 64-bit CPL 0")

    # exception fields: two #GPs with different selector error codes, a #DE, an int3
    mov_ds = b"\x8e\xd8"                                     # mov %eax, %ds
    _, gp1 = _scratch(b"\x66\xb8\x38\x12" + mov_ds)           # #GP(0x1238): beyond GDT limit
    _, gp2 = _scratch(b"\x66\xb8\x58\x23" + mov_ds)           # #GP(0x2358)
    _, de = _scratch(b"\x31\xc9\xf7\xf1")                     # xor ecx,ecx; div ecx
    _, bp = _scratch(b"\xcc")                                 # int3
    for ctxs in (gp1, gp2, de, bp):
        if len(ctxs) != 2:
            raise LayoutError("unicorn: a probe exception did not reach UC_HOOK_INTR")
    rng = range(segs, len(b) - 4, 4)               # past the general registers
    err = _unique([o for o in rng if _i32(gp1[1], o) == 0x1238 and _i32(gp2[1], o) == 0x2358],
                  "error_code")
    old = _unique([o for o in rng if _i32(gp1[0], o) == -1 and _i32(gp1[1], o) == 13
                   and _i32(de[0], o) == -1 and _i32(de[1], o) == 0], "old_exception")
    is_int = err + 4
    if _i32(bp[1], is_int) != 1 or _i32(gp1[1], is_int) != 0:
        raise LayoutError("unicorn context: exception_is_int is not beside error_code")
    return CtxLayout(size=len(b), data=data, hflags=hflags, segs=segs, error_code=err,
                     exception_is_int=is_int, old_exception=old)


class CpuContext:
    """A reusable saved context of one Uc with typed access to the probed fields.

    save() copies the CPU into it, restore() copies it back; between the two, reads and
    writes go straight to the context bytes (no copies)."""

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self.lay = layout()
        self.ctx = uc.context_save()
        if self.ctx.size != self.lay.size:
            raise LayoutError(f"context size {self.ctx.size} != probed {self.lay.size}")
        self.buf = (ctypes.c_char * self.ctx.size).from_address(self.ctx.context.value)

    def save(self) -> "CpuContext":
        self.uc.context_update(self.ctx)
        return self

    def restore(self) -> None:
        self.uc.context_restore(self.ctx)

    # --- fields -------------------------------------------------------------------------------
    def u64(self, off: int) -> int:
        return _U64.unpack_from(self.buf, off)[0]

    def reg(self, n: int) -> int:
        """General register n (REG_*: QEMU's order rax rcx rdx rbx rsp rbp rsi rdi r8..r15)."""
        return self.u64(self.lay.data + 8 * n)

    def set_reg(self, n: int, v: int) -> None:
        _U64.pack_into(self.buf, self.lay.data + 8 * n, v)

    @property
    def rip(self) -> int:
        return self.u64(self.lay.eip)

    @rip.setter
    def rip(self, v: int) -> None:
        _U64.pack_into(self.buf, self.lay.eip, v)

    @property
    def rsp(self) -> int:
        return self.u64(self.lay.rsp)

    @rsp.setter
    def rsp(self, v: int) -> None:
        _U64.pack_into(self.buf, self.lay.rsp, v)

    def cr(self, n: int) -> int:
        return self.u64(self.lay.cr(n))

    def set_cr2(self, v: int) -> None:
        _U64.pack_into(self.buf, self.lay.cr(2), v)

    def gdt(self) -> tuple[int, int]:
        """(base, limit)"""
        _, base, limit, _ = _SEG.unpack_from(self.buf, self.lay.gdt)
        return base, limit

    def idt(self) -> tuple[int, int]:
        _, base, limit, _ = _SEG.unpack_from(self.buf, self.lay.idt)
        return base, limit

    def tr(self) -> tuple[int, int, int]:
        """(selector, base, limit)"""
        sel, base, limit, _ = _SEG.unpack_from(self.buf, self.lay.tr)
        return sel, base, limit

    @property
    def hflags(self) -> int:
        return _U32.unpack_from(self.buf, self.lay.hflags)[0]

    @hflags.setter
    def hflags(self, v: int) -> None:
        _U32.pack_into(self.buf, self.lay.hflags, v)

    @property
    def cpl(self) -> int:
        return self.hflags & HF_CPL_MASK

    @property
    def irq_shadow(self) -> bool:
        return bool(self.hflags & HF_INHIBIT_IRQ)

    @property
    def error_code(self) -> int:
        return _I32.unpack_from(self.buf, self.lay.error_code)[0] & 0xFFFF_FFFF

    @property
    def exception_is_int(self) -> bool:
        return _I32.unpack_from(self.buf, self.lay.exception_is_int)[0] != 0

    def clear_exception_in_flight(self) -> None:
        _I32.pack_into(self.buf, self.lay.old_exception, -1)

    def seg(self, n: int) -> tuple[int, int, int, int]:
        """(selector, base, limit, flags) of segment cache n (SEG_*)."""
        return _SEG.unpack_from(self.buf, self.lay.segs + n * _SEG.size)

    def load_seg(self, n: int, selector: int, base: int, limit: int, flags: int) -> None:
        """What QEMU's cpu_x86_load_seg_cache does in long mode: fill the cache and update
        the hidden flags (CS: code size; SS: CPL = DPL and stack size)."""
        _SEG.pack_into(self.buf, self.lay.segs + n * _SEG.size, selector, base, limit, flags)
        hf = self.hflags
        if n == SEG_CS:
            if hf & HF_LMA and flags & DESC_L:
                hf = (hf | HF_CS32 | HF_SS32 | HF_CS64) & ~HF_ADDSEG
            else:
                hf = (hf & ~(HF_CS32 | HF_CS64)) | ((flags & DESC_B) >> (22 - 4))
        if n == SEG_SS:
            hf = (hf & ~HF_CPL_MASK) | ((flags >> DESC_DPL_SHIFT) & 3)
        if not hf & HF_CS64:
            hf = (hf & ~HF_SS32) | ((self.seg(SEG_SS)[3] & DESC_B) >> (22 - 5))
        self.hflags = hf


# ---- CPUID -----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def native_cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """(eax, ebx, ecx, edx) that unicorn's CPU model returns for a leaf."""
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 0x2000)
    code = b"\x0f\xa2"                                        # cpuid
    uc.mem_write(0x1000, code)
    uc.reg_write(X.UC_X86_REG_RAX, leaf)
    uc.reg_write(X.UC_X86_REG_RCX, subleaf)
    uc.emu_start(0x1000, 0x1000 + len(code))
    return tuple(uc.reg_read(r) & 0xFFFF_FFFF for r in (X.UC_X86_REG_RAX, X.UC_X86_REG_RBX,
                                                        X.UC_X86_REG_RCX, X.UC_X86_REG_RDX))


@lru_cache(maxsize=None)
def tsc_khz(span_s: float = 0.02) -> int:
    """The frequency of unicorn's `rdtsc` (the host's TSC) in kHz, measured against the host's
    monotonic clock over span_s (about 0.05% off; the guest's clock re-measures it against the
    host's as it runs: qkernel/task/clock.py). 0 when it does not advance."""
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 0x2000)
    code = b"\x0f\x31"                                        # rdtsc
    uc.mem_write(0x1000, code)

    def sample() -> tuple[float, int]:
        best: tuple[int, float, int] | None = None
        for _ in range(5):                                   # the tightest of five readings
            a = time.perf_counter_ns()
            uc.emu_start(0x1000, 0x1000 + len(code))
            b = time.perf_counter_ns()
            tsc = (uc.reg_read(X.UC_X86_REG_RDX) & 0xFFFF_FFFF) << 32 | uc.reg_read(X.UC_X86_REG_RAX) & 0xFFFF_FFFF
            if best is None or b - a < best[0]:
                best = (b - a, (a + b) / 2, tsc)
        assert best is not None
        return best[1], best[2]

    t0, c0 = sample()
    time.sleep(span_s)
    t1, c1 = sample()
    if c1 <= c0 or t1 <= t0:
        return 0
    return round((c1 - c0) / (t1 - t0) * 1e6)


# ---- page walk with #PF error codes -------------------------------------------------------
PF_P, PF_W, PF_U, PF_RSVD, PF_I = 1, 2, 4, 8, 16
_ADDR = 0x000F_FFFF_FFFF_F000


class PageFault(Exception):
    def __init__(self, addr: int, error: int) -> None:
        super().__init__(f"#PF at {addr:#x} error {error:#x}")
        self.addr, self.error = addr, error


def walk(read_u64, cr3: int, va: int, *, write: bool = False, user: bool = False,
         fetch: bool = False, wp: bool = True, nxe: bool = True) -> int:
    """Translate va with 4-level paging; raise PageFault(va, error code) as the CPU would.
    read_u64(gpa) reads guest-physical memory (it may raise: that becomes a not-present
    fault)."""
    acc = (PF_W if write else 0) | (PF_U if user else 0) | (PF_I if fetch and nxe else 0)
    top = va >> 47
    if top not in (0, (1 << 17) - 1):
        raise PageFault(va, acc)                     # non-canonical: the CPU raises #GP/#SS
    table = cr3 & _ADDR
    rw = us = True
    nx = False
    for level, shift in ((4, 39), (3, 30), (2, 21), (1, 12)):
        try:
            e = read_u64(table + ((va >> shift) & 511) * 8)
        except Exception:
            raise PageFault(va, acc) from None
        if not e & 1:
            raise PageFault(va, acc)
        rw &= bool(e & 2)
        us &= bool(e & 4)
        nx |= bool(e >> 63) and nxe
        if level in (3, 2) and e & 0x80:
            size = 1 << shift
            pa = (e & _ADDR & ~(size - 1)) | (va & (size - 1))
            break
        table = e & _ADDR
    else:
        pa = table | (va & 0xFFF)
    if (user and not us) or (write and not rw and (user or wp)) or (fetch and nx):
        raise PageFault(va, acc | PF_P)
    return pa
