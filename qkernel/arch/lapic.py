"""The local APIC in x2APIC mode (MSR interface): periodic timer and end-of-interrupt.

On the PVM host the periodic timer is clamped to a 200 us minimum period; `start_timer` asks for
`initial_count` bus ticks at divide-by-1.
"""

from __future__ import annotations

from qkernel.arch import cpu
from qkernel.dialect import Final, rdmsr, u32, u64, wrmsr

MSR_APIC_BASE: Final = 0x1B
APIC_BASE_EN: Final = 1 << 11
APIC_BASE_EXTD: Final = 1 << 10
MSR_X2APIC_EOI: Final = 0x80B
MSR_X2APIC_SVR: Final = 0x80F
MSR_X2APIC_LVT_TIMER: Final = 0x832
MSR_X2APIC_TIMER_INIT: Final = 0x838
MSR_X2APIC_TIMER_DIV: Final = 0x83E
LVT_PERIODIC: Final = 1 << 17
LVT_MASKED: Final = 1 << 16
CPUID_ECX_X2APIC: Final = 1 << 21

enabled: bool = False


def available() -> bool:
    return (cpu.cpuid_ecx(1) & CPUID_ECX_X2APIC) != 0


def init() -> bool:
    """Switches the local APIC to x2APIC mode; False when the CPU has no x2APIC."""
    global enabled
    if not available():
        return False
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD)
    wrmsr(MSR_X2APIC_SVR, 0x100 | 0xFF)  # software enable, spurious vector 255
    enabled = True
    return True


def start_timer(vector: u32, initial_count: u32) -> None:
    wrmsr(MSR_X2APIC_TIMER_DIV, 0xB)  # divide by 1
    wrmsr(MSR_X2APIC_LVT_TIMER, u64(vector) | LVT_PERIODIC)
    wrmsr(MSR_X2APIC_TIMER_INIT, u64(initial_count))


def stop_timer() -> None:
    wrmsr(MSR_X2APIC_LVT_TIMER, LVT_MASKED)
    wrmsr(MSR_X2APIC_TIMER_INIT, 0)


def eoi() -> None:
    if enabled:
        wrmsr(MSR_X2APIC_EOI, 0)
