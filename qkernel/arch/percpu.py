"""Per-CPU state that boot/entry.S and the scheduler share, and the thread pointer.

One vCPU today; a second one needs its own copy of each, reached through GS (no global here
would silently serve two CPUs).
"""

from __future__ import annotations

from qkernel.arch import priv
from qkernel.dialect import Final, asm, u64, wrmsr

MSR_FS_BASE: Final = 0xC0000100

# Read by boot/entry.S's syscall entries: the kernel stack a system call's TrapFrame is built on
# (the current task's; the scheduler switches it) and the user's rsp while the frame is built.
stack_top: u64 = 0
user_rsp: u64 = 0


def set_stack_top(top: u64) -> None:
    global stack_top
    stack_top = top


def set_fs_base(value: u64) -> None:
    """The thread pointer: wrmsr at CPL 0; at CPL 3 (flat mode) wrfsbase, which kvm_pvm runs
    natively there."""
    if priv.cpl() == 0:
        wrmsr(MSR_FS_BASE, value)
    else:
        asm("wrfsbase $0", "r,~{memory}", value)
