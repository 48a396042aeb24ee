"""The TrapFrame: what boot/entry.S saves on the kernel stack for every trap, interrupt and
system call (its layout is entry.S's push order: the general registers, the stub's vector and
error code, the CPU's iret frame)."""

from __future__ import annotations

from qkernel.dialect import struct, u64


@struct
class TrapFrame:
    """Saved by isr_common (general registers), the stub (vector, error) and the CPU (the rest)."""
    r15: u64
    r14: u64
    r13: u64
    r12: u64
    r11: u64
    r10: u64
    r9: u64
    r8: u64
    rbp: u64
    rdi: u64
    rsi: u64
    rdx: u64
    rcx: u64
    rbx: u64
    rax: u64
    vector: u64
    error: u64
    rip: u64
    cs: u64
    rflags: u64
    rsp: u64
    ss: u64
