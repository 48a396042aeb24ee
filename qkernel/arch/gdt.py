"""The kernel's GDT and TSS: flat 64-bit code/data segments for rings 0 and 3, and a TSS whose
IST1 stack takes every exception and interrupt (needed in flat mode, where the application runs at
CPL 0 and its red zone lies below its rsp)."""

from __future__ import annotations

from qkernel.arch import cpu
from qkernel.dialect import Final, addr_of, array, memset, struct, u16, u32, u64, u8

KERNEL_CS: Final = 0x08
KERNEL_DS: Final = 0x10
USER_DS: Final = 0x18
USER_CS: Final = 0x20
TSS_SEL: Final = 0x28
IST_STACK_SIZE: Final = 16384


@struct(packed=True)
class Tss:
    reserved0: u32
    rsp0: u64
    rsp1: u64
    rsp2: u64
    reserved1: u64
    ist: array[u64, 7]
    reserved2: u64
    reserved3: u16
    iopb: u16


@struct(packed=True)
class Dtr:
    limit: u16
    base: u64


gdt: array[u64, 8] = array[u64, 8]()
@struct(packed=True)
class TssIo:
    """The TSS and its I/O permission bitmap (1 = denied) up to the qcall ports, then 0xFF."""
    tss: Tss
    bitmap: array[u8, 405]  # ports 0 .. 0xCA7
    end: u8


tss_io: TssIo = TssIo()
ist1_stack: array[u8, 16384] = array[u8, 16384]()
kernel_stack: array[u8, 16384] = array[u8, 16384]()  # rsp0: where ring-3 traps land (split mode)


def allow_qcall_port() -> None:
    """Flat mode: lets CPL 3 (the kernel's syscall path, and so the program) `outl` the qcall port
    (0xCA0..0xCA3). The CPU reads the bitmap on every access: no TR reload is needed."""
    tss_io.bitmap[0xCA0 >> 3] = 0xF0


def kernel_stack_top() -> u64:
    return u64(addr_of(kernel_stack[0])) + IST_STACK_SIZE


def init() -> None:
    gdt[1] = 0x00AF9A000000FFFF  # kernel code: present, DPL 0, long mode
    gdt[2] = 0x00CF92000000FFFF  # kernel data
    gdt[3] = 0x00CFF2000000FFFF  # user data, DPL 3
    gdt[4] = 0x00AFFA000000FFFF  # user code, DPL 3, long mode
    tss = addr_of(tss_io.tss)
    tss.ist[0] = u64(addr_of(ist1_stack[0])) + IST_STACK_SIZE
    tss.rsp0 = u64(addr_of(kernel_stack[0])) + IST_STACK_SIZE
    tss.iopb = 104  # the bitmap follows; every port denied to CPL 3 until allow_qcall_port()
    memset(addr_of(tss_io.bitmap[0]), 0xFF, 406)
    base = u64(addr_of(tss_io))
    limit: u64 = 104 + 406 - 1
    gdt[5] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (u64(0x89) << 40) | \
        (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56)
    gdt[6] = base >> 32
    dtr = Dtr()
    dtr.limit = 8 * 8 - 1
    dtr.base = u64(addr_of(gdt[0]))
    cpu.lgdt(u64(addr_of(dtr)))
    cpu.ltr(TSS_SEL)
