"""The emu platform's local x2APIC: its registers and a timer on host time (X2Apic), and the code
hooks that serve its MSRs to the guest kernel (MsrSites, a base of EmuPlatform).

Unicorn 2.1.4 cannot hook rdmsr/wrmsr (UC_HOOK_INSN takes IN, OUT, SYSCALL, SYSENTER and CPUID
only), and its rdmsr of an unknown MSR returns 0 while wrmsr ignores it. So the x2APIC MSRs are
served by address-bounded code hooks on every `rdmsr`/`wrmsr` byte pair found in the executable
parts of the loaded image (the hook at the rdmsr's successor puts the value in EAX:EDX after the
native rdmsr wrote 0); code outside the loaded image gets unicorn's native MSRs.
"""

from __future__ import annotations

import time

from unicorn import UC_HOOK_CODE, Uc
from unicorn import x86_const as X

from .delivery import NS, Fault

MSR_APIC_BASE = 0x1B


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


class MsrSites:
    """The x2APIC MSR hooks of EmuPlatform. Expects of the platform: uc, apic (an X2Apic),
    _kicker (its deadline thread), _vread (guest-virtual reads), _msr_sites (a set) and
    _rdmsr_result."""

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


    def _msr_site_ok(self, addr: int, second: int) -> bool:
        try:
            return self._vread(addr, 2) == bytes((0x0F, second))
        except Fault:
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
            d = time.monotonic() + max(0, self.apic.next_ns - time.monotonic_ns()) / NS
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
