"""Exception, interrupt and `syscall` delivery for the emu platform, as the CPU does it: unicorn
only reports them (UC_HOOK_INTR, UC_HOOK_INSN for syscall, UC_HOOK_INSN_INVALID for #UD).

CpuDelivery, a base of EmuPlatform, delivers through the guest IDT (64-bit mode, SDM vol. 3
6.14): gate checks, the IST / RSP0 stack switch from the TSS, the frame (+ error code), CR2,
IF/TF clearing, ring 3 -> ring 0; a fault while delivering follows the SDM's double-fault table
up to a triple fault (EmuPlatform then returns Shutdown). `syscall` enters LSTAR at CPL 0.
Its accesses to guest memory are the CPU's supervisor accesses, through the guest's page tables
(cpu.walk). Expects of the platform: uc, cpu (a cpu.CpuContext), memory, _ram (a view of it),
apic, stats, last_error, _shutdown, and _pending_exc / _exc_info (set by the hooks).
"""

from __future__ import annotations

import struct

from unicorn import x86_const as X

from . import cpu as C

MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_FMASK = 0xC000_0080, 0xC000_0081, 0xC000_0082, 0xC000_0084
EFER_SCE = 1
RF_TF, RF_IF, RF_NT, RF_RF, RF_VM = 1 << 8, 1 << 9, 1 << 14, 1 << 16, 1 << 17
VEC_DE, VEC_DB, VEC_BP, VEC_UD, VEC_DF, VEC_TS, VEC_NP, VEC_SS, VEC_GP, VEC_PF = (
    0, 1, 3, 6, 8, 10, 11, 12, 13, 14)
HAS_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
MASK64 = (1 << 64) - 1
NS = 1_000_000_000
_U64 = struct.Struct("<Q")


class Fault(Exception):
    """An exception raised while delivering another one (or by the platform itself)."""

    def __init__(self, vector: int, error: int = 0, cr2: int | None = None) -> None:
        super().__init__(f"vector {vector} error {error:#x}")
        self.vector, self.error, self.cr2 = vector, error, cr2


