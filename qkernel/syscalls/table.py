"""The system call table: one entry per Linux number, as data: the handler, a support status and
a note (what is missing, or which issue brings the call), with the names from qkernel/linux.

Handlers take the task and the call's arguments: `(t, a) -> result | -errno`, a.a0..a.a5 being
rdi, rsi, rdx, r10, r8, r9 and a.frame the user's TrapFrame. A handler may return -ERESTART*
(qkernel/linux/errno.py) to have the call restarted: the program re-executes the `syscall`.
An unknown or unimplemented number returns -ENOSYS and is logged once per number, with its name
and note; it never panics the sandbox. register.py lists every entry.
"""

from __future__ import annotations

from qkernel.abi import LOG_WARN
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, array, fn, i64, kfmt, ptr, struct, u8, u64
from qkernel.klog import finish, start
from qkernel.linux.errno import ENOSYS
from qkernel.linux.sysno import NAMES, NR_NAMED, NR_SYSCALLS
from qkernel.task.task import Task


@struct
class SyscallArgs:
    """The six argument registers of a system call, in the ABI's order, and its frame."""
    nr: u64
    a0: u64
    a1: u64
    a2: u64
    a3: u64
    a4: u64
    a5: u64
    frame: ptr[TrapFrame]


handler_t = fn[[ptr[Task], ptr[SyscallArgs]], i64]

STATUS_ENOSYS: Final = 0     # not implemented: -ENOSYS, logged once
STATUS_SUPPORTED: Final = 1  # Linux semantics
STATUS_PARTIAL: Final = 2    # implemented for the cases the note names


@struct
class SyscallEntry:
    handler: handler_t
    status: u8
    note: ptr[u8]            # b"" when there is nothing to say


table: array[SyscallEntry, 512] = array[SyscallEntry, 512]()   # NR_SYSCALLS entries
logged: array[u8, 512] = array[u8, 512]()  # 1 once an ENOSYS for that number was logged


def register(nr: u64, handler: handler_t, status: u8, note: ptr[u8]) -> None:
    table[nr].handler = handler
    table[nr].status = status
    table[nr].note = note


def name_of(nr: u64) -> ptr[u8]:
    """The call's Linux name; b"" for a number Linux does not have."""
    if nr < NR_NAMED:
        return NAMES[nr]
    return b""


def note_of(nr: u64) -> ptr[u8]:
    if nr < NR_SYSCALLS and table[nr].note != NULL:
        return table[nr].note
    return b""


def status_of(nr: u64) -> u8:
    return table[nr].status if nr < NR_SYSCALLS else STATUS_ENOSYS


def dispatch(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Runs system call a.nr for task t; returns what goes back to the caller in rax."""
    nr = a.nr
    if nr < NR_SYSCALLS and table[nr].status != STATUS_ENOSYS:
        h = table[nr].handler
        return h(t, a)
    if nr >= NR_SYSCALLS or logged[nr] == 0:
        if nr < NR_SYSCALLS:
            logged[nr] = 1
        lp = start(LOG_WARN)
        kfmt(lp, b"unsupported system call %u", nr)
        if name_of(nr)[0] != 0:
            kfmt(lp, b" (%s)", name_of(nr))
        kfmt(lp, b": ENOSYS")
        if note_of(nr)[0] != 0:
            kfmt(lp, b"; %s", note_of(nr))
        finish(LOG_WARN)
    return -ENOSYS
