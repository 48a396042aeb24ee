"""Small host services: the run's lifecycle (exit, panic), the kernel log, clocks, sleeping,
random bytes and zeroing guest frames. Each registers its own qcalls (see base.py)."""

from __future__ import annotations

import errno
import os
import sys
import time

from qkernel import abi as K

from ..memory import GuestFault
from .base import GuestExit, KernelPanic, Service, in_ring_worker, qcall, ring_wait

MAX_RANDOM = 1 << 20           # bytes per random qcall (-EINVAL beyond)
LOG_MAX = 4096                 # bytes of a log line or panic message read
SLEEP_MAX_NS = 10**13          # a longer nanosleep sleeps this long
ZERO_PAGES_MAX = 1 << 20       # pages per zero-pages qcall (-EINVAL beyond)
STOP_POLL_S = 0.1              # a ring worker's sleep looks for a stop signal this often
LOG_TAGS = {K.LOG_ERROR: "error", K.LOG_WARN: "warn", K.LOG_INFO: "info", K.LOG_DEBUG: "debug"}


class Lifecycle(Service):
    """QCALL_EXIT and QCALL_PANIC: both end the run (QcallStop)."""

    @qcall(K.QCALL_EXIT)
    def exit(self, status: int) -> int:
        raise GuestExit(status & 0xFF)

    @qcall(K.QCALL_PANIC)
    def panic(self, msg: int, length: int, frame_gpa: int) -> int:
        try:
            text = self.memory.read(msg, min(length, LOG_MAX)).decode("utf-8", "replace")
        except GuestFault:
            text = "(panic message at an invalid address)"
        raise KernelPanic(text, frame_gpa)


class KernelLog(Service):
    """QCALL_LOG: lines go to the server's `log` list, its `on_log` callback and, with
    `echo_log`, to the host's stderr."""

    @qcall(K.QCALL_LOG)
    def klog(self, level: int, buf: int, length: int) -> int:
        text = self.memory.read(buf, min(length, LOG_MAX)).decode("utf-8", "replace")
        srv = self.server
        srv.log.append(text)
        if srv.on_log is not None:
            srv.on_log(level, text)
        if srv.echo_log:
            print(f"[qkernel {LOG_TAGS.get(level, level)}] {text}", file=sys.stderr)
        return 0


class Clock(Service):
    @qcall(K.QCALL_CLOCK)
    def clock(self, clock_id: int) -> int:
        if clock_id == 0:
            return time.time_ns()
        if clock_id == 1:
            return time.monotonic_ns()
        return -errno.EINVAL


class Sleep(Service):
    """QCALL_NANOSLEEP (blocking-capable). On the vCPU thread it sleeps the vCPU; from the ring
    it sleeps a worker thread. Either way the sleep ends early (-EINTR) at a stop signal or
    when the server is closed (the server's Wakeup, base.py), and from the ring also when the
    ring is torn down."""

    @qcall(K.QCALL_NANOSLEEP, blocking=True)
    def nanosleep(self, ns: int) -> int:
        seconds = min(ns, SLEEP_MAX_NS) / 1e9
        wakeup = self.server.wakeup
        if not in_ring_worker():
            return -errno.EINTR if wakeup.sleep(seconds) else 0
        # the ring's teardown (an Event) and a stop (descriptors): slices of the ring's wait,
        # each ended by the teardown, with a look at the stop between them
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return 0
            if ring_wait(min(left, STOP_POLL_S)) or wakeup.stopped():
                return -errno.EINTR


class Random(Service):
    @qcall(K.QCALL_RANDOM)
    def random(self, buf: int, length: int) -> int:
        if length > MAX_RANDOM:
            return -errno.EINVAL
        self.memory.check(buf, length)
        self.memory.write(buf, os.urandom(length))
        return length


class FrameZeroing(Service):
    """QCALL_ZERO_PAGES: on pvm CPL 0 is emulated, so the host zeroes frames for the guest."""

    @qcall(K.QCALL_ZERO_PAGES)
    def zero_pages(self, pa: int, npages: int) -> int:
        if pa % 4096 or npages > ZERO_PAGES_MAX:
            return -errno.EINVAL
        self.memory.fill(pa, npages * 4096, 0)
        return 0
