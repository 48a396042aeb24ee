"""The qcall client: synchronous guest-to-host calls through one request block (qkernel/abi.py)."""

from __future__ import annotations

from qkernel.abi import QCALL_PORT, Qcall
from qkernel.dialect import addr_of, outl, u32, u64
from qkernel.mm.addr import pa

request: Qcall = Qcall()


def qcall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64:
    """Performs qcall `nr`; returns its result (>= 0, or -errno as two's complement)."""
    request.nr = nr
    request.args[0] = a0
    request.args[1] = a1
    request.args[2] = a2
    request.args[3] = a3
    request.result = 0
    outl(QCALL_PORT, u32(pa(u64(addr_of(request)))))
    return request.result
