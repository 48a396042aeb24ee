"""The `syscall` instruction's MSRs: STAR, LSTAR (boot/entry.S's syscall_entry), FMASK, EFER.SCE.

Split mode (kvm, emu): a ring-3 `syscall` enters syscall_entry at CPL 0 on the syscall stack.
On kvm_pvm a ring-3 `syscall` reaches LSTAR without leaving CPL 3; the instruction fetch from the
supervisor-only kernel page faults and trap.py recognises the faulting rip as `entry_address()`.
"""

from __future__ import annotations

from qkernel.arch import percpu
from qkernel.arch.gdt import KERNEL_CS, USER_DS
from qkernel.dialect import Final, asm, rdmsr, u64, wrmsr

MSR_EFER: Final = 0xC0000080
MSR_STAR: Final = 0xC0000081
MSR_LSTAR: Final = 0xC0000082
MSR_FMASK: Final = 0xC0000084
EFER_SCE: Final = 1
FMASK_BITS: Final = 0x47700  # TF, IF, DF, IOPL, NT, AC cleared on entry


SYSCALL_INSN_LEN: Final = 2   # `syscall` is 0f 05: rewinding rip by it restarts the call
FMASK_FLAT: Final = 0x40500  # TF, DF, AC only: at CPL 3 nothing could set IF again (kvm_pvm)


def entry_address() -> u64:
    return asm("leaq syscall_entry(%rip), $0", "=r")


def flat_entry_address() -> u64:
    return asm("leaq syscall_entry_flat(%rip), $0", "=r")


flat_mode: bool = False  # kernel-wide: how traps return to the program (init sets it)


def return_address() -> u64:
    """Where boot/entry.S returns to the program from a TrapFrame at rsp: a new task's first
    switch resumes there (fork's child), in the mode the kernel runs in."""
    if flat_mode:
        return asm("leaq flat_return(%rip), $0", "=r")
    return asm("leaq isr_return(%rip), $0", "=r")


def init(kstack_top: u64, flat: bool) -> None:
    """Enables `syscall`, entered on `stack_top`: at syscall_entry (CPL 0, split mode) or at
    syscall_entry_flat, which kvm_pvm runs at CPL 3 (flat mode)."""
    global flat_mode
    flat_mode = flat
    percpu.set_stack_top(kstack_top)
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE)
    # sysret would load CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8 (user, RPL 3);
    # syscall loads CS = STAR[47:32] and SS = STAR[47:32] + 8 (kernel).
    wrmsr(MSR_STAR, ((u64(USER_DS - 8) | 3) << 48) | (u64(KERNEL_CS) << 32))
    wrmsr(MSR_LSTAR, flat_entry_address() if flat else entry_address())
    wrmsr(MSR_FMASK, FMASK_FLAT if flat else FMASK_BITS)


def enter_user(rip: u64, rsp: u64) -> None:
    """Starts ring-3 execution at rip with stack rsp (boot/entry.S); does not return."""
    asm("jmp enter_user", "{rdi},{rsi},~{memory}", rip, rsp)