class CpuDelivery:
    # --- guest virtual memory (supervisor accesses made by the "CPU") ------------------------
    def _mmu(self, cpu: C.CpuContext | None = None) -> tuple[int, bool]:
        """(CR3, CR0.WP) from a saved context (a fresh one if None)."""
        cpu = cpu or self.cpu.save()
        return cpu.cr(3), bool(cpu.cr(0) & 1 << 16)

    def _translate(self, mmu: tuple[int, bool], va: int, write: bool) -> int:
        try:
            return C.walk(self._read_pa, mmu[0], va, write=write, wp=mmu[1])
        except C.PageFault as pf:
            raise Fault(VEC_PF, pf.error, cr2=pf.addr) from None

    def _read_pa(self, pa: int) -> int:
        return _U64.unpack_from(self._ram, pa)[0]       # struct.error beyond RAM

    def _vread(self, va: int, n: int, mmu: tuple[int, bool] | None = None) -> bytes:
        mmu = mmu or self._mmu()
        out = b""
        while n:
            k = min(n, 0x1000 - (va & 0xFFF))
            pa = self._translate(mmu, va, False)
            if pa + k > self.memory.size:
                raise Fault(VEC_PF, 0, cr2=va)
            out += self._ram[pa: pa + k]
            va, n = (va + k) & MASK64, n - k
        return out

    def _vwrite(self, va: int, data: bytes, mmu: tuple[int, bool]) -> None:
        pieces, off = [], 0
        while off < len(data):                       # translate all pages before writing
            k = min(len(data) - off, 0x1000 - (va & 0xFFF))
            pa = self._translate(mmu, va, True)
            if pa + k > self.memory.size:
                raise Fault(VEC_PF, C.PF_W, cr2=va)
            pieces.append((pa, data[off: off + k]))
            va, off = (va + k) & MASK64, off + k
        for pa, chunk in pieces:
            self._ram[pa: pa + len(chunk)] = chunk

    # --- exceptions, interrupts, syscall ------------------------------------------------------
    def _take_exception(self) -> None:
        """Deliver the exception unicorn reported (RIP: the faulting instruction, or the one
        after int3/int n)."""
        vector, self._pending_exc = self._pending_exc, None
        self.stats["exceptions"] += 1
        err, soft = self._exc_info
        self._raise(vector, err if vector in HAS_ERROR_CODE else 0, soft=soft)

    def _inject_interrupt(self) -> None:
        apic = self.apic
        v = apic.deliverable()
        if v is None or not self.uc.reg_read(X.UC_X86_REG_RFLAGS) & RF_IF:
            return
        if self.cpu.save().irq_shadow:
            return
        apic.acknowledge(v)
        self.stats["interrupts"] += 1
        self._raise(v, 0, external=True)

    def _raise(self, vector: int, error: int, *, soft: bool = False,
               external: bool = False) -> None:
        """Deliver vector; faults while doing so follow the double-fault rules; a fault while
        delivering #DF is a triple fault (sets self._shutdown). Works on one saved context:
        read, patched (frame registers, segments, CR2, QEMU's exception latch) and restored."""
        cpu = self.cpu.save()
        cpu.clear_exception_in_flight()
        rflags = self.uc.reg_read(X.UC_X86_REG_RFLAGS)
        while True:
            try:
                rflags = self._deliver(cpu, rflags, vector, error, soft=soft, external=external)
                break
            except Fault as f:
                if f.cr2 is not None and f.vector == VEC_PF:
                    cpu.set_cr2(f.cr2)
                if vector == VEC_DF:
                    self.last_error = (f"triple fault: vector {f.vector} (error {f.error:#x}) "
                                       f"while delivering #DF")
                    self._shutdown = True
                    cpu.restore()
                    return
                first_pf = vector == VEC_PF and not external
                first_contrib = vector in CONTRIBUTORY and not external and not soft
                if ((first_contrib and f.vector in CONTRIBUTORY)
                        or (first_pf and (f.vector in CONTRIBUTORY or f.vector == VEC_PF))):
                    vector, error = VEC_DF, 0
                else:
                    vector, error = f.vector, f.error
                soft = external = False
        cpu.restore()
        self.uc.reg_write(X.UC_X86_REG_RFLAGS, rflags)

    def _deliver(self, cpu: C.CpuContext, rflags: int, vector: int, error: int, *, soft: bool,
                 external: bool) -> int:
        """One delivery attempt (64-bit mode, SDM vol. 3 6.14): raises Fault before changing
        anything, else patches cpu and returns the handler's RFLAGS."""
        ext = 0 if soft else 1
        idt_err = vector * 8 + 2 + ext
        mmu = self._mmu(cpu)
        idt_base, idt_limit = cpu.idt()
        if vector * 16 + 15 > idt_limit:
            raise Fault(VEC_GP, idt_err)
        lo, hi = struct.unpack("<QQ", self._vread((idt_base + vector * 16) & MASK64, 16, mmu))
        offset = (lo & 0xFFFF) | (lo >> 48 & 0xFFFF) << 16 | (hi & 0xFFFF_FFFF) << 32
        sel, ist = lo >> 16 & 0xFFFF, lo >> 32 & 7
        gtype, gdpl, gpresent = lo >> 40 & 0xF, lo >> 45 & 3, lo >> 47 & 1
        if gtype not in (0xE, 0xF):
            raise Fault(VEC_GP, idt_err)
        cpl = cpu.cpl
        if soft and gdpl < cpl:
            raise Fault(VEC_GP, vector * 8 + 2)
        if not gpresent:
            raise Fault(VEC_NP, idt_err)
        # the handler's code segment
        if sel & 0xFFFC == 0:
            raise Fault(VEC_GP, ext)
        e1, e2 = self._descriptor(cpu, mmu, sel, ext)
        dpl = e2 >> C.DESC_DPL_SHIFT & 3
        if (e2 & (C.DESC_S | C.DESC_CODE)) != (C.DESC_S | C.DESC_CODE) or dpl > cpl:
            raise Fault(VEC_GP, (sel & 0xFFFC) + ext)
        if not e2 & C.DESC_P:
            raise Fault(VEC_NP, (sel & 0xFFFC) + ext)
        if not e2 & C.DESC_L or e2 & C.DESC_B:
            raise Fault(VEC_GP, (sel & 0xFFFC) + ext)
        if e2 & (1 << 10):                           # conforming: stays at CPL
            dpl = cpl
        # the stack: IST, else RSP0..2 on a privilege change, else the current one
        old_rsp = cpu.rsp
        if ist:
            rsp = self._tss_u64(cpu, mmu, 36 + 8 * (ist - 1), ext)
        elif dpl < cpl:
            rsp = self._tss_u64(cpu, mmu, 4 + 8 * dpl, ext)
        else:
            rsp = old_rsp
        rsp &= ~0xF
        if rsp >> 47 not in (0, (1 << 17) - 1):
            raise Fault(VEC_SS, ext if dpl != cpl else 0)
        old_cs = cpu.seg(C.SEG_CS)[0]
        frame = [cpu.seg(C.SEG_SS)[0], old_rsp, rflags, old_cs, cpu.rip]
        if vector in HAS_ERROR_CODE and not soft and not external:
            frame.append(error & 0xFFFF_FFFF)
        new_rsp = (rsp - 8 * len(frame)) & MASK64
        self._vwrite(new_rsp, struct.pack(f"<{len(frame)}Q", *reversed(frame)), mmu)
        # commit
        cs_sel = (sel & 0xFFFC) | dpl
        if cs_sel != old_cs or dpl != cpl:
            cpu.load_seg(C.SEG_CS, cs_sel, 0, 0xFFFF_FFFF, e2)
            if dpl != cpl:
                cpu.load_seg(C.SEG_SS, dpl, 0, 0, dpl << C.DESC_DPL_SHIFT)
        cpu.rsp = new_rsp
        cpu.rip = offset
        rflags &= ~(RF_TF | RF_NT | RF_RF | RF_VM)
        if gtype == 0xE:
            rflags &= ~RF_IF
        return rflags

    def _descriptor(self, cpu: C.CpuContext, mmu, sel: int, ext: int) -> tuple[int, int]:
        if sel & 4:
            raise Fault(VEC_GP, (sel & 0xFFFC) + ext)     # no LDT support
        base, limit = cpu.gdt()
        idx = sel & 0xFFF8
        if idx + 7 > limit:
            raise Fault(VEC_GP, (sel & 0xFFFC) + ext)
        return struct.unpack("<II", self._vread((base + idx) & MASK64, 8, mmu))

    def _tss_u64(self, cpu: C.CpuContext, mmu, off: int, ext: int) -> int:
        tr_sel, base, limit = cpu.tr()
        if off + 7 > limit:
            raise Fault(VEC_TS, (tr_sel & 0xFFFC) + ext)
        return struct.unpack("<Q", self._vread((base + off) & MASK64, 8, mmu))[0]

    def _take_syscall(self) -> None:
        """`syscall` as the CPU does it (unicorn only called our hook and moved RIP past it)."""
        uc = self.uc
        self.stats["syscalls"] += 1
        if not uc.msr_read(MSR_EFER) & EFER_SCE:
            cpu = self.cpu.save()
            cpu.rip = (cpu.rip - 2) & MASK64
            cpu.restore()
            self._raise(VEC_UD, 0)
            return
        star, lstar, fmask = (uc.msr_read(m) for m in (MSR_STAR, MSR_LSTAR, MSR_FMASK))
        rflags = uc.reg_read(X.UC_X86_REG_RFLAGS)
        cpu = self.cpu.save()
        cpu.set_reg(C.REG_RCX, cpu.rip)
        cpu.set_reg(C.REG_R11, rflags & ~RF_RF)
        sel = star >> 32 & 0xFFFC
        g, p, s, a = 1 << 23, C.DESC_P, C.DESC_S, 1 << 8
        cpu.load_seg(C.SEG_CS, sel, 0, 0xFFFF_FFFF, g | p | s | C.DESC_CODE | 1 << 9 | a | C.DESC_L)
        cpu.load_seg(C.SEG_SS, sel + 8, 0, 0xFFFF_FFFF, g | C.DESC_B | p | s | 1 << 9 | a)
        cpu.rip = lstar
        cpu.restore()
        uc.reg_write(X.UC_X86_REG_RFLAGS, rflags & ~fmask & ~RF_RF)
