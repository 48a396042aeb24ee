"""kvm: hardware VMX/SVM KVM. The same /dev/kvm interface as pvm; the kernel runs split mode
(application in ring 3). Kept small: only what differs from pvm lives here."""

from __future__ import annotations

from .pvm import PvmPlatform


class KvmPlatform(PvmPlatform):
    name = "kvm"
    boot_caps = 0       # hardware VMX/SVM: CPL 0 runs natively
    fault_around = 0
