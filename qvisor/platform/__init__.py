"""Platforms: what runs the guest kernel: kvm (/dev/kvm, kvm.py), pvm (this host's kvm_pvm, a kvm
special case, pvm.py), emu (unicorn, the emu package); select.py picks one.

Owns: the small contract every platform meets (Platform), the exit-handler object the run
loops dispatch to (Handlers), and the platform-neutral register snapshot (Regs). Exit values
are the dataclasses of qvisor.kvm.exits; a non-KVM platform produces the same types.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Callable, Protocol

from ..kvm.exits import (Exit, FailEntry, Hlt, InternalError, IoIn, IoOut, Mmio, Shutdown,
                         describe)
from ..memory import GuestMemory
from ..pagetables import BootLayout


@dataclass(frozen=True)
class Regs:
    """A snapshot of the boot vCPU's architectural state (all values unsigned ints)."""
    rax: int = 0
    rbx: int = 0
    rcx: int = 0
    rdx: int = 0
    rsi: int = 0
    rdi: int = 0
    rsp: int = 0
    rbp: int = 0
    r8: int = 0
    r9: int = 0
    r10: int = 0
    r11: int = 0
    r12: int = 0
    r13: int = 0
    r14: int = 0
    r15: int = 0
    rip: int = 0
    rflags: int = 0
    cs: int = 0
    ss: int = 0
    cr0: int = 0
    cr2: int = 0
    cr3: int = 0
    cr4: int = 0
    efer: int = 0

    def __str__(self) -> str:
        items = [f"{f.name:>6}={getattr(self, f.name):#018x}" for f in fields(self)]
        return "\n".join("  ".join(items[i: i + 4]) for i in range(0, len(items), 4))


class Handlers:
    """Exit callbacks for a platform run loop.

    Every method returns True to stop the loop (run() then returns that exit) or False to
    resume the guest. Port callbacks are registered per port: out callbacks get the IoOut and
    return a stop flag (None = resume); in callbacks get the IoIn and return the value the
    guest reads (an int, masked to the access size). Unregistered ports, MMIO and anything
    unexpected go to unhandled(), which stops by default. Subclass to change the defaults.
    """

    def __init__(self) -> None:
        self.out_ports: dict[int, Callable[[IoOut], bool | None]] = {}
        self.in_ports: dict[int, Callable[[IoIn], int]] = {}

    def on_out(self, port: int, fn: Callable[[IoOut], bool | None]) -> "Handlers":
        self.out_ports[port] = fn
        return self

    def on_in(self, port: int, fn: Callable[[IoIn], int]) -> "Handlers":
        self.in_ports[port] = fn
        return self

    def io_out(self, e: IoOut) -> bool:
        fn = self.out_ports.get(e.port)
        return self.unhandled(e) if fn is None else bool(fn(e))

    def io_in(self, e: IoIn) -> int | None:
        """The value to return to the guest, or None to stop the loop."""
        fn = self.in_ports.get(e.port)
        if fn is None:
            return None if self.unhandled(e) else (1 << (8 * e.size)) - 1
        return fn(e)

    def hlt(self, e: Hlt) -> bool:
        return True

    def shutdown(self, e: Shutdown) -> bool:
        return True

    def internal_error(self, e: InternalError) -> bool:
        return True

    def fail_entry(self, e: FailEntry) -> bool:
        return True

    def mmio(self, e: Mmio) -> bool:
        return self.unhandled(e)

    def unhandled(self, e: Exit) -> bool:
        return True


class RunTimeout(Exception):
    """run(timeout=...) expired with the guest still running; `regs` is where it was."""

    def __init__(self, timeout: float, regs: Regs) -> None:
        super().__init__(f"guest still running after {timeout} s (rip {regs.rip:#x})")
        self.timeout, self.regs = timeout, regs


class Platform(Protocol):
    name: str
    memory: GuestMemory
    layout: BootLayout
    boot_caps: int        # qkernel.abi CAP_* passed in BootParams.caps
    fault_around: int     # BootParams.fault_around (0: one page per fault)

    def load_kernel(self, image: str | bytes | os.PathLike) -> int:
        """Load the kernel ELF, set up the boot vCPU; return the entry address."""

    def run(self, handlers: Handlers, *, timeout: float | None = None) -> Exit:
        """Run until a handler asks to stop; return that exit."""

    def interrupt(self) -> None:
        """Thread-safe: make run() return to Python code soon (where a signal handler can run);
        the run goes on unless something raises."""

    def regs(self) -> Regs:
        """Snapshot of the boot vCPU's registers."""

    def flush_code(self) -> None:
        """Forget translated code after the host wrote guest memory the guest may execute."""

    def close(self) -> None: ...


__all__ = ["Platform", "Handlers", "Regs", "RunTimeout", "describe"]
