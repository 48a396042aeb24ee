"""The system call table: one entry per Linux number, each a handler and a support status.

Handlers take the six argument registers and return the result (>= 0) or -errno. An unknown or
unimplemented number returns -ENOSYS and is logged once per number; it never panics the sandbox.
`register` fills the table at boot (qkernel/syscalls/register.py lists every entry).
"""

from __future__ import annotations

from qkernel.abi import LOG_WARN
from qkernel.dialect import NULL, Final, array, fn, i64, ptr, u8, u64
from qkernel.klog import finish, start
from qkernel.lib import fmt
from qkernel.syscalls.errno import ENOSYS
from qkernel.syscalls.numbers import NR_SYSCALLS

handler_t = fn[[u64, u64, u64, u64, u64, u64], i64]

STATUS_ENOSYS: Final = 0     # not implemented: -ENOSYS, logged once
STATUS_SUPPORTED: Final = 1  # Linux semantics
STATUS_PARTIAL: Final = 2    # implemented for the cases static binaries use; see the handler's note

handlers: array[handler_t, 512] = array[handler_t, 512]()
status: array[u8, 512] = array[u8, 512]()
names: array[ptr[u8], 512] = array[ptr[u8], 512]()
logged: array[u8, 512] = array[u8, 512]()  # 1 once an ENOSYS for that number was logged


def register(nr: u64, name: ptr[u8], handler: handler_t, st: u8) -> None:
    handlers[nr] = handler
    names[nr] = name
    status[nr] = st


def name_of(nr: u64) -> ptr[u8]:
    if nr < NR_SYSCALLS and names[nr] != NULL:
        return names[nr]
    return b"?"


def dispatch(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """Runs system call `nr`; returns what goes back to the caller in rax."""
    if nr < NR_SYSCALLS and status[nr] != STATUS_ENOSYS:
        h = handlers[nr]
        return h(a0, a1, a2, a3, a4, a5)
    if nr >= NR_SYSCALLS or logged[nr] == 0:
        if nr < NR_SYSCALLS:
            logged[nr] = 1
        lp = start(LOG_WARN)
        fmt.put_str(lp, b"unsupported system call ")
        fmt.put_dec(lp, nr)
        fmt.put_str(lp, b": ENOSYS")
        finish(LOG_WARN)
    return -ENOSYS
