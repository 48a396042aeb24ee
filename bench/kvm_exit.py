"""Cost of one `out` VM exit on the pvm platform: raw KVM_RUN, the pure-Python run loop, the C one.

Usage: python bench/kvm_exit.py [N] [ROUNDS]   (default 20000 exits, 5 rounds)

The guest does N `out %eax` (a 4-byte value, like a qcall) to one port, then hlt. Each round runs
every method once on that same guest, in a rotating order (interleaved, so drift hits all alike);
the table gives the median and the best round in us per exit, and how many times faster than the
pure-Python loop each method is:
- KVM_RUN in C: _runloop.spin(), the ioctl in a C loop with no Python per exit (the floor);
- raw ioctl from Python: fcntl.ioctl(fd, KVM_RUN) in a Python loop, nothing decoded;
- Vcpu.run loop: ioctl + decode_exit to an IoOut, in a Python loop;
- run loop, pure Python: PvmPlatform.run with a Handlers port callback and runloop forced to Python;
- run loop, C + IoOut callback / C + OutValue callback: the same with the C loop (_runloop.pyx),
  the callback getting an IoOut or (the qcall convention) the value as an int.
The C rows go through PvmPlatform.run once pvm.py calls runloop.run_vcpu, else through
runloop.run_vcpu directly (the line under the table says which). The guest's loop is 3
instructions at CPL 0, which this host emulates; the last line measures that cost alone.
"""

from __future__ import annotations

import fcntl
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qvisor.kvm import Hlt, IoOut  # noqa: E402
from qvisor.kvm import ioctls as K  # noqa: E402
from qvisor.platform import Handlers, runloop  # noqa: E402
from qvisor.platform.pvm import PvmPlatform  # noqa: E402

PORT = 0x10
# mov (%rdi),%rcx ; 1: out %eax,$0x10 ; dec %rcx ; jnz 1b ; hlt
GUEST = bytes.fromhex("488b0f" "e710" "48ffc9" "75f9" "f4")
# mov (%rdi),%rcx ; 1: add $1,%rax (x10) ; dec %rcx ; jnz 1b ; hlt
ADDS = bytes.fromhex("488b0f" + "4883c001" * 10 + "48ffc9" "75" + f"{(-(10 * 4 + 5)) & 0xff:02x}"
                     + "f4")
WIRED = "runloop.run_vcpu" in open(os.path.join(os.path.dirname(runloop.__file__), "pvm.py")).read()


def _load(p: PvmPlatform, n: int) -> None:
    p.memory.write_u64(p.layout.BOOT_PARAMS_PHYS, n)
    p.load_flat(GUEST, p.layout.KERNEL_BASE)


def m_spin(p: PvmPlatform, n: int) -> int:
    from qvisor.platform import _runloop
    seen, code, err = _runloop.spin(p.vcpu.fd, p.vcpu._mm, n + 1)
    assert code == _runloop.EXIT and err == 0, (code, err)
    return seen


def m_raw_ioctl(p: PvmPlatform, n: int) -> int:
    fd, req, ioctl = p.vcpu.fd, K.KVM_RUN, fcntl.ioctl
    for _ in range(n):
        ioctl(fd, req, 0)
    assert p.vcpu.kvm_run.exit_reason == K.KVM_EXIT_IO
    return n


def m_vcpu_run(p: PvmPlatform, n: int) -> int:
    run, count = p.vcpu.run, 0
    while True:
        e = run()
        if type(e) is not IoOut:
            break
        count += 1
    assert e == Hlt(), e
    return count


def _via_loop(fast: bool, value: bool):
    def method(p: PvmPlatform, n: int) -> int:
        count = 0

        def on_value(v: int) -> None:
            nonlocal count
            count += 1

        def on_exit(e: IoOut) -> None:
            nonlocal count
            count += 1

        h = Handlers().on_out(PORT, runloop.OutValue(on_value) if value else on_exit)
        runloop.select(fast)
        if WIRED or not fast:
            e = p.run(h, timeout=60)
        else:
            e, served, done = runloop.run_vcpu(p.vcpu, h.out_ports)
        assert e == Hlt(), e
        return count
    return method


METHODS = [
    ("KVM_RUN in C, no Python per exit", m_spin, True),
    ("raw ioctl from Python (fcntl)", m_raw_ioctl, False),
    ("Vcpu.run loop (ioctl + decode)", m_vcpu_run, False),
    ("run loop, pure Python", _via_loop(False, True), False),
    ("run loop, C + IoOut callback", _via_loop(True, False), True),
    ("run loop, C + OutValue callback", _via_loop(True, True), True),
]


def bench(n: int, rounds: int) -> None:
    fast_ok = runloop.run_vcpu_fast is not None
    was = runloop.FAST
    methods = [m for m in METHODS if fast_ok or not m[2]]
    times: dict[str, list[float]] = {name: [] for name, _, _ in methods}
    with PvmPlatform(16 << 20) as p:
        try:
            for r in range(rounds):
                k = r % len(methods)
                for name, fn, _ in methods[k:] + methods[:k]:
                    _load(p, n)
                    t0 = time.perf_counter()
                    count = fn(p, n)
                    dt = time.perf_counter() - t0
                    assert count == n, (name, count)
                    times[name].append(dt / n * 1e6)
        finally:
            runloop.select(was)
        m = max(n // 10, 100)
        p.memory.write_u64(p.layout.BOOT_PARAMS_PHYS, m)
        p.load_flat(ADDS, p.layout.KERNEL_BASE)
        t0 = time.perf_counter()
        e = p.run(Handlers(), timeout=60)
        dt = time.perf_counter() - t0
        assert isinstance(e, Hlt) and p.regs().rax == 10 * m, e
    base = statistics.median(times["run loop, pure Python"])
    print(f"{n} `out %eax` exits per run, {rounds} interleaved rounds; us/exit")
    print(f"| {'method':34s} | median |   best | vs pure-Python loop |")
    print(f"|{'-' * 36}|-------:|-------:|--------------------:|")
    for name, _, _ in methods:
        med = statistics.median(times[name])
        print(f"| {name:34s} | {med:6.2f} | {min(times[name]):6.2f} | "
              f"{base / med:18.2f}x |")
    if not fast_ok:
        print(f"C rows skipped: {runloop.WHY}")
    else:
        print("C rows measured through " + ("PvmPlatform.run" if WIRED else
                                            "runloop.run_vcpu (pvm.py does not call it yet)"))
    print(f"CPL 0 instructions (no exits): {12 * m} in {dt:.3f} s = "
          f"{dt / (12 * m) * 1e9:.0f} ns/instruction")


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 20000,
          int(sys.argv[2]) if len(sys.argv) > 2 else 5)
