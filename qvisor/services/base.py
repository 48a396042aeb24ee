"""Host services: objects that each register their own qcalls with the QcallServer.

A service is a plain object whose qcall handlers are methods marked with @qcall(NR). The
server's register(service) finds them and puts the bound methods straight into its dispatch
table; there is no adapter layer. A handler takes as many u64 arguments as it uses (positional,
a0 first; the server passes only those, so no `*_` padding) and returns the result: >= 0, or
-errno. It validates every guest address and length through GuestMemory (GuestFault becomes
-EFAULT for the guest; the server catches it) BEFORE any side effect. Raising QcallStop ends
the run (exit, panic).

Adding a host call is one service method (plus the kernel's typed wrapper):

    class Clock(Service):
        @qcall(K.QCALL_CLOCK)
        def clock(self, clock_id: int) -> int: ...

`blocking=True` marks a call that may block on the host (console read, sleep; later pipes and
sockets): only those are served from the asynchronous ring (qvisor/services/ring.py), by host
threads. The others are synchronous only (a ring entry naming one completes with -EINVAL).

A service gets `server` and `memory` when registered (attach()); handlers marked blocking run on
ring worker threads as well as on the vCPU thread, so they must be thread-safe.
"""

from __future__ import annotations

import inspect
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from ..memory import GuestMemory

MAX_ARGS = 6
_MARK = "__qcall__"


class QcallStop(Exception):
    """Raised by a handler to end the run: the guest exited or panicked."""


@dataclass
class GuestExit(QcallStop):
    status: int


@dataclass
class KernelPanic(QcallStop):
    message: str
    frame_gpa: int  # guest-physical address of a TrapFrame, 0 when panic() was called directly


@dataclass
class QcallFault(QcallStop):
    gpa: int
    reason: str


@dataclass(frozen=True)
class QcallSpec:
    nr: int
    blocking: bool


def qcall(nr: int, *, blocking: bool = False) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Marks a service method as the handler of qcall `nr`."""
    def mark(method: Callable[..., int]) -> Callable[..., int]:
        setattr(method, _MARK, QcallSpec(int(nr), blocking))
        return method
    return mark


@dataclass(frozen=True)
class Entry:
    """One row of the server's dispatch table."""
    nr: int
    fn: Callable[..., int]   # the bound service method
    nargs: int               # how many of a0..a5 it takes
    blocking: bool           # may be served from the ring by a host thread
    name: str                # "Service.method", for logs and errors


class Service:
    """Base class of host services (optional: register() only needs @qcall methods)."""

    server: Any = None
    memory: "GuestMemory | None" = None

    def attach(self, server: Any) -> None:
        """Called by QcallServer.register before any handler runs."""
        self.server = server
        self.memory = server.memory


def _nargs(fn: Callable[..., int], name: str) -> int:
    n = 0
    for p in inspect.signature(fn).parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty:
            raise TypeError(f"qcall handler {name}: only plain positional u64 parameters allowed")
        n += 1
    if n > MAX_ARGS:
        raise TypeError(f"qcall handler {name} takes {n} arguments; a qcall has {MAX_ARGS}")
    return n


def entries(service: object) -> Iterator[Entry]:
    """The dispatch entries of a service's @qcall methods (bound to it)."""
    cls = type(service)
    for attr in dir(cls):
        spec = getattr(getattr(cls, attr, None), _MARK, None)
        if not isinstance(spec, QcallSpec):
            continue
        fn = getattr(service, attr)
        name = f"{cls.__name__}.{attr}"
        yield Entry(spec.nr, fn, _nargs(fn, name), spec.blocking, name)


_ring_worker = threading.local()


def in_ring_worker() -> bool:
    """True on a ring worker thread (a blocking handler must then not keep a view of guest
    memory across the blocking part: the ring, or the VM, may go away meanwhile)."""
    return getattr(_ring_worker, "active", False)


def ring_wait(seconds: float) -> bool:
    """Sleeps `seconds`; on a ring worker, returns True early if that ring was torn down."""
    cancel = getattr(_ring_worker, "cancel", None)
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)
