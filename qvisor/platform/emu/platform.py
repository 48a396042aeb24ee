"""EmuPlatform: the guest kernel under unicorn, with the run loop that turns unicorn's stops into
KVM-style exits, the hooks unicorn calls inside emu_start, and the boot CPU state. See the
package docstring for the run model and the unicorn facts it rests on."""

from __future__ import annotations

import io
import os
import struct
import time

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INSN_INVALID, UC_HOOK_INTR,
                     UC_HOOK_MEM_UNMAPPED, UC_MEM_FETCH_UNMAPPED, UC_MEM_WRITE_UNMAPPED, UC_MODE_64,
                     UC_PROT_ALL, Uc, UcError)
from unicorn import x86_const as X

from qkernel.abi import CAP_NO_PROGRAM_TICK

from ...kvm import ioctls as K
from ...kvm.exits import Exit, Hlt, InternalError, Interrupted, IoIn, IoOut, Mmio, Shutdown
from ...memory import DEFAULT_SIZE, GuestMemory
from ...pagetables import BootLayout, BootState, CpuFeatures, Segment, build_boot_state
from .. import Handlers, Regs, RunTimeout
from ..loader import load_elf, load_flat
from . import cpu as C
from .apic import MsrSites, X2Apic
from .delivery import MASK64, MSR_EFER, NS, RF_IF, VEC_UD, CpuDelivery, Fault
from .kicker import Kicker

CPUID1_ECX_X2APIC = 1 << 21
# The host's leaf-1 features unicorn cannot execute (FMA, XSAVE/OSXSAVE, AVX, F16C, RDRAND): hidden,
# so programs (glibc's ifunc selection) pick the SSE2 paths instead of faulting on xgetbv/AVX.
CPUID1_ECX_UNEMULATED = (1 << 12) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29) | (1 << 30)

# emu_start's `until`: 0 = none. Any other value is harmful: when emulation stops, unicorn
# looks the until address up in the guest's current page tables, and a failing lookup raises a
# fault no hook sees that still sets QEMU's exception latch and error code (a later #GP then
# arrives as #DF). A guest jump to 0 still faults normally.
_UNTIL = 0

_REGS = (("rax", X.UC_X86_REG_RAX), ("rbx", X.UC_X86_REG_RBX), ("rcx", X.UC_X86_REG_RCX),
         ("rdx", X.UC_X86_REG_RDX), ("rsi", X.UC_X86_REG_RSI), ("rdi", X.UC_X86_REG_RDI),
         ("rsp", X.UC_X86_REG_RSP), ("rbp", X.UC_X86_REG_RBP), ("r8", X.UC_X86_REG_R8),
         ("r9", X.UC_X86_REG_R9), ("r10", X.UC_X86_REG_R10), ("r11", X.UC_X86_REG_R11),
         ("r12", X.UC_X86_REG_R12), ("r13", X.UC_X86_REG_R13), ("r14", X.UC_X86_REG_R14),
         ("r15", X.UC_X86_REG_R15), ("rip", X.UC_X86_REG_RIP), ("rflags", X.UC_X86_REG_RFLAGS),
         ("cs", X.UC_X86_REG_CS), ("ss", X.UC_X86_REG_SS), ("cr0", X.UC_X86_REG_CR0),
         ("cr2", X.UC_X86_REG_CR2), ("cr3", X.UC_X86_REG_CR3), ("cr4", X.UC_X86_REG_CR4))
_SEG_REGS = {"cs": X.UC_X86_REG_CS, "ss": X.UC_X86_REG_SS, "ds": X.UC_X86_REG_DS,
             "es": X.UC_X86_REG_ES, "fs": X.UC_X86_REG_FS, "gs": X.UC_X86_REG_GS}


def _seg_flags(s: Segment) -> int:
    """QEMU's descriptor-cache flags (the descriptor's high dword) for a BootState segment."""
    return (s.type << 8 | s.s << 12 | s.dpl << 13 | s.present << 15 | s.avl << 20 | s.l << 21
            | s.db << 22 | s.g << 23)


def features_from_cpuid() -> CpuFeatures:
    """What unicorn's CPU model offers, for the boot page tables."""
    edx1 = C.native_cpuid(1)[3]
    ebx7 = C.native_cpuid(7)[1]
    edx81 = C.native_cpuid(0x8000_0001)[3]
    return CpuFeatures(nx=bool(edx81 >> 20 & 1), gbpages=bool(edx81 >> 26 & 1),
                       pge=bool(edx1 >> 13 & 1), fsgsbase=bool(ebx7 & 1))


