"""Privileged operations, from whichever privilege level the kernel code runs at.

In split mode the kernel always runs at CPL 0 and these are the instructions themselves. In flat
mode (pvm) the system-call path runs at CPL 3 (kvm_pvm lands a ring-3 `syscall` on LSTAR without
a privilege change), where invlpg and CR3 writes #GP: there they are requested with `int3`, which
kvm_pvm delivers to the CPL 0 IDT even from ring 3; trap.py performs the pending request
(`pending_op`, `pending_arg`) and returns. CR3 is never read at CPL 3: `cr3` shadows it.
"""

from __future__ import annotations

from qkernel.dialect import Final, asm, read_cr3, u64, write_cr3

OP_NONE: Final = 0
OP_INVLPG: Final = 1
OP_WRITE_CR3: Final = 2

cr3: u64 = 0           # the value last loaded into CR3 (0 until load_cr3 or sync_cr3)
pending_op: u64 = 0    # a request from CPL 3 code, performed by trap.py on the int3 it raises
pending_arg: u64 = 0


def cpl() -> u64:
    """The current privilege level (the RPL bits of CS)."""
    return asm("movq %cs, $0", "=r") & 3


def sync_cr3() -> None:
    """Records the CR3 the boot code left (call once at CPL 0)."""
    global cr3
    cr3 = read_cr3()


def current_cr3() -> u64:
    if cr3 == 0 and cpl() == 0:
        sync_cr3()
    return cr3


def request(op: u64, arg: u64) -> None:
    """From CPL 3: asks the CPL 0 trap handler to perform `op` (int3 is its doorbell)."""
    global pending_op, pending_arg
    pending_op = op
    pending_arg = arg
    asm("int3", "~{memory}")


def perform_pending() -> bool:
    """At CPL 0, on the doorbell: performs the pending request; False when there was none."""
    global pending_op
    op = pending_op
    pending_op = OP_NONE
    if op == OP_INVLPG:
        asm("invlpg ($0)", "r,~{memory}", pending_arg)
        return True
    if op == OP_WRITE_CR3:
        write_cr3(pending_arg)
        return True
    return False


def invlpg(v: u64) -> None:
    if cpl() == 0:
        asm("invlpg ($0)", "r,~{memory}", v)
    else:
        request(OP_INVLPG, v)


def load_cr3(value: u64) -> None:
    """Switches address space (and flushes the non-global TLB)."""
    global cr3
    cr3 = value
    if cpl() == 0:
        write_cr3(value)
    else:
        request(OP_WRITE_CR3, value)
