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

A handler that waits on the host for the guest (console read, sleep) waits through the server's
Wakeup (`server.wakeup`): it ends early, the call answering -EINTR, when qvisor got a stop signal
(`stop_fd`, qvisor/signals.py) or the server was closed (the end of the run), on whichever
thread the handler runs.
"""

from __future__ import annotations

import inspect
import os
import select
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


READY, STOPPED, TIMED_OUT = "ready", "stopped", "timed out"
_POLL_IN = select.POLLIN | select.POLLPRI


class Wakeup:
    """What ends a host wait on the guest's behalf early: a stop signal (`stop_fd` becomes
    readable and stays so; not owned here) or close() (the server's end: a pipe of its own,
    written once and never drained). wait() polls for them together with the descriptor
    waited on, so a blocked console read or a sleep returns on the vCPU thread and on a ring
    worker alike. Thread-safe. The pipe is made on the first wait and closed when the last
    waiter has left after close() (a descriptor is never closed under a poll that uses it)."""

    def __init__(self, stop_fd: int | None = None) -> None:
        self.stop_fd = stop_fd
        self._lock = threading.Lock()
        self._pipe: tuple[int, int] | None = None
        self._waiters = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def stopped(self) -> bool:
        """Whether a wait now would end at once: closed, or a stop signal came."""
        return self._closed or (self.stop_fd is not None and _readable_now(self.stop_fd))

    def wait(self, fd: int | None = None, timeout: float | None = None) -> str:
        """Waits until `fd` (if given) is readable, a stop, or `timeout` seconds (None: no
        limit); returns READY, STOPPED or TIMED_OUT. A stop wins over a ready fd."""
        with self._lock:
            if self._closed:
                return STOPPED
            if self._pipe is None:
                self._pipe = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            own = self._pipe[0]
            self._waiters += 1
        try:
            poll = select.poll()
            poll.register(own, _POLL_IN)
            if self.stop_fd is not None:
                poll.register(self.stop_fd, _POLL_IN)
            if fd is not None and fd not in (own, self.stop_fd):
                poll.register(fd, _POLL_IN)
            while True:
                try:
                    events = poll.poll(None if timeout is None else max(0.0, timeout) * 1000)
                    break
                except InterruptedError:      # PEP 475 retries; kept for a handler that raises
                    continue
        finally:
            with self._lock:
                self._waiters -= 1
                last = self._closed and self._waiters == 0
            if last:
                self._close_pipe()
        ready = {f for f, _ in events}
        if own in ready or (self.stop_fd is not None and self.stop_fd in ready):
            return STOPPED
        return READY if ready else TIMED_OUT

    def sleep(self, seconds: float) -> bool:
        """Sleeps `seconds` (at least: poll's millisecond timeout is rounded up); True when a
        stop ended it early. Below a millisecond it does not poll (a stop is then noticed
        after the sleep)."""
        if seconds < 1e-3:
            if seconds > 0:
                time.sleep(seconds)
            return self.stopped()
        return self.wait(None, seconds) == STOPPED

    def close(self) -> None:
        """Ends every wait now and every later one at once (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pipe, idle = self._pipe, self._waiters == 0
        if pipe is not None:
            try:
                os.write(pipe[1], b"\1")
            except OSError:
                pass
            if idle:
                self._close_pipe()

    def _close_pipe(self) -> None:
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                os.close(fd)

    def __del__(self) -> None:      # a server never closed: no waiter can be left (they hold it)
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _readable_now(fd: int) -> bool:
    poll = select.poll()
    poll.register(fd, _POLL_IN)
    return bool(poll.poll(0))
