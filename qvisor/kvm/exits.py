"""Decode a kvm_run page into typed, immutable exit values: the ONE place that reads exit_reason.

Owns: the Exit dataclasses and decode_exit(). Everything above this (vCPU run loop, platforms,
qcall dispatch) matches on these types and never looks at kvm_run fields itself.

Contract: decode_exit copies what it needs (port data, MMIO bytes, internal-error words) out of
the shared page, so an Exit stays valid after the next KVM_RUN overwrites the page. The bytes of
an I/O exit live in the same mapping at kvm_run.io.data_offset (4096 on Linux), so the decoder
takes the whole mapping as a buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import ioctls as K
from .structs import kvm_run


@dataclass(frozen=True, slots=True)
class Exit:
    """Base of all decoded exits."""


@dataclass(frozen=True, slots=True)
class IoOut(Exit):
    port: int
    size: int            # bytes per item: 1, 2 or 4
    data: bytes          # size*count bytes, little endian
    count: int = 1       # >1 only for rep outs

    @property
    def value(self) -> int:
        """The first item as an unsigned little-endian int."""
        return int.from_bytes(self.data[: self.size], "little")


@dataclass(frozen=True, slots=True)
class IoIn(Exit):
    port: int
    size: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class Hlt(Exit):
    pass


@dataclass(frozen=True, slots=True)
class Mmio(Exit):
    addr: int            # guest-physical
    data: bytes          # len bytes; for reads the current (stale) page contents
    is_write: bool


@dataclass(frozen=True, slots=True)
class Shutdown(Exit):
    """KVM_EXIT_SHUTDOWN: the guest triple-faulted (or otherwise reset itself)."""


@dataclass(frozen=True, slots=True)
class InternalError(Exit):
    suberror: int
    data: tuple[int, ...]

    @property
    def name(self) -> str:
        return _SUBERRORS.get(self.suberror, f"suberror {self.suberror}")

    @property
    def insn_bytes(self) -> bytes | None:
        """For an emulation failure that carries them (KVM_INTERNAL_ERROR_FLAG_EMULATION_
        FAILURE_INSN_BYTES in data[0]): the bytes at the faulting rip. data[1..2] hold
        insn_size (1 byte) then up to 15 instruction bytes."""
        if (self.suberror != K.KVM_INTERNAL_ERROR_EMULATION or len(self.data) < 3
                or not self.data[0] & 1):
            return None
        raw = b"".join(x.to_bytes(8, "little") for x in self.data[1:3])
        return raw[1: 1 + min(raw[0], 15)]


@dataclass(frozen=True, slots=True)
class FailEntry(Exit):
    reason: int          # hardware_entry_failure_reason
    cpu: int = 0


@dataclass(frozen=True, slots=True)
class SystemEvent(Exit):
    type: int
    data: tuple[int, ...]

    @property
    def name(self) -> str:
        return _SYSTEM_EVENTS.get(self.type, f"type {self.type}")


@dataclass(frozen=True, slots=True)
class Interrupted(Exit):
    """KVM_RUN returned EINTR (a signal, or immediate_exit was set): not a guest event."""


@dataclass(frozen=True, slots=True)
class Debug(Exit):
    exception: int
    pc: int


@dataclass(frozen=True, slots=True)
class Unknown(Exit):
    reason: int          # kvm_run.exit_reason
    hardware_reason: int = 0


_SUBERRORS = {
    K.KVM_INTERNAL_ERROR_EMULATION: "emulation failure",
    K.KVM_INTERNAL_ERROR_SIMUL_EX: "simultaneous exceptions",
    K.KVM_INTERNAL_ERROR_DELIVERY_EV: "event delivery failure",
    K.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: "unexpected exit reason",
}
_SYSTEM_EVENTS = {
    K.KVM_SYSTEM_EVENT_SHUTDOWN: "shutdown",
    K.KVM_SYSTEM_EVENT_RESET: "reset",
    K.KVM_SYSTEM_EVENT_CRASH: "crash",
}


# Offsets come from the ctypes layout (structs.py), so there is one description of kvm_run;
# decoding itself uses precompiled struct.Struct readers on the raw page (ctypes attribute
# access costs ~7 us per exit here, struct.unpack_from well under 1 us).
_REASON_OFF = kvm_run.exit_reason.offset
_U = kvm_run.u.offset
_reason = struct.Struct("<I")
_io = struct.Struct("<BBHIQ")         # direction, size, port, count, data_offset
_mmio = struct.Struct("<Q8sIB")       # phys_addr, data, len, is_write
_fail = struct.Struct("<QI")          # hardware_entry_failure_reason, cpu
_ndata = struct.Struct("<II")         # suberror|type, ndata (data[16] follows at +8)
_debug = struct.Struct("<I4xQ")       # exception, pc
_u64 = struct.Struct("<Q")


def _words(mv, off: int, n: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{n}Q", mv, off)


def decode_exit(run) -> Exit:
    """Decode the current contents of a kvm_run page.

    `run` is either a buffer holding the whole mapping (what Vcpu passes: bytes, bytearray,
    mmap or memoryview starting at the kvm_run) or a kvm_run ctypes struct; in the latter case
    port data must lie inside the struct's 2352 bytes. Port data outside the buffer raises
    ValueError (a corrupt page, never guest-controlled: KVM writes data_offset).
    """
    if type(run) is memoryview and run.format == "B":
        mv = run                                  # the Vcpu's view of its page: fast path
    else:
        mv = memoryview(run).cast("B")
    r = _reason.unpack_from(mv, _REASON_OFF)[0]
    if r == K.KVM_EXIT_IO:
        direction, size, port, count, off = _io.unpack_from(mv, _U)
        if direction == K.KVM_EXIT_IO_OUT:
            n = size * count
            if off + n > len(mv):
                raise ValueError(f"kvm_run io data [{off:#x}, +{n}) outside the "
                                 f"{len(mv)}-byte page")
            return IoOut(port, size, bytes(mv[off: off + n]), count)
        return IoIn(port, size, count)
    if r == K.KVM_EXIT_HLT:
        return Hlt()
    if r == K.KVM_EXIT_MMIO:
        addr, data, n, is_write = _mmio.unpack_from(mv, _U)
        return Mmio(addr, data[: min(n, 8)], bool(is_write))
    if r == K.KVM_EXIT_SHUTDOWN:
        return Shutdown()
    if r == K.KVM_EXIT_INTERNAL_ERROR:
        sub, nd = _ndata.unpack_from(mv, _U)
        return InternalError(sub, _words(mv, _U + 8, min(nd, 16)))
    if r == K.KVM_EXIT_FAIL_ENTRY:
        return FailEntry(*_fail.unpack_from(mv, _U))
    if r == K.KVM_EXIT_SYSTEM_EVENT:
        typ, nd = _ndata.unpack_from(mv, _U)
        # ndata is only meaningful with KVM_CAP_SYSTEM_EVENT_DATA; older kernels leave it 0
        # and put flags in data[0].
        return SystemEvent(typ, _words(mv, _U + 8, nd if 0 < nd <= 16 else 1))
    if r == K.KVM_EXIT_INTR:
        return Interrupted()
    if r == K.KVM_EXIT_DEBUG:
        return Debug(*_debug.unpack_from(mv, _U))
    return Unknown(r, _u64.unpack_from(mv, _U)[0])


def describe(e: Exit) -> str:
    """One line for logs and crash reports."""
    if isinstance(e, IoOut):
        return f"out port {e.port:#x} size {e.size} data {e.data.hex()}"
    if isinstance(e, IoIn):
        return f"in port {e.port:#x} size {e.size}"
    if isinstance(e, InternalError):
        insn = e.insn_bytes
        return (f"KVM internal error: {e.name} [{', '.join(hex(x) for x in e.data)}]"
                + (f" insn {insn.hex(' ')}" if insn else ""))
    if isinstance(e, FailEntry):
        return f"VM entry failed: hardware reason {e.reason:#x} on cpu {e.cpu}"
    if isinstance(e, Unknown):
        return f"unknown exit reason {e.reason} (hw {e.hardware_reason:#x})"
    if isinstance(e, SystemEvent):
        return f"system event {e.name} {e.data}"
    return type(e).__name__
