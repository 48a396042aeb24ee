"""Host signals that stop the sandbox: SIGINT, SIGTERM and SIGHUP sent to qvisor.

The guest has no signals yet, so such a signal stops the whole sandbox and qvisor exits with
128 + N, as a shell reports a child killed by signal N, without a traceback.

Two layers:
- install_quiet_handlers(): the CLI's process-wide handlers, set first thing: a stop signal
  anywhere in qvisor raises SandboxStopped, which the CLI turns into the exit status.
- StopOnSignals: while a VM runs. A stop signal records N and calls the platform's
  `interrupt()`, which makes its run() return an Interrupted exit soon (KVM's immediate_exit,
  unicorn's emu_stop); the VMM then ends with 128 + N. Nothing is raised from a signal handler
  (an exception raised there can land in a unicorn hook's ctypes callback, where it is lost).
  A host operation that blocks for the guest (console read, sleep) waits on `fd` as well, which
  becomes readable at a stop signal. A Python handler runs only when the main thread executes
  Python code, and the signal may have been taken by another thread (emu's deadline thread) or
  arrived just before the main thread entered KVM_RUN or emu_start, where it could wait behind
  a guest that spins without exits: so a helper thread, woken through signal.set_wakeup_fd by
  whichever thread took the signal, does the same and sends the signal on to the main thread
  (which interrupts a KVM_RUN in progress), every RETRY_S until the run has ended.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SandboxStopped(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt, so that no `except
    Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def status(self) -> int:
        return 128 + self.signum


def _raise_stopped(signum: int, frame: object) -> None:
    raise SandboxStopped(signum)


def install_quiet_handlers() -> None:
    """Process-wide (main thread): every stop signal raises SandboxStopped."""
    for s in STOP_SIGNALS:
        signal.signal(s, _raise_stopped)


class StopOnSignals:
    """Context manager around a platform's run(); `interrupt` must be thread-safe. `signum` is
    the first stop signal seen (None: none); `fd` is readable once one came. Outside the main
    thread it installs nothing (fd never becomes readable)."""

    RETRY_S = 0.02

    def __init__(self, interrupt: Callable[[], None]) -> None:
        self.interrupt = interrupt
        self.signum: int | None = None
        self._active = threading.current_thread() is threading.main_thread()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._old: dict[int, object] = {}
        self._old_wakeup = -1
        self._wake: tuple[int, int] | None = None   # set_wakeup_fd's pipe
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._stop = (r, w)                          # readable after a stop signal

    @property
    def fd(self) -> int:
        return self._stop[0]

    def _trip(self, signum: int) -> None:
        """A stop signal: record it, make waiting host operations and the run return."""
        with self._lock:
            first = self.signum is None
            if first:
                self.signum = signum
        if first:
            try:
                os.write(self._stop[1], b"\1")
            except OSError:
                pass
        self.interrupt()

    def _handler(self, signum: int, frame: object) -> None:
        self._trip(signum)

    def __enter__(self) -> "StopOnSignals":
        if not self._active:
            return self
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._wake = (r, w)
        self._main = threading.main_thread().ident
        try:
            self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        except BaseException:
            self._restore()
            raise
        self._thread = threading.Thread(target=self._watch, args=(r,), name="qvisor-stop", daemon=True)
        self._thread.start()
        return self

    def _watch(self, r: int) -> None:
        stops: list[int] = []
        while not stops:
            try:
                select.select([r], [], [])
                data = os.read(r, 64)
            except BlockingIOError:
                continue
            except OSError:
                return
            if self._done.is_set():
                return
            stops = [b for b in data if b in STOP_SIGNALS]
        signum = self.signum or stops[0]
        while not self._done.is_set():
            try:
                self._trip(signum)
                signal.pthread_kill(self._main, signum)
            except Exception:                # noqa: BLE001 - the run is ending anyway
                pass
            self._done.wait(self.RETRY_S)

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            self.close()
            return
        self._done.set()
        if self._wake is not None:
            try:
                os.write(self._wake[1], b"\0")   # wakes a watcher still waiting for a signal
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join()
        self._restore()
        self.close()

    def _restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        self._old.clear()
        if self._wake is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def close(self) -> None:
        if self._stop is not None:
            for fd in self._stop:
                os.close(fd)
            self._stop = None
