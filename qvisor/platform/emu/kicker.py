"""The emu platform's deadline thread: unicorn's emu_start runs until something stops it, so a
helper thread calls uc.emu_stop at the next deadline (a timer tick, the run's timeout).
Unicorn's own emu_start timeout spawns and joins a thread per call (~100 us); a plain
emu_start costs ~1.5 us."""

from __future__ import annotations

import threading
import time

from unicorn import Uc


class Kicker:
    """Calls uc.emu_stop() once the deadline passes while the guest runs (and again every
    RETRY_S while it still runs: a stop that lands just before emu_start resets its stop flag
    is lost)."""

    RETRY_S = 0.0005

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self.cv = threading.Condition()
        self.deadline: float | None = None      # time.monotonic() seconds
        self.active = False
        self.closed = False
        self.kicks = 0
        self.thread: threading.Thread | None = None

    def arm(self, deadline: float | None) -> None:
        """The guest is about to run; stop it at deadline (None: no deadline)."""
        with self.cv:
            self.deadline = deadline
            self.active = True
            if deadline is not None:
                self._start()
                self.cv.notify()

    def update(self, deadline: float) -> None:
        """An earlier deadline for the slice now running (from a hook)."""
        with self.cv:
            if self.active and (self.deadline is None or deadline < self.deadline):
                self.deadline = deadline
                self._start()
                self.cv.notify()

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="emu-kicker", daemon=True)
            self.thread.start()

    def disarm(self) -> None:
        with self.cv:
            self.active = False

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify()
        if self.thread is not None:
            self.thread.join(1.0)

    def _run(self) -> None:
        with self.cv:
            while not self.closed:
                d = self.deadline
                if not self.active or d is None:
                    self.cv.wait()
                    continue
                now = time.monotonic()
                if now < d:
                    self.cv.wait(d - now)
                    continue
                self.kicks += 1
                self.uc.emu_stop()
                self.cv.wait(self.RETRY_S)
