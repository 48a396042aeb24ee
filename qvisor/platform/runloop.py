"""The inner vCPU loop of the /dev/kvm platforms (kvm, pvm): the C extension when it was built, else
pure Python.

Owns: choosing the implementation (FAST says which is active, WHY why not the C one; the
environment variable QVISOR_PURE_PYTHON=1 forces Python), the OutValue callback convention,
and run_vcpu(), which KvmPlatform's run loop calls instead of Vcpu.run(). Does not own exit
dispatch (kvm.py does) nor decoding (qvisor.kvm.exits does). The C path uses three private
Vcpu attributes as Vcpu.run does (_mm: the kvm_run mapping, _mv: its view, _pending: the
uncompleted IN/MMIO read); tests/qvisor/test_runloop.py checks both paths agree.

run_vcpu(vcpu, outs, max_exits) enters the guest and serves every `out` to a port registered
in `outs` (port -> callback; read live) itself, resuming while callbacks return a false value;
it returns (exit, served, done):
- done True: stop here and return `exit`, because a callback returned true (exit is its IoOut)
  or `served` reached max_exits (exit is the last one served);
- done False: `exit` is the first exit not served here (other ports, IN, HLT, SHUTDOWN, MMIO,
  Interrupted...), for the caller to dispatch; `served` exits were served before it.
max_exits None = no limit; otherwise at least one exit is entered (as KvmPlatform.run's
max_exits). Callback exceptions propagate, the exit consumed. The Vcpu's pending-IN/MMIO
protocol (complete_io_in before the next run, else all-ones) holds whichever loop ran.

With the extension (_runloop.pyx) the KVM_RUN ioctl runs with the GIL released and served exits
cost one Python call each; EINTR returns at once, after the Python signal handlers have run.
"""

from __future__ import annotations

import os
from typing import Callable

from ..kvm import ioctls as K
from ..kvm import structs as S
from ..kvm.exits import Exit, Interrupted, IoIn, IoOut, Mmio, decode_exit
from ..kvm.vm import KvmError, Vcpu


class OutValue:
    """An out-port callback that takes the value written instead of the IoOut: fn(value) with
    the first item as an unsigned int (the whole value for the usual single `out`; a `rep outs`
    delivers only its first item). The qcall convention: `h.on_out(QCALL_PORT,
    OutValue(server.handle))`. Calling the instance with an IoOut does the same, so any run
    loop (pure Python, emu) accepts it; the C loop calls fn directly without building an IoOut.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[int], bool | None]) -> None:
        self.fn = fn

    def __call__(self, e: IoOut) -> bool | None:
        return self.fn(int.from_bytes(e.data[: e.size], "little"))

    def __repr__(self) -> str:
        return f"OutValue({self.fn!r})"


def run_vcpu_py(vcpu: Vcpu, outs: dict, max_exits: int | None = None
                ) -> tuple[Exit, int, bool]:
    """The pure-Python implementation of run_vcpu (Vcpu.run + decode per exit)."""
    run = vcpu.run
    served = 0
    while True:
        e = run()
        if type(e) is not IoOut:
            return e, served, False
        fn = outs.get(e.port)
        if fn is None:
            return e, served, False
        if fn(e):
            return e, served, True
        served += 1
        if max_exits is not None and served >= max_exits:
            return e, served, True


def _make_fast(ext):
    serve, STOP, LIMIT = ext.serve, ext.STOP, ext.LIMIT
    INTERRUPTED, ERROR = ext.INTERRUPTED, ext.ERROR
    mmio_data = S.KVM_RUN_EXIT_UNION_OFFSET + 8

    def run_vcpu_fast(vcpu: Vcpu, outs: dict, max_exits: int | None = None
                      ) -> tuple[Exit, int, bool]:
        """The C implementation of run_vcpu (see the module docstring)."""
        if not outs or vcpu._mm is None:      # nothing to serve in C; a closed Vcpu (KvmError)
            return run_vcpu_py(vcpu, outs, max_exits)
        served = 0
        if vcpu._pending is not None:         # an uncompleted IN/MMIO read: Vcpu.run fills it
            e = vcpu.run()
            fn = outs.get(e.port) if type(e) is IoOut else None
            if fn is None:
                return e, 0, False
            if fn(e):
                return e, 0, True
            served = 1
            if max_exits is not None and served >= max_exits:
                return e, served, True
        code, n, err = serve(vcpu.fd, vcpu._mm, outs, OutValue, IoOut,
                             -1 if max_exits is None else max(max_exits - served, 0))
        served += n
        if code == INTERRUPTED:
            return Interrupted(), served, False
        if code == ERROR:
            raise KvmError("KVM_RUN", err)
        e = decode_exit(vcpu._mv)
        t = type(e)
        if t is IoIn:                         # as Vcpu.run does: the guest's IN is pending
            vcpu._pending = ("in", vcpu.kvm_run.io.data_offset, e.size * e.count)
        elif t is Mmio and not e.is_write:
            vcpu._pending = ("mmio", mmio_data, len(e.data))
        return e, served, code == STOP or code == LIMIT

    return run_vcpu_fast


def _load() -> tuple[object | None, str]:
    if os.environ.get("QVISOR_PURE_PYTHON", "") not in ("", "0"):
        return None, "QVISOR_PURE_PYTHON is set"
    try:
        from . import _runloop as ext
    except ImportError as e:
        return None, f"the C extension is not built ({e}); `pip install -e .` builds it"
    except Exception as e:  # noqa: BLE001 - a broken build must not stop qvisor from running
        return None, f"the C extension failed to load: {type(e).__name__}: {e}"
    io = S._run_io
    want = {"KVM_RUN": K.KVM_RUN, "immediate_exit": S.kvm_run.immediate_exit.offset,
            "exit_reason": S.kvm_run.exit_reason.offset, "io": S.kvm_run.io.offset,
            "io.size": io.size.offset, "io.port": io.port.offset, "io.count": io.count.offset,
            "io.data_offset": io.data_offset.offset,
            "KVM_EXIT_IO": K.KVM_EXIT_IO, "KVM_EXIT_IO_OUT": K.KVM_EXIT_IO_OUT}
    if ext.LAYOUT != want:
        return None, f"the C extension's kvm_run layout {ext.LAYOUT} differs from {want}"
    return ext, ""


_ext, _why = _load()
run_vcpu_fast = _make_fast(_ext) if _ext is not None else None

FAST: bool = False
WHY: str = ""
run_vcpu = run_vcpu_py


def select(fast: bool) -> None:
    """Make run_vcpu the C (fast=True; ValueError when unavailable, with the reason) or the
    Python implementation; FAST and WHY follow. For tests and benchmarks."""
    global FAST, WHY, run_vcpu
    if fast and run_vcpu_fast is None:
        raise ValueError(f"the C run loop is unavailable: {_why}")
    FAST, WHY = fast, "" if fast else (_why or "selected by select(False)")
    run_vcpu = run_vcpu_fast if fast else run_vcpu_py


select(run_vcpu_fast is not None)

__all__ = ["FAST", "WHY", "OutValue", "run_vcpu", "run_vcpu_py", "run_vcpu_fast", "select"]
