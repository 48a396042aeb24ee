"""Every KVM ioctl request number QVisor uses, in one place.

Owns: the _IO/_IOR/_IOW/_IOWR encoders (asm-generic/ioctl.h) and the request numbers built
from them with the sizes of the ctypes structs in structs.py, so a struct and its ioctl can
never disagree. Also the KVM_CAP_* extension numbers and exit-reason constants from
linux/kvm.h. No literal request numbers live anywhere else (tests cross-check a few against
values printed by a C program built on the kernel headers).
"""

from __future__ import annotations

import ctypes

from . import structs as S

# asm-generic/ioctl.h: nr 8 bits, type 8 bits, size 14 bits, dir 2 bits.
_IOC_NRBITS, _IOC_TYPEBITS, _IOC_SIZEBITS = 8, 8, 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _IOC(direction: int, typ: int, nr: int, size: int) -> int:
    if not 0 <= size < (1 << _IOC_SIZEBITS):
        raise ValueError(f"ioctl argument size {size} does not fit in {_IOC_SIZEBITS} bits")
    return ((direction << _IOC_DIRSHIFT) | (typ << _IOC_TYPESHIFT)
            | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT))


def _size(t: type | int) -> int:
    return t if isinstance(t, int) else ctypes.sizeof(t)


def _IO(typ: int, nr: int) -> int:
    return _IOC(_IOC_NONE, typ, nr, 0)


def _IOR(typ: int, nr: int, t: type | int) -> int:
    return _IOC(_IOC_READ, typ, nr, _size(t))


def _IOW(typ: int, nr: int, t: type | int) -> int:
    return _IOC(_IOC_WRITE, typ, nr, _size(t))


def _IOWR(typ: int, nr: int, t: type | int) -> int:
    return _IOC(_IOC_READ | _IOC_WRITE, typ, nr, _size(t))


KVMIO = 0xAE

# --- /dev/kvm (system) ioctls -------------------------------------------------------------
KVM_GET_API_VERSION = _IO(KVMIO, 0x00)
KVM_CREATE_VM = _IO(KVMIO, 0x01)
KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, S.kvm_msr_list)
KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03)          # also valid on a VM fd
KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04)
KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, S.kvm_cpuid2)

# --- VM ioctls ------------------------------------------------------------------------------
KVM_CREATE_VCPU = _IO(KVMIO, 0x41)
KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, S.kvm_userspace_memory_region)
KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47)
KVM_SET_IDENTITY_MAP_ADDR = _IOW(KVMIO, 0x48, ctypes.c_uint64)
KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60)

# --- vCPU ioctls ----------------------------------------------------------------------------
KVM_RUN = _IO(KVMIO, 0x80)
KVM_GET_REGS = _IOR(KVMIO, 0x81, S.kvm_regs)
KVM_SET_REGS = _IOW(KVMIO, 0x82, S.kvm_regs)
KVM_GET_SREGS = _IOR(KVMIO, 0x83, S.kvm_sregs)
KVM_SET_SREGS = _IOW(KVMIO, 0x84, S.kvm_sregs)
KVM_TRANSLATE = _IOWR(KVMIO, 0x85, S.kvm_translation)
KVM_GET_MSRS = _IOWR(KVMIO, 0x88, S.kvm_msrs)
KVM_SET_MSRS = _IOW(KVMIO, 0x89, S.kvm_msrs)
KVM_GET_FPU = _IOR(KVMIO, 0x8C, S.kvm_fpu)
KVM_SET_FPU = _IOW(KVMIO, 0x8D, S.kvm_fpu)
KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, S.kvm_cpuid2)
KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, S.kvm_cpuid2)
KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9F, S.kvm_vcpu_events)
KVM_GET_TSC_KHZ = _IO(KVMIO, 0xA3)
KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xA0, S.kvm_vcpu_events)
KVM_GET_XCRS = _IOR(KVMIO, 0xA6, S.kvm_xcrs)
KVM_SET_XCRS = _IOW(KVMIO, 0xA7, S.kvm_xcrs)

KVM_API_VERSION = 12

# --- extensions (KVM_CHECK_EXTENSION arguments) ---------------------------------------------
KVM_CAP_IRQCHIP = 0
KVM_CAP_HLT = 1
KVM_CAP_USER_MEMORY = 3
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_EXT_CPUID = 7
KVM_CAP_NR_VCPUS = 9
KVM_CAP_NR_MEMSLOTS = 10
KVM_CAP_SYNC_MMU = 16
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
KVM_CAP_VCPU_EVENTS = 41
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_XCRS = 56
KVM_CAP_IMMEDIATE_EXIT = 136

# --- exit reasons (kvm_run.exit_reason) -----------------------------------------------------
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_SYSTEM_EVENT = 24

KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

# kvm_run.internal.suberror
KVM_INTERNAL_ERROR_EMULATION = 1
KVM_INTERNAL_ERROR_SIMUL_EX = 2
KVM_INTERNAL_ERROR_DELIVERY_EV = 3
KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4

# kvm_run.system_event.type
KVM_SYSTEM_EVENT_SHUTDOWN = 1
KVM_SYSTEM_EVENT_RESET = 2
KVM_SYSTEM_EVENT_CRASH = 3
