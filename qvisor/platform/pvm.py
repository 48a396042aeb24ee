"""The pvm platform: the guest kernel on this host's /dev/kvm, kvm_pvm ("Pagetable-based Virtual
Machine", inside a Firecracker VM). The /dev/kvm interface is the generic one (kvm.KvmPlatform);
what differs is what the guest can do there, which the kernel handles (flat mode, the default:
docs/platforms.md), so this class only names the platform.

Host facts measured on kvm_pvm (tests/qvisor/test_pvm_boot.py, bench/kvm_exit.py):
- guest CPL 0 code is run by KVM's instruction emulator, ~0.7-1 us per instruction, while
  CPL 3 code runs natively (~0.5 ns per loop iteration);
- so at CPL 0 only instructions the emulator knows work: `int3`, `xorps`, `ldmxcsr`,
  `stmxcsr`, x87 `fld1` ... end in InternalError (emulation failure, with the instruction
  bytes); `movups`, `fxsave`, `rdtsc`, `cpuid`, `rep outsb` (one exit per byte) work;
- a triple fault is a normal Shutdown exit; `vmcall` never returns (hence run(timeout=...));
- the PVM-ABI MSRs (0x4b564df0..) are rejected; KVM_TRANSLATE, XCRS, vCPU events work.
"""

from __future__ import annotations

from qkernel.abi import CAP_CPL0_EMULATED

from .kvm import KvmPlatform, features_from_cpuid

__all__ = ["PvmPlatform", "features_from_cpuid"]


class PvmPlatform(KvmPlatform):
    name = "pvm"
    # kvm_pvm runs guest CPL 0 code in its instruction emulator (~1 us an instruction) and each
    # fault costs ~1 ms of that: frames are zeroed by the host and faults map 64 KiB blocks
    boot_caps = CAP_CPL0_EMULATED
    fault_around = 65536
