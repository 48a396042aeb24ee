"""Cost of one `out` VM exit on the pvm platform, from the pure-Python run loop.

Usage: python bench/kvm_exit.py [N]   (default 20000 exits)
Prints us/exit for: the bare Vcpu.run() loop (ioctl + decode), and PvmPlatform.run() with a
Handlers port callback (the path qcalls will take). The guest loop itself is 3 instructions
at CPL 0, which this host emulates; the last line measures that cost alone (no exits).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qvisor.kvm import Hlt, IoOut  # noqa: E402
from qvisor.platform import Handlers  # noqa: E402
from qvisor.platform.pvm import PvmPlatform  # noqa: E402

PORT = 0x10
# mov (%rdi),%rcx ; 1: out %al,$0x10 ; dec %rcx ; jnz 1b ; hlt
GUEST = bytes.fromhex("488b0f" "e610" "48ffc9" "75f9" "f4")
# mov (%rdi),%rcx ; 1: add $1,%rax (x10) ; dec %rcx ; jnz 1b ; hlt
ADDS = bytes.fromhex("488b0f" + "4883c001" * 10 + "48ffc9" "75" + f"{(-(10 * 4 + 5)) & 0xff:02x}"
                     + "f4")


def bench(n: int) -> None:
    with PvmPlatform(16 << 20) as p:
        lay = p.layout
        for label in ("bare Vcpu.run loop", "PvmPlatform.run + Handlers"):
            p.memory.write_u64(lay.BOOT_PARAMS_PHYS, n)
            p.load_flat(GUEST, lay.KERNEL_BASE)
            count = 0
            t0 = time.perf_counter()
            if label.startswith("bare"):
                run = p.vcpu.run
                while True:
                    e = run()
                    if type(e) is IoOut:
                        count += 1
                        continue
                    break
            else:
                def on_out(e: IoOut) -> None:
                    nonlocal count
                    count += 1
                e = p.run(Handlers().on_out(PORT, on_out), timeout=60)
            dt = time.perf_counter() - t0
            assert isinstance(e, Hlt) and count == n, (e, count)
            print(f"{label:28s}: {n} out exits in {dt:.3f} s = {dt / n * 1e6:.2f} us/exit")
        m = max(n // 10, 100)
        p.memory.write_u64(lay.BOOT_PARAMS_PHYS, m)
        p.load_flat(ADDS, lay.KERNEL_BASE)
        t0 = time.perf_counter()
        e = p.run(Handlers(), timeout=60)
        dt = time.perf_counter() - t0
        assert isinstance(e, Hlt) and p.regs().rax == 10 * m, e
        print(f"{'CPL 0 instructions':28s}: {12 * m} in {dt:.3f} s = "
              f"{dt / (12 * m) * 1e9:.0f} ns/instruction (no exits)")


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
