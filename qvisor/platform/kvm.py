"""The /dev/kvm platform: the guest kernel on a KVM vCPU, booted straight into long mode. The
generic one ("kvm": hardware VMX/SVM, split mode) and the base of pvm (this host's kvm_pvm).

Owns: one VM with one vCPU and one memory slot (all of GuestMemory at guest-physical 0), the
vCPU's CPUID (KVM_GET_SUPPORTED_CPUID as is), loading the boot CPU state from
pagetables.build_boot_state, and the run loop (runloop.run_vcpu: the C extension or pure Python)
that dispatches decoded exits to a Handlers object. No real-mode or 32-bit step: sregs go
straight to CR0.PG|PE, EFER.LMA, CS.L.

Boot contract (see pagetables.BootLayout): rip = image entry (kernel-window virtual address),
rsp = direct-map address of the top of the boot stack (16-byte aligned, nothing pushed),
rdi = direct-map address of the boot-parameter page, rflags = 0x2 (interrupts off), no IDT.

run(timeout=...) uses SIGALRM (main thread); interrupt() makes run() return Interrupted from
any thread (qvisor/signals.py uses it for stop signals).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from ..kvm import structs as S
from ..kvm.exits import (Exit, FailEntry, Hlt, InternalError, Interrupted, IoIn, IoOut, Mmio,
                         Shutdown)
from ..kvm.vm import Kvm, KvmError, cpuid_find
from ..memory import DEFAULT_SIZE, GuestMemory
from ..pagetables import BootLayout, BootState, CpuFeatures, Segment, build_boot_state
from . import Handlers, Regs, RunTimeout, runloop
from .loader import load_elf, load_flat


def features_from_cpuid(cpuid) -> CpuFeatures:
    def bit(fn: int, reg: str, n: int, index: int = 0) -> bool:
        e = cpuid_find(cpuid, fn, index)
        return bool(e is not None and getattr(e, reg) >> n & 1)
    return CpuFeatures(nx=bit(0x8000_0001, "edx", 20), gbpages=bit(0x8000_0001, "edx", 26),
                       pge=bit(1, "edx", 13), fsgsbase=bit(7, "ebx", 0))


def _kvm_segment(s: Segment) -> S.kvm_segment:
    return S.kvm_segment(base=s.base, limit=s.limit, selector=s.selector, type=s.type,
                         present=s.present, dpl=s.dpl, db=s.db, s=s.s, l=s.l, g=s.g,
                         avl=s.avl, unusable=s.unusable)


class KvmPlatform:
    """The guest kernel on a /dev/kvm vCPU; subclasses name the host's flavour (pvm)."""

    name = "kvm"
    boot_caps = 0       # qkernel.abi CAP_*: hardware VMX/SVM runs CPL 0 natively
    fault_around = 0    # BootParams.fault_around: one page per fault

    def __init__(self, mem_size: int = DEFAULT_SIZE, layout: BootLayout = BootLayout(),
                 kvm_path: str = "/dev/kvm", irqchip: bool = False) -> None:
        """irqchip: an in-kernel LAPIC (the kernel's x2APIC timer needs it); with it, `hlt`
        waits in KVM for an interrupt instead of exiting to the host."""
        self.layout = layout
        self.kvm = Kvm(kvm_path)
        try:
            self.vm = self.kvm.create_vm()
            self.memory = GuestMemory(mem_size)
            self.vm.set_user_memory_region(0, 0, mem_size, self.memory.host_address)
            if irqchip:
                self.vm.create_irqchip()  # must precede vCPU creation (EINVAL after)
            self.vcpu = self.vm.create_vcpu(0)
            cpuid = self.kvm.supported_cpuid()
            self.vcpu.set_cpuid2(cpuid)
            self.features = features_from_cpuid(cpuid)
            try:
                self.tsc_khz = self.vcpu.tsc_khz()   # BootParams.tsc_khz: the guest's TSC clock
            except KvmError:
                self.tsc_khz = 0                      # unknown: the guest asks the host for the time
        except BaseException:
            self.close()
            raise
        self.entry: int | None = None
        self.span = 0
        self._interrupted = False
        self.boot_state: BootState | None = None

    # --- loading -----------------------------------------------------------------------------
    def load_flat(self, blob: bytes, vaddr: int) -> int:
        """Put raw code at kernel-window address vaddr and make it the entry point."""
        self.span = max(self.span, load_flat(self.memory, self.layout, blob, vaddr))
        self.entry = vaddr
        self.reset_cpu()
        return vaddr

    def load_elf(self, image: str | bytes | os.PathLike) -> int:
        self.entry, span = load_elf(self.memory, self.layout, image)
        self.span = max(self.span, span)
        self.reset_cpu()
        return self.entry

    load_kernel = load_elf

    def reset_cpu(self) -> None:
        """(Re)write page tables/GDT/TSS and load the boot state into the vCPU."""
        if self.entry is None:
            raise ValueError("no kernel loaded")
        st = self.boot_state = build_boot_state(self.memory, self.layout, self.span,
                                                self.features)
        sregs = self.vcpu.get_sregs()          # keeps KVM's apic_base etc.
        for name, seg in st.segments.items():
            setattr(sregs, name, _kvm_segment(seg))
        sregs.gdt.base, sregs.gdt.limit = st.gdt_base, st.gdt_limit
        sregs.idt.base, sregs.idt.limit = st.idt_base, st.idt_limit
        sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer = st.cr0, st.cr3, st.cr4, st.efer
        self.vcpu.set_sregs(sregs)
        self.vcpu.set_regs(S.kvm_regs(rip=self.entry, rsp=st.rsp, rdi=st.rdi,
                                      rflags=st.rflags))

    # --- running -----------------------------------------------------------------------------
    def run(self, handlers: Handlers, *, timeout: float | None = None,
            max_exits: int | None = None) -> Exit:
        """Enter the guest until a handler returns True; return that exit. timeout (seconds,
        main thread only) raises RunTimeout via SIGALRM; max_exits bounds the exit count."""
        if timeout is None:
            return self._loop(handlers, max_exits)
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("run(timeout=...) needs the main thread (it uses SIGALRM)")
        fired = []
        vcpu = self.vcpu

        def on_alarm(signum, frame):
            fired.append(time.monotonic())
            vcpu.kick()

        old = signal.signal(signal.SIGALRM, on_alarm)
        if old is None:                          # a handler not installed from Python
            old = signal.SIG_DFL
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self._loop(handlers, max_exits, fired, timeout)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    def _loop(self, h: Handlers, max_exits, fired=None, timeout=None) -> Exit:
        vcpu = self.vcpu
        # fast path: registered out ports are served inside runloop.run_vcpu (in C when the
        # extension is built) unless io_out is overridden
        outs = h.out_ports if type(h).io_out is Handlers.io_out else {}
        n = 0
        while True:
            e, k, done = runloop.run_vcpu(vcpu, outs, None if max_exits is None else max_exits - n)
            if done:
                return e
            n += k
            t = type(e)
            if t is IoOut:
                fn = outs.get(e.port)
                stop = h.io_out(e) if fn is None else fn(e)
            elif t is IoIn:
                v = h.io_in(e)
                stop = v is None
                if not stop:
                    self.vcpu.complete_io_in(v)
            elif t is Hlt:
                stop = h.hlt(e)
            elif t is Shutdown:
                stop = h.shutdown(e)
            elif t is InternalError:
                stop = h.internal_error(e)
            elif t is FailEntry:
                stop = h.fail_entry(e)
            elif t is Mmio:
                stop = h.mmio(e)
            elif t is Interrupted:
                if fired:
                    raise RunTimeout(timeout, self.regs())
                if self._interrupted:            # interrupt() asked for it
                    self._interrupted = False
                    return e
                stop = False                     # a stray signal: re-enter
            else:
                stop = h.unhandled(e)
            if stop:
                return e
            n += 1
            if max_exits is not None and n >= max_exits:
                return e

    def interrupt(self) -> None:
        """Thread-safe: make run() return an Interrupted exit soon. A KVM_RUN about to start
        returns at once (immediate_exit); one already in the guest returns on a signal to the
        running thread (qvisor/signals.py sends one)."""
        self._interrupted = True
        self.vcpu.kick()

    # --- inspection --------------------------------------------------------------------------
    def regs(self) -> Regs:
        r, s = self.vcpu.get_regs(), self.vcpu.get_sregs()
        gp = {f: getattr(r, f) for f, _ in S.kvm_regs._fields_}
        return Regs(**gp, cs=s.cs.selector, ss=s.ss.selector, cr0=s.cr0, cr2=s.cr2,
                    cr3=s.cr3, cr4=s.cr4, efer=s.efer)

    def flush_code(self) -> None:
        """Nothing to do: KVM sees guest memory writes directly."""

    def close(self) -> None:
        for name in ("vm", "kvm"):                # vm closes its vCPUs first
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
        mem = getattr(self, "memory", None)
        if mem is not None:
            mem.close()

    def __enter__(self) -> "KvmPlatform":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
