"""Trap dispatch: every interrupt and exception arrives here from boot/entry.S's isr_common.

Exceptions in the kernel are fatal: the vector, error code, RIP and CR2 are logged and the host
is asked for a crash report with the trap frame (QCALL_PANIC with the frame's address), so the
report shows the faulting instruction rather than panic()'s own.
"""

from __future__ import annotations

from qkernel.abi import LOG_ERROR
from qkernel.abi import KERNEL_BASE
from qkernel.arch import lapic, priv, syscall
from qkernel.dialect import NULL, Final, addr_of, array, asm, export, fn, halt, ptr, read_cr2, u8, u64
from qkernel.arch.frame import TrapFrame
from qkernel.klog import finish, line, start
from qkernel.lib import fmt
from qkernel import qcall

VEC_PF: Final = 14
VEC_TIMER: Final = 32
VEC_SPURIOUS: Final = 255
SYSCALL_MARK: Final = 0x200  # boot/entry.S syscall_entry's "vector"
PF_MARK: Final = 0x300       # boot/entry.S pf_entry_flat's: a program's #PF, bounced to CPL 3
IRQ_MARK: Final = 0x400      # boot/entry.S irq_entry_flat's: a timer tick that interrupted the program
PF_USER_FETCH: Final = 0x14  # #PF error code bits: user mode (U) | instruction fetch (I/D)
RFLAGS_IF: Final = 0x200
RFLAGS_USER_MASK: Final = 0x0DD5  # CF PF AF ZF SF TF DF OF: what a user may keep in rflags


NAMES: array[ptr[u8], 32] = [
    b"#DE divide error", b"#DB debug", b"NMI", b"#BP breakpoint", b"#OF overflow",
    b"#BR bound range", b"#UD invalid opcode", b"#NM device not available", b"#DF double fault",
    b"coprocessor overrun", b"#TS invalid TSS", b"#NP segment not present", b"#SS stack fault",
    b"#GP general protection", b"#PF page fault", b"reserved", b"#MF x87 error",
    b"#AC alignment check", b"#MC machine check", b"#XM SIMD error", b"#VE virtualization",
    b"#CP control protection", b"reserved", b"reserved", b"reserved", b"reserved", b"reserved",
    b"reserved", b"#HV hypervisor injection", b"#VC VMM communication", b"#SX security",
    b"reserved"]

ticks: u64 = 0


syscall_hook: fn[[ptr[TrapFrame]], None] = NULL     # set by qkernel.process when a program runs
user_fault_hook: fn[[ptr[TrapFrame], u64], None] = NULL
tick_hook: fn[[], None] = NULL                      # the scheduler's timer tick, once tasks exist
# A tick that interrupted the program: the scheduler may switch, signals are delivered (set by
# qkernel/exec.py to syscalls/entry.py's user_tick; the tick itself was counted).
user_tick_hook: fn[[ptr[TrapFrame]], None] = NULL


@export("trap_dispatch")
def trap_dispatch(frame: ptr[TrapFrame]) -> None:
    global ticks
    if frame.vector == SYSCALL_MARK and syscall_hook != NULL:
        syscall_hook(frame)
        return
    if frame.vector == PF_MARK:
        user_fault_hook(frame, VEC_PF)
        return
    if frame.vector == IRQ_MARK:          # flat mode: timer_stub_flat counted it and sent EOI
        if user_tick_hook != NULL:
            user_tick_hook(frame)
        return
    vector = frame.vector & 0xFF
    if frame.cs & 3 == 3 and syscall_hook != NULL:
        if vector == VEC_PF and frame.error & PF_USER_FETCH == PF_USER_FETCH and \
                frame.rip == syscall.entry_address():
            # kvm_pvm: a ring-3 `syscall` jumped to LSTAR without leaving CPL 3 (rcx and r11
            # hold the return rip and rflags, as `syscall` sets them)
            frame.rip = frame.rcx
            frame.rflags = (frame.r11 & RFLAGS_USER_MASK) | RFLAGS_IF
            syscall_hook(frame)
            return
        if frame.rip >= KERNEL_BASE:
            # kernel code running at CPL 3 (flat mode): its int3 doorbell, or a kernel bug
            if vector == 3 and priv.perform_pending():
                return
            fatal_exception(frame, vector)
            return
        if vector < 32:
            user_fault_hook(frame, vector)
            return
    if vector == VEC_TIMER:
        ticks += 1
        lapic.eoi()
        if frame.cs & 3 == 3 and frame.rip < KERNEL_BASE and user_tick_hook != NULL:
            user_tick_hook(frame)   # it interrupted the program: the scheduler may switch now
        elif tick_hook != NULL:
            tick_hook()  # may ask for a switch; it happens at the next preemption point
        return
    if vector == VEC_SPURIOUS:
        return
    if vector >= 32:
        lapic.eoi()
        return
    fatal_exception(frame, vector)


def fault_address() -> u64:
    """CR2 of the fault being handled: read at CPL 0, stashed by pf_stub_flat for CPL 3."""
    if priv.cpl() == 0:
        return read_cr2()
    return asm("movq pf_cr2(%rip), $0", "=r")


def fatal_exception(frame: ptr[TrapFrame], vector: u64) -> None:
    lp = start(LOG_ERROR)
    fmt.put_str(lp, b"kernel exception ")
    fmt.put_str(lp, NAMES[vector])
    fmt.put_str(lp, b" (vector ")
    fmt.put_dec(lp, vector)
    fmt.put_str(lp, b") error=")
    fmt.put_hex(lp, frame.error)
    fmt.put_str(lp, b" rip=")
    fmt.put_hex(lp, frame.rip)
    fmt.put_str(lp, b" cr2=")
    fmt.put_hex(lp, read_cr2())
    finish(LOG_ERROR)
    qcall.panic(addr_of(line.data[2]), line.len - 2, u64(frame))
    while True:
        halt()
