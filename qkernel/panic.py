"""panic(): the kernel cannot continue. Logs the message and asks the host for a crash report."""

from __future__ import annotations

from qkernel.abi import LOG_ERROR, QCALL_PANIC
from qkernel.dialect import addr_of, halt, ptr, u8, u64
from qkernel.klog import finish, start, line
from qkernel.lib import fmt
from qkernel.mm.addr import pa
from qkernel.qcall import qcall


def panic(message: ptr[u8]) -> None:
    """Does not return: QCALL_PANIC stops the VM (the host prints registers, backtrace, log)."""
    lp = start(LOG_ERROR)
    fmt.put_str(lp, b"panic: ")
    fmt.put_str(lp, message)
    finish(LOG_ERROR)
    qcall(QCALL_PANIC, pa(u64(addr_of(line.data[2]))), line.len - 2, 0, 0)  # without the "E " tag
    while True:
        halt()
