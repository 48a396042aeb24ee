"""kmain: the kernel's entry point after boot/entry.S. Brings up the CPU tables, the log and the
frame allocator, runs the self-test when asked, prints the banner and reports the exit status."""

from __future__ import annotations

from qkernel.abi import (CAP_CPL0_EMULATED, PAGE_SIZE, BOOT_FAULT_DE, BOOT_FAULT_INT3, BOOT_FAULT_PANIC, BOOT_FAULT_PF,
                         BOOT_FAULT_TRIPLE, BOOT_FAULT_UD, BOOT_MAGIC, BOOT_SELFTEST, MODE_FLAT,
                         PLATFORM_EMU, PLATFORM_KVM, PLATFORM_PVM,
                         BootParams)
from qkernel.arch import gdt, idt, priv
from qkernel.dialect import addr_of, asm, cast, export, halt, ptr, read_cr3, trap, u64, u8, volatile_load
from qkernel import exec, klog, qcall, selftest
from qkernel.lib import fmt
from qkernel.mm import fault, frames, pagetable
from qkernel.panic import panic

banner: fmt.Line = fmt.Line()


def platform_name(p: u64) -> ptr[u8]:
    if p == PLATFORM_PVM:
        return b"pvm"
    if p == PLATFORM_KVM:
        return b"kvm"
    if p == PLATFORM_EMU:
        return b"emu"
    return b"unknown"


def deliberate_fault(flags: u64) -> None:
    """Faults on purpose when a BOOT_FAULT_* flag asks (crash-report tests)."""
    if flags & BOOT_FAULT_PANIC != 0:
        panic(b"deliberate panic (BOOT_FAULT_PANIC)")
    if flags & BOOT_FAULT_UD != 0:
        trap()
    if flags & BOOT_FAULT_PF != 0:
        bad = cast(ptr[u64], 0x7FFF_DEAD_0000)
        klog.msg_hex(0, b"unreachable: read ", volatile_load(bad))
    if flags & BOOT_FAULT_DE != 0:
        asm("xorl %ecx, %ecx\n\tdivl %ecx", "~{rax},~{rdx},~{rcx}")
    if flags & BOOT_FAULT_INT3 != 0:
        asm("int3", "~{memory}")
    if flags & BOOT_FAULT_TRIPLE != 0:
        asm("subq $$16, %rsp\n\tmovq $$0, (%rsp)\n\tmovq $$0, 8(%rsp)\n\tlidt (%rsp)\n\tud2", "~{memory}")


@export("kmain")
def kmain(bp: ptr[BootParams]) -> None:
    if bp.magic != BOOT_MAGIC:
        while True:
            halt()  # no way to report: QVisor sees the vCPU halt without an exit qcall
    klog.console_level = bp.log_level
    gdt.init()
    idt.init()
    frames.init(bp.mem_size, bp.image_end_phys)
    klog.info(b"qkernel: cpu tables, log and frame allocator up")
    deliberate_fault(bp.flags)
    priv.sync_cr3()
    if bp.argc > 0:
        frames.host_zeroing = bp.caps & CAP_CPL0_EMULATED != 0
        if bp.fault_around > PAGE_SIZE and bp.fault_around & (bp.fault_around - 1) == 0:
            fault.fault_around = bp.fault_around
        pagetable.init(read_cr3(), True)
        exec.run_program(bp)  # does not return
    ticks: u64 = 0
    if bp.flags & BOOT_SELFTEST != 0:
        selftest.check_memory(bp)
        selftest.check_frames()
        ticks = selftest.check_timer()
        selftest.check_qcalls()
    b = addr_of(banner)
    fmt.put_str(b, b"pyquark: qkernel up on ")
    fmt.put_str(b, platform_name(bp.platform))
    fmt.put_str(b, b" (")
    fmt.put_str(b, b"flat" if bp.mode == MODE_FLAT else b"split")
    fmt.put_str(b, b" mode), ")
    fmt.put_dec(b, bp.mem_size >> 20)
    fmt.put_str(b, b" MiB")
    if bp.flags & BOOT_SELFTEST != 0:
        fmt.put_str(b, b", self-test passed (")
        fmt.put_dec(b, ticks)
        fmt.put_str(b, b" timer ticks)")
    fmt.put_char(b, 10)
    qcall.console_write(1, addr_of(b.data[0]), b.len)
    qcall.exit_sandbox(0)
    while True:
        halt()
