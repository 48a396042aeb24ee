"""ctypes mirrors of the KVM uapi structs (linux/kvm.h, asm/kvm.h for x86-64).

Owns: the C layouts only: no behaviour. Sizes and offsets are those of the kernel headers
(tests assert them against numbers printed by a C program built on <linux/kvm.h>):
kvm_regs 144, kvm_sregs 312, kvm_segment 24, kvm_dtable 16, kvm_run header 304 (+2048 sync
regs = 2352), kvm_userspace_memory_region 32, kvm_cpuid_entry2 40, kvm_msr_entry 16,
kvm_vcpu_events 64, kvm_translation 24, kvm_fpu 416, kvm_xcrs 392.

Variable-length structs (kvm_cpuid2, kvm_msrs, kvm_msr_list) have a fixed 8/4-byte header
class used for the ioctl number, plus cpuid2_type(n) / msrs_type(n) / msr_list_type(n) that
build (and cache) the class with an n-entry trailing array.
"""

from __future__ import annotations

import ctypes
from ctypes import c_uint8 as u8, c_uint16 as u16, c_uint32 as u32, c_uint64 as u64
from functools import lru_cache


class _S(ctypes.Structure):
    def __repr__(self) -> str:
        parts = []
        for name, _t in self._fields_:
            if name.startswith("pad") or name == "reserved":
                continue
            v = getattr(self, name)
            parts.append(f"{name}={v:#x}" if isinstance(v, int) else f"{name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class kvm_regs(_S):
    _fields_ = [(n, u64) for n in (
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")]


class kvm_segment(_S):
    _fields_ = [
        ("base", u64), ("limit", u32), ("selector", u16),
        ("type", u8), ("present", u8), ("dpl", u8), ("db", u8), ("s", u8), ("l", u8),
        ("g", u8), ("avl", u8), ("unusable", u8), ("padding", u8),
    ]


class kvm_dtable(_S):
    _fields_ = [("base", u64), ("limit", u16), ("padding", u16 * 3)]


KVM_NR_INTERRUPTS = 256


class kvm_sregs(_S):
    _fields_ = [
        ("cs", kvm_segment), ("ds", kvm_segment), ("es", kvm_segment), ("fs", kvm_segment),
        ("gs", kvm_segment), ("ss", kvm_segment), ("tr", kvm_segment), ("ldt", kvm_segment),
        ("gdt", kvm_dtable), ("idt", kvm_dtable),
        ("cr0", u64), ("cr2", u64), ("cr3", u64), ("cr4", u64), ("cr8", u64),
        ("efer", u64), ("apic_base", u64),
        ("interrupt_bitmap", u64 * ((KVM_NR_INTERRUPTS + 63) // 64)),
    ]


class kvm_fpu(_S):
    _fields_ = [
        ("fpr", (u8 * 16) * 8), ("fcw", u16), ("fsw", u16), ("ftwx", u8), ("pad1", u8),
        ("last_opcode", u16), ("last_ip", u64), ("last_dp", u64),
        ("xmm", (u8 * 16) * 16), ("mxcsr", u32), ("pad2", u32),
    ]


class kvm_userspace_memory_region(_S):
    _fields_ = [("slot", u32), ("flags", u32), ("guest_phys_addr", u64),
                ("memory_size", u64), ("userspace_addr", u64)]


class kvm_translation(_S):
    _fields_ = [("linear_address", u64), ("physical_address", u64),
                ("valid", u8), ("writeable", u8), ("usermode", u8), ("pad", u8 * 5)]


# --- CPUID ----------------------------------------------------------------------------------
KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1


class kvm_cpuid_entry2(_S):
    _fields_ = [("function", u32), ("index", u32), ("flags", u32),
                ("eax", u32), ("ebx", u32), ("ecx", u32), ("edx", u32), ("padding", u32 * 3)]


class kvm_cpuid2(_S):
    """Header only (nent entries follow); see cpuid2_type(n)."""
    _fields_ = [("nent", u32), ("padding", u32)]


@lru_cache(maxsize=None)
def cpuid2_type(n: int) -> type:
    return type(f"kvm_cpuid2_{n}", (_S,), {"_fields_": [
        ("nent", u32), ("padding", u32), ("entries", kvm_cpuid_entry2 * n)]})


# --- MSRs -----------------------------------------------------------------------------------
class kvm_msr_entry(_S):
    _fields_ = [("index", u32), ("reserved", u32), ("data", u64)]


class kvm_msrs(_S):
    """Header only (nmsrs entries follow); see msrs_type(n)."""
    _fields_ = [("nmsrs", u32), ("pad", u32)]


@lru_cache(maxsize=None)
def msrs_type(n: int) -> type:
    return type(f"kvm_msrs_{n}", (_S,), {"_fields_": [
        ("nmsrs", u32), ("pad", u32), ("entries", kvm_msr_entry * n)]})


class kvm_msr_list(_S):
    _fields_ = [("nmsrs", u32)]


@lru_cache(maxsize=None)
def msr_list_type(n: int) -> type:
    return type(f"kvm_msr_list_{n}", (_S,), {"_fields_": [
        ("nmsrs", u32), ("indices", u32 * n)]})


# --- extended control registers (XCR0) ----------------------------------------------------
class kvm_xcr(_S):
    _fields_ = [("xcr", u32), ("reserved", u32), ("value", u64)]


class kvm_xcrs(_S):
    _fields_ = [("nr_xcrs", u32), ("flags", u32), ("xcrs", kvm_xcr * 16), ("padding", u64 * 16)]


# --- vCPU events ----------------------------------------------------------------------------
class _ev_exception(_S):
    _fields_ = [("injected", u8), ("nr", u8), ("has_error_code", u8), ("pending", u8),
                ("error_code", u32)]


class _ev_interrupt(_S):
    _fields_ = [("injected", u8), ("nr", u8), ("soft", u8), ("shadow", u8)]


class _ev_nmi(_S):
    _fields_ = [("injected", u8), ("pending", u8), ("masked", u8), ("pad", u8)]


class _ev_smi(_S):
    _fields_ = [("smm", u8), ("pending", u8), ("smm_inside_nmi", u8), ("latched_init", u8)]


class kvm_vcpu_events(_S):
    _fields_ = [
        ("exception", _ev_exception), ("interrupt", _ev_interrupt), ("nmi", _ev_nmi),
        ("sipi_vector", u32), ("flags", u32), ("smi", _ev_smi),
        ("triple_fault_pending", u8), ("reserved", u8 * 26),
        ("exception_has_payload", u8), ("exception_payload", u64),
    ]


# --- kvm_run (the page shared with the kernel, mmap'd from the vCPU fd) ----------------------
class _run_io(_S):
    # data lives in the same mapping at data_offset (bytes from the start of kvm_run)
    _fields_ = [("direction", u8), ("size", u8), ("port", u16), ("count", u32),
                ("data_offset", u64)]


class _run_mmio(_S):
    _fields_ = [("phys_addr", u64), ("data", u8 * 8), ("len", u32), ("is_write", u8)]


class _run_hw(_S):
    _fields_ = [("hardware_exit_reason", u64)]


class _run_fail_entry(_S):
    _fields_ = [("hardware_entry_failure_reason", u64), ("cpu", u32)]


class _run_ex(_S):
    _fields_ = [("exception", u32), ("error_code", u32)]


class _run_debug(_S):
    _fields_ = [("exception", u32), ("pad", u32), ("pc", u64), ("dr6", u64), ("dr7", u64)]


class _run_internal(_S):
    _fields_ = [("suberror", u32), ("ndata", u32), ("data", u64 * 16)]


class _run_system_event(_S):
    # the kernel's inner union {flags; data[16]}: flags aliases data[0]
    _fields_ = [("type", u32), ("ndata", u32), ("data", u64 * 16)]


class _run_exit_union(ctypes.Union):
    _fields_ = [
        ("hw", _run_hw), ("fail_entry", _run_fail_entry), ("ex", _run_ex), ("io", _run_io),
        ("debug", _run_debug), ("mmio", _run_mmio), ("internal", _run_internal),
        ("system_event", _run_system_event), ("padding", ctypes.c_char * 256),
    ]


class kvm_run(_S):
    _anonymous_ = ("u",)
    _fields_ = [
        ("request_interrupt_window", u8), ("immediate_exit", u8), ("padding1", u8 * 6),
        ("exit_reason", u32), ("ready_for_interrupt_injection", u8), ("if_flag", u8),
        ("flags", u16), ("cr8", u64), ("apic_base", u64),
        ("u", _run_exit_union),
        ("kvm_valid_regs", u64), ("kvm_dirty_regs", u64),
        ("s", ctypes.c_char * 2048),
    ]

    def __repr__(self) -> str:
        return f"kvm_run(exit_reason={self.exit_reason})"


KVM_RUN_EXIT_UNION_OFFSET = 32
KVM_RUN_HEADER_SIZE = 304        # up to the sync-regs union
