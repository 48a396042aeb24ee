"""panic(): the kernel cannot continue. Logs the message and asks the host for a crash report."""

from __future__ import annotations

from qkernel.abi import LOG_ERROR
from qkernel.dialect import addr_of, halt, ptr, u8
from qkernel.klog import finish, start, line
from qkernel.lib import fmt
from qkernel import qcall


def panic(message: ptr[u8]) -> None:
    """Does not return: QCALL_PANIC stops the VM (the host prints registers, backtrace, log)."""
    lp = start(LOG_ERROR)
    fmt.put_str(lp, b"panic: ")
    fmt.put_str(lp, message)
    finish(LOG_ERROR)
    qcall.panic(addr_of(line.data[2]), line.len - 2, 0)  # without the "E " tag
    while True:
        halt()
