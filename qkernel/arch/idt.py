"""The IDT: 256 interrupt gates to boot/entry.S's isr_stubs, all on IST1."""

from __future__ import annotations

from qkernel.arch import cpu
from qkernel.arch.gdt import KERNEL_CS, Dtr
from qkernel.dialect import Final, addr_of, array, asm, struct, u16, u32, u64, u8

ISR_STUB_SIZE: Final = 16
GATE_INTERRUPT: Final = 0x8E  # present, DPL 0, 64-bit interrupt gate
GATE_USER: Final = 0xEE       # present, DPL 3 (int3/into reachable from ring 3)


@struct
class Gate:
    offset_low: u16
    selector: u16
    ist: u8
    type_attr: u8
    offset_mid: u16
    offset_high: u32
    reserved: u32


idt: array[Gate, 256] = array[Gate, 256]()


def stubs_address() -> u64:
    """Address of isr_stubs (boot/entry.S)."""
    return asm("leaq isr_stubs(%rip), $0", "=r")


def set_gate(vector: u64, handler: u64, type_attr: u8) -> None:
    g = addr_of(idt[vector])
    g.offset_low = u16(handler)
    g.selector = KERNEL_CS
    g.ist = 1
    g.type_attr = type_attr
    g.offset_mid = u16(handler >> 16)
    g.offset_high = u32(handler >> 32)
    g.reserved = 0


def use_flat_page_faults() -> None:
    """Flat mode: #PF goes to boot/entry.S pf_stub_flat, which bounces program faults to CPL 3,
    and #BP to bp_stub_flat, which serves the CPL 3 kernel's CR3 and invlpg doorbell."""
    set_gate(14, asm("leaq pf_stub_flat(%rip), $0", "=r"), GATE_INTERRUPT)
    set_gate(3, asm("leaq bp_stub_flat(%rip), $0", "=r"), GATE_USER)


def use_flat_timer() -> None:
    """Flat mode: the timer to boot/entry.S timer_stub_flat, which bounces a tick that interrupted
    the program to CPL 3 (the scheduler then runs natively) and only counts one that interrupted
    the kernel."""
    set_gate(32, asm("leaq timer_stub_flat(%rip), $0", "=r"), GATE_INTERRUPT)


def init() -> None:
    base = stubs_address()
    for v in range(256):
        set_gate(u64(v), base + u64(v) * ISR_STUB_SIZE, GATE_USER if v == 3 else GATE_INTERRUPT)
    dtr = Dtr()
    dtr.limit = 256 * 16 - 1
    dtr.base = u64(addr_of(idt[0]))
    cpu.lidt(u64(addr_of(dtr)))
