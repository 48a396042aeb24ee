"""Typed KVM layer (ctypes + fcntl.ioctl, stdlib only), in the style of rust-vmm kvm-ioctls.

ioctls.py: request numbers and constants; structs.py: the C layouts; exits.py: kvm_run ->
Exit dataclasses; vm.py: Kvm / Vm / Vcpu handles. Importing this package never opens /dev/kvm.
"""

from .exits import (Debug, Exit, FailEntry, Hlt, InternalError, Interrupted, IoIn, IoOut,
                    Mmio, Shutdown, SystemEvent, Unknown, decode_exit, describe)
from .vm import Kvm, KvmError, Vcpu, Vm, cpuid_find

__all__ = [
    "Debug", "Exit", "FailEntry", "Hlt", "InternalError", "Interrupted", "IoIn", "IoOut",
    "Mmio", "Shutdown", "SystemEvent", "Unknown", "decode_exit", "describe",
    "Kvm", "KvmError", "Vcpu", "Vm", "cpuid_find",
]
