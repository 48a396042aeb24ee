"""The emu platform: the guest kernel under unicorn (QEMU's TCG), for hosts without /dev/kvm.

Owns: one unicorn x86-64 CPU over all of GuestMemory (mapped with mem_map_ptr at guest-physical 0,
so the host's GuestMemory and the guest see the same bytes), the boot CPU state from
pagetables.build_boot_state, and what unicorn leaves out and a KVM vCPU does itself:
- exits: `out`/`in` become IoOut/IoIn (qvisor.kvm.exits, so handlers are platform-neutral),
  `hlt` becomes Hlt, a triple fault Shutdown, an emulation failure InternalError, an access to
  guest-physical memory outside RAM Mmio;
- exception and interrupt delivery through the guest IDT (unicorn only reports them): gate
  checks, IST / RSP0 stack switch from the TSS, the 64-bit frame (+ error code), CR2, IF/TF
  clearing, ring 3 -> ring 0; a fault while delivering follows the SDM's double-fault table up to
  a triple fault (Shutdown);
- a local x2APIC (MSR interface) whose timer is driven by host time, interrupts injected
  when RFLAGS.IF=1 (and no sti/mov-ss shadow); `sti; hlt` sleeps until the next tick;
- CPUID leaf 1 reports x2APIC; `syscall` enters LSTAR at CPL 0 (unicorn's own `syscall` only
  calls a hook and skips the instruction).

Run model (no per-instruction hook anywhere): uc.emu_start runs until something stops it.
Port I/O handlers are called synchronously from unicorn's `in`/`out` hooks, so the guest sees
the result of a qcall immediately, as on KVM; a handler that stops the run stops it at the end of
the current translation block (unicorn cannot stop inside one), so a few more instructions may
have run when run() returns (their port I/O is still served). Exceptions, `syscall` and #UD
stop emulation at once; the platform delivers them between two emu_start calls. Timer ticks:
a helper thread calls uc.emu_stop at the next deadline (unicorn's own emu_start timeout spawns
and joins a thread per call, ~100 us; a plain emu_start costs ~1.5 us).

Unicorn 2.1.4 facts found here (see emu_cpu for the context-field probe):
- UC_HOOK_INSN takes IN, OUT, SYSCALL, SYSENTER and CPUID only: rdmsr/wrmsr/hlt cannot be
  hooked. rdmsr of an unknown MSR returns 0 and wrmsr ignores it, so the x2APIC MSRs are served
  by address-bounded code hooks on every `rdmsr`/`wrmsr` found in the executable parts of the
  loaded image (the hook at the rdmsr's successor puts the value in EAX:EDX after the native
  rdmsr wrote 0); code outside the loaded image gets unicorn's native MSRs;
- `hlt` just ends emu_start with RIP after it (no hook, no error): a stop with no other reason
  and 0xF4 before RIP is a hlt;
- #UD does not reach UC_HOOK_INTR: it ends emu_start with UC_ERR_INSN_INVALID unless a
  UC_HOOK_INSN_INVALID hook returns True, and then unicorn re-executes the instruction forever
  unless the hook also calls emu_stop;
- the error code QEMU computed (#PF P/W/U/I bits, #GP selector) and "software interrupt" are
  only in the CPU context: read there from the UC_HOOK_INTR hook (emu_cpu);
- unicorn never clears QEMU's exception-in-flight latch: without a reset after each delivery
  the next contributory fault silently becomes #DF (emu_cpu.CpuContext);
- emu_start(begin, until) must get until=0 (see _UNTIL);
- uc.emu_stop from a hook takes effect at the end of the translation block; writing RIP from a
  hook restarts translation and can drop a pending stop, so no hook here writes RIP;
- host writes to guest memory do not invalidate translated code: load_* flush it, and
  flush_code() is there for anyone who writes code into guest memory from the host.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import time

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INSN_INVALID,
                     UC_HOOK_INTR, UC_HOOK_MEM_UNMAPPED, UC_MEM_FETCH_UNMAPPED,
                     UC_MEM_WRITE_UNMAPPED, UC_MODE_64, UC_PROT_ALL, Uc, UcError)
from unicorn import x86_const as X

from ..kvm import ioctls as K
from ..kvm.exits import Exit, Hlt, InternalError, Interrupted, IoIn, IoOut, Mmio, Shutdown
from ..memory import DEFAULT_SIZE, GuestMemory
from ..pagetables import BootLayout, BootState, CpuFeatures, Segment, build_boot_state
from . import Handlers, Regs
from . import emu_cpu as C
from .loader import load_elf, load_flat
from . import RunTimeout

__all__ = ["EmuPlatform", "X2Apic", "RunTimeout"]

MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_FMASK = 0xC000_0080, 0xC000_0081, 0xC000_0082, 0xC000_0084
MSR_APIC_BASE = 0x1B
EFER_SCE = 1
RF_TF, RF_IF, RF_NT, RF_RF, RF_VM = 1 << 8, 1 << 9, 1 << 14, 1 << 16, 1 << 17
CPUID1_ECX_X2APIC = 1 << 21
# The host's leaf-1 features unicorn cannot execute (FMA, XSAVE/OSXSAVE, AVX, F16C, RDRAND): hidden,
# so programs (glibc's ifunc selection) pick the SSE2 paths instead of faulting on xgetbv/AVX.
CPUID1_ECX_UNEMULATED = (1 << 12) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29) | (1 << 30)

VEC_DE, VEC_DB, VEC_BP, VEC_UD, VEC_DF, VEC_TS, VEC_NP, VEC_SS, VEC_GP, VEC_PF = (
    0, 1, 3, 6, 8, 10, 11, 12, 13, 14)
HAS_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})

# emu_start's `until`: 0 = none. Any other value is harmful: when emulation stops, unicorn
# looks the until address up in the guest's current page tables, and a failing lookup raises a
# fault no hook sees that still sets QEMU's exception latch and error code (a later #GP then
# arrives as #DF). A guest jump to 0 still faults normally.
_UNTIL = 0
_MASK64 = (1 << 64) - 1
_U64 = struct.Struct("<Q")
_NS = 1_000_000_000

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


class _Fault(Exception):
    """An exception raised while delivering another one (or by the platform itself)."""

    def __init__(self, vector: int, error: int = 0, cr2: int | None = None) -> None:
        super().__init__(f"vector {vector} error {error:#x}")
        self.vector, self.error, self.cr2 = vector, error, cr2


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


# ---- local x2APIC -------------------------------------------------------------------------------
class X2Apic:
    """The local APIC registers a single-CPU kernel uses, through the x2APIC MSRs, and a timer
    on host time (KVM's APIC bus: 1 GHz, so count * divisor nanoseconds, with a floor of
    MIN_PERIOD_NS, the clamp the pvm host applies). Interrupt priority: a vector is delivered
    when its priority class is above the in-service one and the TPR."""

    MIN_PERIOD_NS = 200_000
    BASE_DEFAULT = 0xFEE0_0000 | 1 << 8 | 1 << 11       # BSP, enabled (xAPIC mode)
    EOI, SVR, LVT_TIMER, TIMER_INIT, TIMER_CUR, TIMER_DIV = 0x80B, 0x80F, 0x832, 0x838, 0x839, 0x83E
    LVT_MASKED, LVT_PERIODIC, LVT_MODE = 1 << 16, 1 << 17, 3 << 17
    _DIVS = {0b0000: 2, 0b0001: 4, 0b0010: 8, 0b0011: 16, 0b1000: 32, 0b1001: 64, 0b1010: 128,
             0b1011: 1}

    def __init__(self, clock=time.monotonic_ns) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.base = self.BASE_DEFAULT
        self.svr = 0xFF
        self.tpr = 0
        self.regs: dict[int, int] = {0x832 + i: self.LVT_MASKED for i in range(6)}  # LVTs
        self.init_count = 0
        self.div = 0
        self.irr = 0             # 256-bit bitmaps
        self.isr = 0
        self.next_ns: int | None = None     # next timer expiry (clock ns), None = not counting
        self.period_ns = 0
        self.ticks = 0           # timer expiries seen (delivered or not)

    # --- MSR interface ------------------------------------------------------------------------
    @staticmethod
    def owns(msr: int) -> bool:
        return msr == MSR_APIC_BASE or 0x800 <= msr <= 0x8FF

    def rdmsr(self, msr: int) -> int:
        if msr == MSR_APIC_BASE:
            return self.base
        if msr == 0x802:
            return 0                               # x2APIC ID
        if msr == 0x803:
            return 0x0005_0014                     # version 0x14, 6 LVT entries
        if msr == 0x808:
            return self.tpr
        if msr == 0x80D:
            return 1                               # logical destination (cluster 0, bit 0)
        if msr == self.SVR:
            return self.svr
        if 0x810 <= msr <= 0x817:
            return self.isr >> (32 * (msr - 0x810)) & 0xFFFF_FFFF
        if 0x820 <= msr <= 0x827:
            return self.irr >> (32 * (msr - 0x820)) & 0xFFFF_FFFF
        if msr == self.TIMER_INIT:
            return self.init_count
        if msr == self.TIMER_CUR:
            if self.next_ns is None:
                return 0
            left = max(0, self.next_ns - self.clock())
            return min(self.init_count, left // self.divisor)
        if msr == self.TIMER_DIV:
            return self.div
        return self.regs.get(msr, 0)

    def wrmsr(self, msr: int, value: int) -> None:
        v = value & 0xFFFF_FFFF
        if msr == MSR_APIC_BASE:
            self.base = value & ~0x2FF | self.base & 0x100
        elif msr == 0x808:
            self.tpr = v & 0xFF
        elif msr == self.EOI:
            if self.isr:
                self.isr &= ~(1 << (self.isr.bit_length() - 1))
        elif msr == self.SVR:
            self.svr = v
        elif msr == self.TIMER_INIT:
            self.init_count = v
            self._arm()
        elif msr == self.TIMER_DIV:
            self.div = v & 0b1011
            if self.next_ns is not None:
                self._arm()
        elif msr == self.LVT_TIMER:
            old = self.regs.get(msr, 0)
            self.regs[msr] = v
            if (old ^ v) & self.LVT_MODE:
                self._arm()
        elif msr == 0x83F:                         # SELF IPI
            self.raise_irq(v & 0xFF)
        elif msr == 0x830:                         # ICR: only "self" (shorthand 01) is served
            if (v >> 18) & 3 == 1 and (v >> 8) & 7 == 0:
                self.raise_irq(v & 0xFF)
        elif 0x800 <= msr <= 0x8FF:
            self.regs[msr] = v

    # --- timer ----------------------------------------------------------------------------------
    @property
    def divisor(self) -> int:
        return self._DIVS.get(self.div & 0b1011, 1)

    @property
    def software_enabled(self) -> bool:
        return bool(self.svr & 0x100)

    def _arm(self) -> None:
        mode = self.regs.get(self.LVT_TIMER, 0) & self.LVT_MODE
        if self.init_count == 0 or mode == 2 << 17:      # stopped, or TSC-deadline (unsupported)
            self.next_ns = None
            return
        self.period_ns = max(self.MIN_PERIOD_NS, self.init_count * self.divisor)
        self.next_ns = self.clock() + self.period_ns

    @property
    def timer_armed(self) -> bool:
        """Counting, and its expiry would raise an interrupt."""
        return (self.next_ns is not None and self.software_enabled
                and not self.regs.get(self.LVT_TIMER, 0) & self.LVT_MASKED)

    def poll(self, now: int) -> None:
        """Account for timer expiries up to now (coalesced: one pending interrupt at most)."""
        if self.next_ns is None or now < self.next_ns:
            return
        self.ticks += 1
        lvt = self.regs.get(self.LVT_TIMER, 0)
        if self.software_enabled and not lvt & self.LVT_MASKED:
            self.raise_irq(lvt & 0xFF)
        if lvt & self.LVT_MODE == self.LVT_PERIODIC:
            missed = (now - self.next_ns) // self.period_ns + 1
            self.next_ns += missed * self.period_ns
        else:
            self.next_ns = None

    # --- interrupt state --------------------------------------------------------------------
    def raise_irq(self, vector: int) -> None:
        if vector >= 16:
            self.irr |= 1 << vector

    def deliverable(self) -> int | None:
        """The vector the CPU should take now (if RFLAGS.IF allows), else None."""
        if not self.irr:
            return None
        v = self.irr.bit_length() - 1
        in_service = self.isr.bit_length() - 1 if self.isr else -1
        if in_service >= 0 and v >> 4 <= in_service >> 4:
            return None
        if v >> 4 <= self.tpr >> 4:
            return None
        return v

    def acknowledge(self, vector: int) -> None:
        self.irr &= ~(1 << vector)
        self.isr |= 1 << vector


# ---- deadline thread ----------------------------------------------------------------------------
class _Kicker:
    """Calls uc.emu_stop() once the deadline passes while the guest runs (and again every
    RETRY_S while it still runs: a stop that lands just before emu_start resets its stop flag
    is lost)."""

    RETRY_S = 0.0005

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self.cv = threading.Condition()
        self.deadline: float | None = None      # time.monotonic() seconds
        self.active = False
        self.closed = False
        self.kicks = 0
        self.thread: threading.Thread | None = None

    def arm(self, deadline: float | None) -> None:
        """The guest is about to run; stop it at deadline (None: no deadline)."""
        with self.cv:
            self.deadline = deadline
            self.active = True
            if deadline is not None:
                self._start()
                self.cv.notify()

    def update(self, deadline: float) -> None:
        """An earlier deadline for the slice now running (from a hook)."""
        with self.cv:
            if self.active and (self.deadline is None or deadline < self.deadline):
                self.deadline = deadline
                self._start()
                self.cv.notify()

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="emu-kicker", daemon=True)
            self.thread.start()

    def disarm(self) -> None:
        with self.cv:
            self.active = False

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify()
        if self.thread is not None:
            self.thread.join(1.0)

    def _run(self) -> None:
        with self.cv:
            while not self.closed:
                d = self.deadline
                if not self.active or d is None:
                    self.cv.wait()
                    continue
                now = time.monotonic()
                if now < d:
                    self.cv.wait(d - now)
                    continue
                self.kicks += 1
                self.uc.emu_stop()
                self.cv.wait(self.RETRY_S)


# ---- the platform -------------------------------------------------------------------------------
class EmuPlatform:
    name = "emu"

    #: how long an interrupt may wait for RFLAGS.IF=1 between two checks (seconds)
    PENDING_POLL_S = 0.0005
    #: the longest sleep of a halted CPU between two looks at interrupt() (seconds)
    HALT_SLICE_S = 0.05

    def __init__(self, mem_size: int = DEFAULT_SIZE, layout: BootLayout = BootLayout()) -> None:
        self.layout = layout
        self.memory = GuestMemory(mem_size)
        self._kicker: _Kicker | None = None
        try:
            self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64)
            uc.mem_map_ptr(0, mem_size, UC_PROT_ALL, self.memory.host_address)
            self._ram = self.memory.view(0, mem_size)     # for the platform's own accesses
            self.features = features_from_cpuid()
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
            self._kicker = _Kicker(uc)
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
        self.reset_cpu()
        return self.entry

    load_kernel = load_elf

    def _find_msr_sites(self, code: bytes, vaddr: int) -> None:
        """Bounded code hooks on every wrmsr (0F 30) / rdmsr (0F 32) byte pair: a hook fires
        only where an instruction starts, and checks the bytes again when it does."""
        for pat, fn in ((b"\x0f\x30", self._on_wrmsr_site), (b"\x0f\x32", self._on_rdmsr_site)):
            i = code.find(pat)
            while i >= 0:
                a = vaddr + i
                if a not in self._msr_sites:
                    self._msr_sites.add(a)
                    self.uc.hook_add(UC_HOOK_CODE, fn, None, a, a)
                    if fn == self._on_rdmsr_site:
                        self.uc.hook_add(UC_HOOK_CODE, self._on_rdmsr_done, None, a + 2, a + 2)
                i = code.find(pat, i + 1)

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
            cands.append(now + max(0, self.apic.next_ns - time.monotonic_ns()) / _NS)
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
            wait = min(self.HALT_SLICE_S, max(0, apic.next_ns - time.monotonic_ns()) / _NS)
            if t_end is not None:
                left = t_end - time.monotonic()
                if left <= wait:
                    time.sleep(max(0.0, left))
                    raise RunTimeout(timeout, self.regs())
            time.sleep(wait)

    def _after_hlt(self, rip: int) -> bool:
        try:
            return self._vread((rip - 1) & _MASK64, 1) == b"\xf4"
        except _Fault:
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
            except _Fault:
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

    def _msr_site_ok(self, addr: int, second: int) -> bool:
        try:
            return self._vread(addr, 2) == bytes((0x0F, second))
        except _Fault:
            return False

    def _on_wrmsr_site(self, uc: Uc, addr: int, size: int, _ud) -> None:
        msr = uc.reg_read(X.UC_X86_REG_RCX) & 0xFFFF_FFFF
        if not X2Apic.owns(msr) or size != 2 or not self._msr_site_ok(addr, 0x30):
            return
        if uc.reg_read(X.UC_X86_REG_CS) & 3:
            return                                  # CPL > 0: unicorn raises #GP itself
        val = (uc.reg_read(X.UC_X86_REG_RDX) & 0xFFFF_FFFF) << 32 | (
            uc.reg_read(X.UC_X86_REG_RAX) & 0xFFFF_FFFF)
        self.apic.wrmsr(msr, val)                  # then the native wrmsr ignores it
        if self.apic.timer_armed:                  # (re)armed: the running slice must end
            d = time.monotonic() + max(0, self.apic.next_ns - time.monotonic_ns()) / _NS
            self._kicker.update(d)

    def _on_rdmsr_site(self, uc: Uc, addr: int, size: int, _ud) -> None:
        msr = uc.reg_read(X.UC_X86_REG_RCX) & 0xFFFF_FFFF
        if not X2Apic.owns(msr) or size != 2 or not self._msr_site_ok(addr, 0x32):
            return
        if uc.reg_read(X.UC_X86_REG_CS) & 3:
            return
        self._rdmsr_result = (addr + 2, self.apic.rdmsr(msr))

    def _on_rdmsr_done(self, uc: Uc, addr: int, size: int, _ud) -> None:
        r = self._rdmsr_result
        if r is None or r[0] != addr:
            return
        self._rdmsr_result = None
        uc.reg_write(X.UC_X86_REG_RAX, r[1] & 0xFFFF_FFFF)
        uc.reg_write(X.UC_X86_REG_RDX, r[1] >> 32 & 0xFFFF_FFFF)

    # --- guest virtual memory (supervisor accesses made by the "CPU") ------------------------
    def _mmu(self, cpu: C.CpuContext | None = None) -> tuple[int, bool]:
        """(CR3, CR0.WP) from a saved context (a fresh one if None)."""
        cpu = cpu or self.cpu.save()
        return cpu.cr(3), bool(cpu.cr(0) & 1 << 16)

    def _translate(self, mmu: tuple[int, bool], va: int, write: bool) -> int:
        try:
            return C.walk(self._read_pa, mmu[0], va, write=write, wp=mmu[1])
        except C.PageFault as pf:
            raise _Fault(VEC_PF, pf.error, cr2=pf.addr) from None

    def _read_pa(self, pa: int) -> int:
        return _U64.unpack_from(self._ram, pa)[0]       # struct.error beyond RAM

    def _vread(self, va: int, n: int, mmu: tuple[int, bool] | None = None) -> bytes:
        mmu = mmu or self._mmu()
        out = b""
        while n:
            k = min(n, 0x1000 - (va & 0xFFF))
            pa = self._translate(mmu, va, False)
            if pa + k > self.memory.size:
                raise _Fault(VEC_PF, 0, cr2=va)
            out += self._ram[pa: pa + k]
            va, n = (va + k) & _MASK64, n - k
        return out

    def _vwrite(self, va: int, data: bytes, mmu: tuple[int, bool]) -> None:
        pieces, off = [], 0
        while off < len(data):                       # translate all pages before writing
            k = min(len(data) - off, 0x1000 - (va & 0xFFF))
            pa = self._translate(mmu, va, True)
            if pa + k > self.memory.size:
                raise _Fault(VEC_PF, C.PF_W, cr2=va)
            pieces.append((pa, data[off: off + k]))
            va, off = (va + k) & _MASK64, off + k
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
            except _Fault as f:
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
        """One delivery attempt (64-bit mode, SDM vol. 3 6.14): raises _Fault before changing
        anything, else patches cpu and returns the handler's RFLAGS."""
        ext = 0 if soft else 1
        idt_err = vector * 8 + 2 + ext
        mmu = self._mmu(cpu)
        idt_base, idt_limit = cpu.idt()
        if vector * 16 + 15 > idt_limit:
            raise _Fault(VEC_GP, idt_err)
        lo, hi = struct.unpack("<QQ", self._vread((idt_base + vector * 16) & _MASK64, 16, mmu))
        offset = (lo & 0xFFFF) | (lo >> 48 & 0xFFFF) << 16 | (hi & 0xFFFF_FFFF) << 32
        sel, ist = lo >> 16 & 0xFFFF, lo >> 32 & 7
        gtype, gdpl, gpresent = lo >> 40 & 0xF, lo >> 45 & 3, lo >> 47 & 1
        if gtype not in (0xE, 0xF):
            raise _Fault(VEC_GP, idt_err)
        cpl = cpu.cpl
        if soft and gdpl < cpl:
            raise _Fault(VEC_GP, vector * 8 + 2)
        if not gpresent:
            raise _Fault(VEC_NP, idt_err)
        # the handler's code segment
        if sel & 0xFFFC == 0:
            raise _Fault(VEC_GP, ext)
        e1, e2 = self._descriptor(cpu, mmu, sel, ext)
        dpl = e2 >> C.DESC_DPL_SHIFT & 3
        if (e2 & (C.DESC_S | C.DESC_CODE)) != (C.DESC_S | C.DESC_CODE) or dpl > cpl:
            raise _Fault(VEC_GP, (sel & 0xFFFC) + ext)
        if not e2 & C.DESC_P:
            raise _Fault(VEC_NP, (sel & 0xFFFC) + ext)
        if not e2 & C.DESC_L or e2 & C.DESC_B:
            raise _Fault(VEC_GP, (sel & 0xFFFC) + ext)
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
            raise _Fault(VEC_SS, ext if dpl != cpl else 0)
        old_cs = cpu.seg(C.SEG_CS)[0]
        frame = [cpu.seg(C.SEG_SS)[0], old_rsp, rflags, old_cs, cpu.rip]
        if vector in HAS_ERROR_CODE and not soft and not external:
            frame.append(error & 0xFFFF_FFFF)
        new_rsp = (rsp - 8 * len(frame)) & _MASK64
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
            raise _Fault(VEC_GP, (sel & 0xFFFC) + ext)     # no LDT support
        base, limit = cpu.gdt()
        idx = sel & 0xFFF8
        if idx + 7 > limit:
            raise _Fault(VEC_GP, (sel & 0xFFFC) + ext)
        return struct.unpack("<II", self._vread((base + idx) & _MASK64, 8, mmu))

    def _tss_u64(self, cpu: C.CpuContext, mmu, off: int, ext: int) -> int:
        tr_sel, base, limit = cpu.tr()
        if off + 7 > limit:
            raise _Fault(VEC_TS, (tr_sel & 0xFFFC) + ext)
        return struct.unpack("<Q", self._vread((base + off) & _MASK64, 8, mmu))[0]

    def _take_syscall(self) -> None:
        """`syscall` as the CPU does it (unicorn only called our hook and moved RIP past it)."""
        uc = self.uc
        self.stats["syscalls"] += 1
        if not uc.msr_read(MSR_EFER) & EFER_SCE:
            cpu = self.cpu.save()
            cpu.rip = (cpu.rip - 2) & _MASK64
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
