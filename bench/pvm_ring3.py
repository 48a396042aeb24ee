"""What guest CPL 3 costs on kvm_pvm: syscall at CPL 3, traps to CPL 0, port I/O, MMIO, faults.

Usage: python bench/pvm_ring3.py [ROUNDS] [--quick]   (default 7 rounds of 2000 iterations)

The guests and the rig are tests/qvisor/test_pvm_ring3_probe.py's (which also asserts the facts
below). Each row is a CPL 3 loop timed with rdtsc inside the guest (TSC calibrated against host
time), in a fresh VM; rounds are interleaved, the table gives the best and the median round in
us per iteration. CPL 0 reference rows are timed by the host. This host is shared: the best
round is the cost, the median shows the noise.

Facts (kvm_pvm, 2-vCPU Xeon inside Firecracker, TSC ~2.07 GHz; each asserted by the test):
- A CPL 3 `syscall` traps into the host and resumes at LSTAR, still at CPL 3 (the virtual CS/SS
  in later exception frames stay 0x23/0x1b; `mov %cs` reads the host's 0x33 before and after).
  rcx = return rip, r11 = rflags, rsp untouched; FMASK clears DF/AC in the real flags, but IF
  only in the virtual IF, which at CPL 3 neither popfq nor iretq sets again: FMASK must leave
  IF alone. LSTAR may be in the user half or in a U=1 kernel window: same cost.
- `iretq` at CPL 3 (same level) works, back in 64-bit code, but traps (~7-9 us).
- `sysretq`, invlpg, mov to/from CR0/CR3, rdmsr/wrmsr, hlt, cli, sti, lidt, swapgs, in, out at
  CPL 3: #GP(0) at the instruction, through the guest IDT to CPL 0. stac: #UD. `int n` (0x20,
  0x80, 0x81, even through DPL 3 gates): #UD. int3: #BP, even through a DPL 0 gate. cpuid,
  rdtscp, rdpid, null segment loads run. IOPL 3 in an iretq frame is dropped (IOPL 0).
- wr/rd{fs,gs}base run natively at CPL 3 although the guest's CR4 and CPUID lack FSGSBASE (the
  host's CR4 bit shows through); the vCPU's FS/GS base follow. The vCPU's GS base applies at
  CPL 3. rdpid/rdtscp return the host's TSC_AUX, not the guest's.
- Port I/O at CPL 3 works with a TSS I/O permission bitmap (IoOut exit), not with IOPL. MMIO
  (a U page over guest-physical memory with no slot) exits to the host from CPL 3.
- Memory: U=1 pages anywhere in the upper half (kernel window, top 2 GiB) work at CPL 3 except
  PML4 slot 256 (0xffff800000000000-0xffff807fffffffff, where BootLayout puts the direct map
  today): not present to CPL 3 (#PF error 0x4) even with U=1. Moved (0xffffa00000000000) and
  U=1, the direct map serves CPL 3; NX holds (error 0x15). No SMEP/SMAP in CR4 or CPUID.7.
- Stores into a page-table page KVM shadows trap (~11-15 us each from CPL 3; ~1 us as one
  emulated CPL 0 instruction); other pages, page tables not in use included, are native.

One run (`python bench/pvm_ring3.py 7`), us per operation, best / median round:
| operation                                            |  best | median |
|------------------------------------------------------|------:|-------:|
| plain CPL 3 loop iteration (nop)                     | 0.000 |  0.001 |
| rdtscp / wrfsbase at CPL 3                           | 0.024 / 0.008 |  |
| syscall -> LSTAR `jmp *%rcx` (user half)             |  5.68 |   7.89 |
| syscall -> LSTAR `push %r11; popfq; jmp *%rcx`       |  5.92 |   7.78 |
| syscall -> LSTAR in U=1 kernel window, jmp           |  5.67 |   7.72 |
| syscall -> LSTAR, return with iretq at CPL 3         | 14.94 |  17.38 |
| iretq at CPL 3 (same level)                          |  9.28 |   9.68 |
| syscall -> #PF at LSTAR (S page) -> CPL 0 -> iretq   | 20.75 |  27.33 |
| int3 -> #BP -> CPL 0 iretq                           |  9.48 |  13.48 |
| int3 -> CPL 0 invlpg; iretq                          | 10.89 |  15.26 |
| int3 -> CPL 0 mov to cr3 (same); iretq               | 10.84 |  15.13 |
| int3 -> CPL 0 out; iretq                             | 27.73 |  37.23 |
| ud2 -> #UD / hlt, invlpg, wrmsr -> #GP -> CPL 0 skip | 13.3-13.6 | 18.5-19.1 |
| out -> #GP -> CPL 0 does the out, skip               | 32.02 |  42.95 |
| out at CPL 3 via TSS I/O bitmap (C run loop)         | 24.17 |  32.18 |
| MMIO write at CPL 3 (Python handler)                 | 30.50 |  38.01 |
| load, not present -> #PF -> CPL 0 skip               | 12.66 |  17.03 |
| write read-only page -> #PF -> CPL 0 sets W, invlpg  | 31.40 |  42.62 |
| store into a page table KVM shadows (PD)             | 10.70 |  14.23 |
| `out` at CPL 0 (out; dec; jnz), C run loop           |  8.97 |  10.51 |
| CPL 0 loop of 3 instructions (store; dec; jnz)       |  2.60 |   2.65 |

So, for a flat pvm kernel: kernel text/data and a direct map moved out of PML4 slot 256 with
U=1; LSTAR at a CPL 3 entry that first switches stacks without touching the user stack (red
zone) and returns with `push %r11; popfq; jmp *%rcx` from its own stack (FMASK without IF):
a null syscall ~6-8 us instead of ~235 us. To CPL 0 only for invlpg/CR3 (int3 or #GP helper
call, ~11-15 us), host I/O (TSS I/O bitmap out from CPL 3 ~24-32 us, vs ~9-10 us from CPL 0),
and batched PTE updates of live page tables (each CPL 3 store to one traps).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "qvisor"))

import test_pvm_ring3_probe as probe  # noqa: E402
from qvisor.kvm import Hlt  # noqa: E402
from qvisor.platform import Handlers  # noqa: E402
from qvisor.platform.pvm import PvmPlatform  # noqa: E402
from qvisor_guests import code  # noqa: E402


def cpl0_outs(n: int) -> float:
    """us per `out` at CPL 0 (qvisor_guests count_outs: out; dec; jnz), C run loop."""
    with PvmPlatform(16 << 20) as p:
        p.memory.write_u64(p.layout.BOOT_PARAMS_PHYS, n)
        p.load_flat(code("count_outs"), p.layout.KERNEL_BASE)
        seen = []
        t = time.perf_counter()
        e = p.run(Handlers().on_out(0x10, seen.append), timeout=60)
        dt = time.perf_counter() - t
        assert e == Hlt() and len(seen) == n, e
        return dt / n * 1e6


def cpl0_stores(rig: probe.Rig, n: int, shadowed_pd: bool) -> float:
    """us per iteration of a CPL 0 loop (mov %rbx,(%rdi); dec; jnz) storing into the PD that
    maps the user page (shadowed by KVM: CPL 3 ran through it first) or into a plain page."""
    rig.loop("nop", 1000, extra_map=(probe.MOVED_DIRECT_MAP, 0))
    g = rig.p.vcpu.get_regs()
    g.rip, g.r12, g.rbx = rig.kva(probe.K_STORE_LOOP), n, 0
    g.rdi = probe.MOVED_DIRECT_MAP + (probe.PT_PD + 8 * 64 if shadowed_pd else 0x10_0000)
    rig.p.vcpu.set_regs(g)
    t = time.perf_counter()
    e = rig.p.run(Handlers(), timeout=60)
    dt = time.perf_counter() - t
    assert e == Hlt() and rig.p.regs().r12 == 0, e
    return dt / n * 1e6


def main(rounds: int, quick: bool) -> None:
    rig = probe.Rig()
    try:
        mhz = statistics.median(probe.tsc_mhz(rig) for _ in range(3))
        res, _ = probe.measure(rig, rounds, quick, mhz)
        n = 200 if quick else 2000
        ref: dict[str, list[float]] = {"`out` at CPL 0 (out; dec; jnz), C run loop": [],
                                       "CPL 0 store loop (3 insns), plain page": [],
                                       "CPL 0 store loop (3 insns), shadowed PD": []}
        for _ in range(rounds):
            ref["`out` at CPL 0 (out; dec; jnz), C run loop"].append(cpl0_outs(n))
            ref["CPL 0 store loop (3 insns), plain page"].append(cpl0_stores(rig, n // 4, False))
            ref["CPL 0 store loop (3 insns), shadowed PD"].append(cpl0_stores(rig, n // 4, True))
    finally:
        rig.close()
    try:
        with open("/proc/cpuinfo") as f:
            cpu_mhz = next(line.split(":")[1].strip() for line in f if "cpu MHz" in line)
    except (OSError, StopIteration):
        cpu_mhz = "?"
    print(f"kvm_pvm, CPL 3 guest loops, {rounds} interleaved rounds of {n} iterations; TSC "
          f"{mhz:.0f} MHz (calibrated; /proc/cpuinfo cpu MHz {cpu_mhz}); us per iteration")
    print(f"| {'operation':52s} |    best |  median |")
    print(f"|{'-' * 54}|--------:|--------:|")
    for k, v in list(res.items()) + [(k + " (host timed)", v) for k, v in ref.items()]:
        print(f"| {k:52s} | {min(v):7.3f} | {statistics.median(v):7.3f} |")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 7, "--quick" in sys.argv)
