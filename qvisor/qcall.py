"""The host half of qcalls: validates a request block in guest memory and dispatches it to the
host service that registered that qcall number (qvisor/services).

Contract (qkernel/abi.py): the guest writes the guest-physical address of a Qcall block to
QCALL_PORT. Every address and length the guest supplies is checked against guest memory by
GuestMemory (GuestFault -> -EFAULT to the guest); a block that itself lies outside guest memory
stops the VM with QcallFault (a kernel bug, reported as a crash). Unknown numbers answer
-ENOSYS, logged once; a number the ABI defines whose service is absent (the files without a
HostFiles) answers -ENOSYS silently. Handlers touch no host file but the sandbox's stdio and
the files of its host trees: read-only under its root and ro binds, writable in binds given rw
(qvisor/fs.py and fs_write.py confine those).

Services: QcallServer registers the standard ones (Lifecycle, KernelLog, Console, Clock, Sleep,
Random, FrameZeroing, HostFiles when given, RingService); register(service) adds more. Each
@qcall method is an entry of one dispatch table, used by the synchronous path (handle(), on
the vCPU thread) and by the ring (RingService, on its worker threads, blocking-capable ones
only).
"""

from __future__ import annotations

import errno
import struct
import threading
from dataclasses import dataclass, field
from typing import Callable

from qkernel import abi as K

from .abi import QCALL, QCALL_ARGS, QCALL_NR, QCALL_RESULT
from .fs import HostFiles
from .memory import GuestFault, GuestMemory
from .services.base import Entry, GuestExit, KernelPanic, QcallFault, QcallStop, Wakeup, entries
from .services.console import MAX_IO, Console
from .services.ring import RingService
from .services.system import LOG_TAGS, Clock, FrameZeroing, KernelLog, Lifecycle, Random, Sleep

QCALL_STAT_SIZE = 144
_BLOCK = struct.Struct("<Q6Q")   # nr, then args (QCALL_ARGS == QCALL_NR + 8)
assert QCALL_ARGS == QCALL_NR + 8
# every qcall number the ABI defines (a missing service answers them -ENOSYS, unlogged)
ABI_QCALLS = frozenset(v for k, v in vars(K).items()
                       if k.startswith("QCALL_") and k not in ("QCALL_PORT", "QCALL_MAX"))

__all__ = ["QcallServer", "QcallStop", "GuestExit", "KernelPanic", "QcallFault", "Entry",
           "MAX_IO", "LOG_TAGS", "ABI_QCALLS", "default_reserved"]


def default_reserved(mem: GuestMemory) -> list[tuple[int, int]]:
    """Guest-physical ranges no ring may overlap: the boot area and argument block below the
    kernel, and the kernel image, as the host's BootParams (written before the guest runs)
    give it."""
    out = [(0, K.KERNEL_PHYS)]
    try:
        bp = K.BOOT_PARAMS_PHYS
        from .abi import BOOT_PARAMS
        if mem.read_u64(bp + BOOT_PARAMS.offset("magic")) == K.BOOT_MAGIC:
            end = mem.read_u64(bp + BOOT_PARAMS.offset("image_end_phys"))
            if end > K.KERNEL_PHYS:
                out.append((K.KERNEL_PHYS, end))
    except GuestFault:
        pass
    return out


@dataclass
class QcallServer:
    memory: GuestMemory
    stdout: int | None = 1     # None: closed when qvisor started (the guest gets -EBADF)
    stderr: int | None = 2
    echo_log: bool = False  # print kernel log lines to stderr as they arrive
    log: list[str] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    unknown_logged: set[int] = field(default_factory=set)
    on_log: Callable[[int, str], None] | None = None
    files: HostFiles | None = None  # the sandbox's host trees (qvisor/fs.py); None: file qcalls -ENOSYS
    reserved: list[tuple[int, int]] | None = None  # ranges a ring may not overlap (default: boot area, kernel)
    ring_threads: int = 4           # host threads serving the ring, at most
    ring_poll_s: float = 0.0        # > 0: a host thread polls the SQ this long after activity
    stop_fd: int | None = None      # readable after a stop signal: blocking calls end (qvisor/signals.py)
    table: dict[int, Entry] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._log_lock = threading.Lock()
        self.wakeup = Wakeup(self.stop_fd)   # ends console reads and sleeps: a stop, close()
        closed = {fd for fd, host in ((1, self.stdout), (2, self.stderr)) if host is None}
        if self.files is not None and self.files.stdin is None:
            closed.add(0)
        self.console = Console(self.files.stdin if self.files is not None else None,
                               self.stdout, self.stderr, closed=closed)
        self.ring = RingService(reserved=default_reserved(self.memory) if self.reserved is None
                                else self.reserved, threads=self.ring_threads,
                                poll_s=self.ring_poll_s)
        self.register(Lifecycle(), KernelLog(), self.console, Clock(), Sleep(), Random(),
                      FrameZeroing(), self.ring)
        if self.files is not None:
            self.register(self.files)

    def register(self, *services: object) -> None:
        """Adds each service's @qcall methods to the dispatch table (ValueError when a number is
        taken). A Service's attach(server) is called first."""
        for service in services:
            found = list(entries(service))
            for e in found:
                if e.nr in self.table:
                    raise ValueError(f"qcall {e.nr}: {e.name} and {self.table[e.nr].name} both serve it")
            attach = getattr(service, "attach", None)
            if attach is not None:
                attach(self)
            for e in found:
                self.table[e.nr] = e

    def close(self) -> None:
        """The VMM's end of a run (idempotent, and bounded: it never waits on the guest): ends
        every blocking wait (console reads and sleeps, on the vCPU thread or a ring worker), then
        stops the ring's threads, waiting at most RingService.CLOSE_JOIN_S for workers still in
        a handler (one stuck in an uninterruptible host call, a write to a full pipe, is left:
        the workers are daemon threads)."""
        self.ring.ring_teardown()   # first: what the woken waits answer is dropped, not posted
        self.wakeup.close()
        self.ring.close()

    def note(self, line: str) -> None:
        """A host line in the run's log (any thread)."""
        with self._log_lock:
            self.log.append(line)

    def unknown(self, nr: int) -> None:
        """Logs an unknown qcall number once (numbers the ABI defines are not logged)."""
        if nr in ABI_QCALLS:
            return
        with self._log_lock:
            if nr not in self.unknown_logged:
                self.unknown_logged.add(nr)
                self.log.append(f"host: unknown qcall {nr}")

    def handle(self, gpa: int) -> None:
        """Serves the request block at guest-physical `gpa`; raises QcallStop to end the run."""
        mem = self.memory
        try:
            block = mem.read(gpa, QCALL.size)
        except GuestFault as e:
            raise QcallFault(gpa, f"qcall block outside guest memory: {e}") from None
        words = _BLOCK.unpack_from(block, QCALL_NR)   # nr, a0..a5
        nr = words[0]
        counts = self.counts
        counts[nr] = counts.get(nr, 0) + 1
        entry = self.table.get(nr)
        if entry is None:
            self.unknown(nr)
            result = -errno.ENOSYS
        else:
            try:
                result = entry.fn(*words[1: entry.nargs + 1])
            except GuestFault:
                result = -errno.EFAULT
        mem.write_u64(gpa + QCALL_RESULT, result & (2**64 - 1))
