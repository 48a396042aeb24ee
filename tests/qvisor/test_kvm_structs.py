"""Struct layouts and ioctl numbers against the kernel's (values printed by a C program built on
<linux/kvm.h>, kernel headers 6.x)."""

import ctypes

import pytest

from qvisor.kvm import ioctls as K
from qvisor.kvm import structs as S

SIZES = {
    "kvm_regs": 144, "kvm_sregs": 312, "kvm_segment": 24, "kvm_dtable": 16, "kvm_run": 2352,
    "kvm_userspace_memory_region": 32, "kvm_cpuid2": 8, "kvm_cpuid_entry2": 40,
    "kvm_msrs": 8, "kvm_msr_entry": 16, "kvm_vcpu_events": 64, "kvm_translation": 24,
    "kvm_fpu": 416, "kvm_xcrs": 392,
}


@pytest.mark.parametrize("name,size", SIZES.items())
def test_struct_sizes(name, size):
    assert ctypes.sizeof(getattr(S, name)) == size


def test_kvm_run_header_layout():
    r = S.kvm_run
    assert r.exit_reason.offset == 8
    assert r.cr8.offset == 16 and r.apic_base.offset == 24
    assert r.u.offset == 32 == S.KVM_RUN_EXIT_UNION_OFFSET
    assert r.kvm_valid_regs.offset == 288 and r.s.offset == 304 == S.KVM_RUN_HEADER_SIZE
    u = S._run_exit_union
    assert ctypes.sizeof(u) == 256
    assert u.io.offset + S._run_io.data_offset.offset == 40 - 32
    assert S._run_mmio.is_write.offset == 52 - 32
    assert S._run_internal.data.offset == 40 - 32
    assert S._run_fail_entry.cpu.offset == 40 - 32


def test_sregs_layout():
    s = S.kvm_sregs
    assert s.gdt.offset == 192 and s.cr0.offset == 224 and s.efer.offset == 264
    assert s.interrupt_bitmap.offset == 280
    ev = S.kvm_vcpu_events
    assert ev.triple_fault_pending.offset == 28 and ev.exception_payload.offset == 56


def test_variable_length_types():
    assert ctypes.sizeof(S.cpuid2_type(3)) == 8 + 3 * 40
    assert ctypes.sizeof(S.msrs_type(2)) == 8 + 2 * 16
    assert S.cpuid2_type(3) is S.cpuid2_type(3)


IOCTLS = {
    "KVM_GET_API_VERSION": 0xAE00, "KVM_CREATE_VM": 0xAE01, "KVM_GET_VCPU_MMAP_SIZE": 0xAE04,
    "KVM_CHECK_EXTENSION": 0xAE03, "KVM_GET_SUPPORTED_CPUID": 0xC008AE05,
    "KVM_GET_MSR_INDEX_LIST": 0xC004AE02, "KVM_SET_USER_MEMORY_REGION": 0x4020AE46,
    "KVM_CREATE_VCPU": 0xAE41, "KVM_RUN": 0xAE80, "KVM_GET_REGS": 0x8090AE81,
    "KVM_SET_REGS": 0x4090AE82, "KVM_GET_SREGS": 0x8138AE83, "KVM_SET_SREGS": 0x4138AE84,
    "KVM_SET_CPUID2": 0x4008AE90, "KVM_GET_CPUID2": 0xC008AE91, "KVM_GET_MSRS": 0xC008AE88,
    "KVM_SET_MSRS": 0x4008AE89, "KVM_SET_TSS_ADDR": 0xAE47,
    "KVM_SET_IDENTITY_MAP_ADDR": 0x4008AE48, "KVM_CREATE_IRQCHIP": 0xAE60,
    "KVM_GET_VCPU_EVENTS": 0x8040AE9F, "KVM_SET_VCPU_EVENTS": 0x4040AEA0,
    "KVM_TRANSLATE": 0xC018AE85, "KVM_GET_FPU": 0x81A0AE8C, "KVM_SET_FPU": 0x41A0AE8D,
    "KVM_GET_XCRS": 0x8188AEA6, "KVM_SET_XCRS": 0x4188AEA7,
}


@pytest.mark.parametrize("name,value", IOCTLS.items())
def test_ioctl_numbers(name, value):
    assert getattr(K, name) == value


def test_ioc_rejects_oversized_argument():
    with pytest.raises(ValueError):
        K._IOW(K.KVMIO, 1, 1 << 14)
