"""The kernel log: leveled messages kept in a ring buffer and forwarded to the host.

The ring (`ring`, `ring_head`) lives in kernel memory so QVisor can read its tail from guest memory
by symbol for a crash report even when the kernel is wedged. Messages at `console_level` or more
severe are also sent to the host with QCALL_LOG.
"""

from __future__ import annotations

from qkernel.abi import LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN
from qkernel.dialect import Final, addr_of, array, ptr, u8, u64
from qkernel.lib import fmt
from qkernel import qcall

RING_SIZE: Final = 16384  # bytes; a power of two
ring: array[u8, 16384] = array[u8, 16384]()
ring_head: u64 = 0            # total bytes ever written; the tail is ring[(head - n) % RING_SIZE ...]
console_level: u64 = LOG_INFO
line: fmt.Line = fmt.Line()  # the message being built: per-CPU (one vCPU; no switch mid-line)


def _ring_put(c: u8) -> None:
    global ring_head
    ring[ring_head & (RING_SIZE - 1)] = c
    ring_head += 1


def start(level: u64) -> ptr[fmt.Line]:
    """Begins a message: returns the shared line buffer, prefixed with the level tag."""
    lp = addr_of(line)
    fmt.clear(lp)
    if level == LOG_ERROR:
        fmt.put_str(lp, b"E ")
    elif level == LOG_WARN:
        fmt.put_str(lp, b"W ")
    elif level == LOG_INFO:
        fmt.put_str(lp, b"I ")
    else:
        fmt.put_str(lp, b"D ")
    return lp


def finish(level: u64) -> None:
    """Ends the message begun by start(): into the ring, and to the host if severe enough."""
    lp = addr_of(line)
    for i in range(lp.len):
        _ring_put(lp.data[i])
    _ring_put(10)
    if level <= console_level:
        qcall.log(level, addr_of(lp.data[0]), lp.len)


def msg(level: u64, text: ptr[u8]) -> None:
    fmt.put_str(start(level), text)
    finish(level)


def msg_hex(level: u64, text: ptr[u8], value: u64) -> None:
    lp = start(level)
    fmt.put_str(lp, text)
    fmt.put_hex(lp, value)
    finish(level)


def msg_dec(level: u64, text: ptr[u8], value: u64) -> None:
    lp = start(level)
    fmt.put_str(lp, text)
    fmt.put_dec(lp, value)
    finish(level)


def info(text: ptr[u8]) -> None:
    msg(LOG_INFO, text)


def debug(text: ptr[u8]) -> None:
    msg(LOG_DEBUG, text)


def error(text: ptr[u8]) -> None:
    msg(LOG_ERROR, text)
