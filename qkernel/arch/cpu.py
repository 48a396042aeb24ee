"""CPU helpers: descriptor-table loads, interrupt flag, CPUID, TSC."""

from __future__ import annotations

from qkernel.dialect import asm, u16, u32, u64


def lgdt(dtr: u64) -> None:
    """Loads the GDT described by the Dtr at `dtr` and reloads CS (0x08) and the data segments."""
    asm("lgdt ($0)\n\tpushq $$0x08\n\tleaq 1f(%rip), %rax\n\tpushq %rax\n\tlretq\n1:\n\t"
        "movw $$0x10, %ax\n\tmovw %ax, %ds\n\tmovw %ax, %es\n\tmovw %ax, %ss",
        "r,~{rax},~{memory}", dtr)


def lidt(dtr: u64) -> None:
    asm("lidt ($0)", "r,~{memory}", dtr)


def ltr(selector: u16) -> None:
    asm("ltr $0", "r,~{memory}", selector)


def sti() -> None:
    asm("sti", "~{memory}")


def cli() -> None:
    asm("cli", "~{memory}")


def sti_hlt() -> None:
    """Enables interrupts and halts until the next one (no lost-wakeup window)."""
    asm("sti\n\thlt", "~{memory}")


def cpuid_ecx(leaf: u32) -> u64:
    return asm("cpuid", "={ecx},{eax},~{ebx},~{edx}", leaf)


def cpuid_edx(leaf: u32) -> u64:
    return asm("cpuid", "={edx},{eax},~{ebx},~{ecx}", leaf)


def rdtsc() -> u64:
    return asm("rdtsc\n\tshlq $$32, %rdx\n\torq %rdx, %rax", "={rax},~{rdx}")