class EmuPlatform(CpuDelivery, MsrSites):
    name = "emu"
    boot_caps = CAP_NO_PROGRAM_TICK   # qkernel.abi CAP_*: unicorn runs CPL 0 at full speed, but a
    #                                   tick injected into a running program can re-run its instructions
    fault_around = 0

    #: how long an interrupt may wait for RFLAGS.IF=1 between two checks (seconds)
    PENDING_POLL_S = 0.0005
    #: the longest sleep of a halted CPU between two looks at interrupt() (seconds)
    HALT_SLICE_S = 0.05

    def __init__(self, mem_size: int = DEFAULT_SIZE, layout: BootLayout = BootLayout()) -> None:
        self.layout = layout
        self.memory = GuestMemory(mem_size)
        self._kicker: Kicker | None = None
        try:
            self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64)
            uc.mem_map_ptr(0, mem_size, UC_PROT_ALL, self.memory.host_address)
            self._ram = self.memory.view(0, mem_size)     # for the platform's own accesses
            self.features = features_from_cpuid()
            self.tsc_khz = C.tsc_khz()             # BootParams.tsc_khz (the guest's TSC clock)
            self._cpuid1 = C.native_cpuid(1)
            self.cpu = C.CpuContext(uc)            # probes the context layout (once a process)
            self._pristine = uc.context_save()
            uc.hook_add(UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
            uc.hook_add(UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
            uc.hook_add(UC_HOOK_INSN, self._on_cpuid, None, 1, 0, X.UC_X86_INS_CPUID)
            uc.hook_add(UC_HOOK_INSN, self._on_syscall, None, 1, 0, X.UC_X86_INS_SYSCALL)
            uc.hook_add(UC_HOOK_INTR, self._on_intr)
            uc.hook_add(UC_HOOK_INSN_INVALID, self._on_invalid)
            uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
            self._kicker = Kicker(uc)
        except BaseException:
            self.close()
            raise
        self.apic = X2Apic()
        self.entry: int | None = None
        self.span = 0
        self.boot_state: BootState | None = None
        self.last_error: str | None = None      # why the last InternalError/Shutdown happened
        self.stats = {"exceptions": 0, "interrupts": 0, "syscalls": 0, "slices": 0}
        self._msr_sites: set[int] = set()
        self._hlt_sites: set[int] = set()      # kernel bytes F4 with a code hook (_find_hlt_sites)
        self._hlt_seen: int | None = None       # the hlt that began last in this slice
        self._rdmsr_result: tuple[int, int] | None = None   # (successor rip, value)
        self._h: Handlers | None = None
        self._outs: dict = {}
        self._interrupts = 0                   # interrupt() calls, ever
        self._interrupt_req = False            # run() owes an Interrupted exit
        self._reset_run_state()

    def _reset_run_state(self) -> None:
        self._pending_exc: int | None = None
        self._exc_info: tuple[int, bool] = (0, False)     # (error code, software interrupt)
        self._pending_syscall = False
        self._stop_exit: Exit | None = None
        self._fault_exit: Exit | None = None
        self._shutdown = False
        self._nexits = 0
        self._max_exits: int | None = None

    # --- loading ---------------------------------------------------------------------------------
    def load_flat(self, blob: bytes, vaddr: int) -> int:
        """Put raw code at kernel-window address vaddr and make it the entry point."""
        self.span = max(self.span, load_flat(self.memory, self.layout, blob, vaddr))
        self._find_msr_sites(bytes(blob), vaddr)
        self._find_hlt_sites(bytes(blob), vaddr)
        self.entry = vaddr
        self.reset_cpu()
        return vaddr

    def load_elf(self, image: str | bytes | os.PathLike) -> int:
        if not isinstance(image, (bytes, bytearray, memoryview)):
            with open(image, "rb") as f:
                image = f.read()
        image = bytes(image)
        self.entry, span = load_elf(self.memory, self.layout, image)
        self.span = max(self.span, span)
        from elftools.elf.elffile import ELFFile
        for seg in ELFFile(io.BytesIO(image)).iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 1:      # PF_X
                self._find_msr_sites(seg.data()[: seg["p_filesz"]], seg["p_vaddr"])
                self._find_hlt_sites(seg.data()[: seg["p_filesz"]], seg["p_vaddr"])
        self.reset_cpu()
        return self.entry

    load_kernel = load_elf

    def reset_cpu(self) -> None:
        """(Re)write page tables/GDT/TSS and load the boot state into a freshly reset CPU."""
        if self.entry is None:
            raise ValueError("no kernel loaded")
        uc = self.uc
        st = self.boot_state = build_boot_state(self.memory, self.layout, self.span,
                                                self.features)
        uc.context_restore(self._pristine)
        uc.ctl_flush_tb()
        self.apic.reset()
        self._reset_run_state()
        self._rdmsr_result = None
        self.last_error = None
        uc.reg_write(X.UC_X86_REG_GDTR, (0, st.gdt_base, st.gdt_limit, 0))
        uc.reg_write(X.UC_X86_REG_IDTR, (0, st.idt_base, st.idt_limit, 0))
        uc.reg_write(X.UC_X86_REG_CR3, st.cr3)
        uc.reg_write(X.UC_X86_REG_CR4, st.cr4)
        uc.msr_write(MSR_EFER, st.efer)
        uc.reg_write(X.UC_X86_REG_CR0, st.cr0)
        for name in ("cs", "ss", "ds", "es", "fs", "gs"):
            uc.reg_write(_SEG_REGS[name], st.segments[name].selector)
        tr = st.segments["tr"]
        uc.reg_write(X.UC_X86_REG_TR, (tr.selector, tr.base, tr.limit, _seg_flags(tr)))
        uc.reg_write(X.UC_X86_REG_RSP, st.rsp)
        uc.reg_write(X.UC_X86_REG_RDI, st.rdi)
        uc.reg_write(X.UC_X86_REG_RFLAGS, st.rflags)
        uc.reg_write(X.UC_X86_REG_RIP, self.entry)

    def flush_code(self) -> None:
        """Drop unicorn's translated code: call after the host writes code into guest memory
        (unicorn sees guest writes to code pages, not host writes)."""
        self.uc.ctl_flush_tb()

    # --- running -----------------------------------------------------------------------------
    def run(self, handlers: Handlers, *, timeout: float | None = None,
            max_exits: int | None = None) -> Exit:
        """Run the guest until a handler returns True; return that exit. timeout (seconds)
        raises RunTimeout (any thread); max_exits bounds the number of exits handled."""
        if self.entry is None:
            raise ValueError("no kernel loaded")
        self._h = handlers
        self._outs = handlers.out_ports if type(handlers).io_out is Handlers.io_out else {}
        self._nexits = 0
        self._max_exits = max_exits
        self._stop_exit = None
        t_end = None if timeout is None else time.monotonic() + timeout
        try:
            return self._loop(handlers, t_end, timeout)
        finally:
            self._h = None

    def _count(self, e: Exit, stop: bool) -> bool:
        """Book-keeping shared by every exit; True when run() must return e."""
        if stop:
            return True
        self._nexits += 1
        return self._max_exits is not None and self._nexits >= self._max_exits

    def _loop(self, h: Handlers, t_end: float | None, timeout: float | None) -> Exit:
        uc, apic, kicker = self.uc, self.apic, self._kicker
        while True:
            if self._shutdown:
                self._shutdown = False
                e = Shutdown()
                h.shutdown(e)           # a triple-faulted CPU cannot go on: always returned
                return e
            now = time.monotonic()
            apic.poll(time.monotonic_ns())
            self._inject_interrupt()
            if self._shutdown:
                continue
            if self._interrupt_req:
                self._interrupt_req = False
                return Interrupted()
            deadline = self._deadline(now, t_end)
            rip = self.cpu.save().rip
            k0, i0 = kicker.kicks, self._interrupts
            self.stats["slices"] += 1
            err: UcError | None = None
            kicker.arm(deadline)
            self._hlt_seen = None
            try:
                uc.emu_start(rip, _UNTIL)
            except UcError as ex:
                err = ex
            finally:                    # also when a handler's exception comes through
                kicker.disarm()
                event = self._take_pending()
            kicked = kicker.kicks != k0 or self._interrupts != i0
            if self._stop_exit is not None:
                e, self._stop_exit = self._stop_exit, None
                return e
            if err is not None:
                # the access or instruction can be neither completed nor skipped: always stop
                e = self._fault_exit or self._internal_error(f"unicorn: {err}", err.errno)
                self._fault_exit = None
                h.mmio(e) if type(e) is Mmio else h.internal_error(e)
                return e
            if self._shutdown:
                continue
            if self._interrupt_req:
                self._interrupt_req = False
                return Interrupted()
            if t_end is not None and time.monotonic() >= t_end:
                raise RunTimeout(timeout, self.regs())
            if event:
                continue
            rip = uc.reg_read(X.UC_X86_REG_RIP)
            if kicked and not self._after_hlt(rip):
                continue
            # a stop with no recorded reason: hlt (also when a timer kick raced with the hlt:
            # resuming would run past it), or unicorn stopped on its own
            if not self._after_hlt(rip):
                e = self._internal_error(f"emulation stopped at {rip:#x} for no known reason")
                h.internal_error(e)
                return e
            if self._halt_sleep(t_end, timeout):
                continue
            e = Hlt()
            if self._count(e, h.hlt(e)):
                return e

    def interrupt(self) -> None:
        """Thread-safe: make run() return an Interrupted exit soon: the running slice stops at
        the end of its translation block. A stop landing just before emu_start clears its flag
        is lost: callers repeat it (qvisor/signals.py does)."""
        self._interrupt_req = True
        self._interrupts += 1
        uc = self.uc
        if uc is not None:
            uc.emu_stop()

    def _take_pending(self) -> bool:
        """Deliver what unicorn reported during the slice; True if there was something."""
        if self._pending_exc is not None:
            self._take_exception()
            return True
        if self._pending_syscall:
            self._pending_syscall = False
            self._take_syscall()
            return True
        return False

    def _deadline(self, now: float, t_end: float | None) -> float | None:
        cands = []
        if t_end is not None:
            cands.append(t_end)
        if self.apic.timer_armed:
            cands.append(now + max(0, self.apic.next_ns - time.monotonic_ns()) / NS)
        if self.apic.irr:
            cands.append(now + self.PENDING_POLL_S)
        return min(cands) if cands else None

    def _halt_sleep(self, t_end: float | None, timeout: float | None) -> bool:
        """hlt with RFLAGS.IF=1: wait for the next interrupt (True), or False when none can
        come (interrupts off, or no interrupt pending and no timer armed)."""
        if not self.uc.reg_read(X.UC_X86_REG_RFLAGS) & RF_IF:
            return False
        apic = self.apic
        while True:
            apic.poll(time.monotonic_ns())
            if apic.deliverable() is not None or self._interrupt_req:
                return True
            if not apic.timer_armed:
                return False
            wait = min(self.HALT_SLICE_S, max(0, apic.next_ns - time.monotonic_ns()) / NS)
            if t_end is not None:
                left = t_end - time.monotonic()
                if left <= wait:
                    time.sleep(max(0.0, left))
                    raise RunTimeout(timeout, self.regs())
            time.sleep(wait)

    def _find_hlt_sites(self, code: bytes, vaddr: int) -> None:
        """A bounded code hook on every F4 byte of the kernel's code: it fires only where an
        instruction starts there, i.e. on a real hlt, and records it (_hlt_seen). A stop right
        after a byte F4 that ends another instruction (a timer kick landing there) is then not
        taken for a hlt."""
        i = code.find(b"\xf4")
        while i >= 0:
            a = vaddr + i
            if a not in self._hlt_sites:
                self._hlt_sites.add(a)
                self.uc.hook_add(UC_HOOK_CODE, self._on_hlt_site, None, a, a)
            i = code.find(b"\xf4", i + 1)

    def _on_hlt_site(self, uc: Uc, addr: int, size: int, _ud) -> None:
        if size == 1:
            self._hlt_seen = addr

    def _after_hlt(self, rip: int) -> bool:
        """Whether the slice stopped because a hlt ran (rip just past it)."""
        if self.uc.reg_read(X.UC_X86_REG_CS) & 3:
            return False                # hlt at CPL 3 faults (#GP); it never stops the CPU
        a = (rip - 1) & MASK64
        if a in self._hlt_sites:
            return self._hlt_seen == a
        try:
            return self._vread(a, 1) == b"\xf4"      # code the hooks do not cover
        except Fault:
            return False

    def _internal_error(self, msg: str, uc_errno: int = 0) -> InternalError:
        """An InternalError like KVM's emulation failure: data[0] = 1 (instruction bytes
        follow), data[1..2] = length byte + up to 15 bytes at RIP, data[3] = unicorn's error
        number, data[4] = RIP. The readable reason is in self.last_error."""
        rip = self.uc.reg_read(X.UC_X86_REG_RIP)
        insn = b""
        for n in range(15, 0, -1):
            try:
                insn = self._vread(rip, n)
                break
            except Fault:
                continue
        raw = (bytes([len(insn)]) + insn).ljust(16, b"\0")
        w1, w2 = struct.unpack("<QQ", raw)
        self.last_error = f"{msg} (rip {rip:#x})"
        return InternalError(K.KVM_INTERNAL_ERROR_EMULATION, (1, w1, w2, uc_errno, rip))

    # --- hooks (called by unicorn inside emu_start) ------------------------------------------
    def _stop(self, e: Exit) -> None:
        if self._stop_exit is None:
            self._stop_exit = e
        self.uc.emu_stop()

    def _on_out(self, uc: Uc, port: int, size: int, value: int, _ud) -> None:
        e = IoOut(port, size, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
        fn = self._outs.get(port)
        stop = self._h.io_out(e) if fn is None else fn(e)
        if self._count(e, bool(stop)):
            self._stop(e)

    def _on_in(self, uc: Uc, port: int, size: int, _ud) -> int:
        mask = (1 << 8 * size) - 1
        e = IoIn(port, size)
        v = self._h.io_in(e)
        if self._count(e, v is None):
            self._stop(e)
        return mask if v is None else v & mask

    def _on_cpuid(self, uc: Uc, _ud) -> int:
        if uc.reg_read(X.UC_X86_REG_RAX) & 0xFFFF_FFFF != 1:
            return 0                                # unicorn's own answer
        a, b, c, d = self._cpuid1
        uc.reg_write(X.UC_X86_REG_RAX, a)
        uc.reg_write(X.UC_X86_REG_RBX, b)
        uc.reg_write(X.UC_X86_REG_RCX, (c | CPUID1_ECX_X2APIC) & ~CPUID1_ECX_UNEMULATED)
        uc.reg_write(X.UC_X86_REG_RDX, d)
        return 1

    def _on_syscall(self, uc: Uc, _ud) -> None:
        self._pending_syscall = True                # RIP is already past the instruction
        uc.emu_stop()

    def _on_intr(self, uc: Uc, intno: int, _ud) -> None:
        # the error code and the software-interrupt flag, read while they are fresh
        cpu = self.cpu.save()
        self._pending_exc = intno
        self._exc_info = (cpu.error_code, cpu.exception_is_int)
        uc.emu_stop()

    def _on_invalid(self, uc: Uc, _ud) -> bool:
        self._pending_exc = VEC_UD                  # RIP is at the instruction
        self._exc_info = (0, False)
        uc.emu_stop()                               # "handled" alone re-executes it forever
        return True

    def _on_unmapped(self, uc: Uc, access: int, addr: int, size: int, value: int, _ud) -> bool:
        if access == UC_MEM_WRITE_UNMAPPED:
            self._fault_exit = Mmio(addr, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"),
                                    True)
        elif access == UC_MEM_FETCH_UNMAPPED:
            self._fault_exit = None                 # InternalError: code outside RAM
        else:
            self._fault_exit = Mmio(addr, b"\xff" * min(size, 8), False)
        return False

    # --- inspection --------------------------------------------------------------------------
    def regs(self) -> Regs:
        vals = {name: self.uc.reg_read(r) for name, r in _REGS}
        return Regs(**vals, efer=self.uc.msr_read(MSR_EFER))

    def close(self) -> None:
        k = getattr(self, "_kicker", None)
        if k is not None:
            k.close()
            self._kicker = None
        uc = getattr(self, "uc", None)
        if uc is not None:
            # uc_close now, before the memory it maps goes: unicorn 2.1.4 has no public close,
            # its weakref finalizer is the one (mem_unmap first would cost ~13 ms per GiB)
            release = getattr(uc, "_Uc__finalizer", None)
            if release is not None:
                release()
            else:
                try:
                    uc.mem_unmap(0, self.memory.size)
                except UcError:
                    pass
            self.uc = None
        ram = getattr(self, "_ram", None)
        if ram is not None:
            ram.release()
            self._ram = None
        mem = getattr(self, "memory", None)
        if mem is not None:
            mem.close()

    def __enter__(self) -> "EmuPlatform":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

