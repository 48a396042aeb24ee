"""What guest CPL 3 can do on kvm_pvm, measured with tiny guests: the facts behind a *flat* pvm
kernel whose own syscall path runs at CPL 3 (docs/platforms.md). Skipped where /dev/kvm is
unusable or is not kvm_pvm (these are facts about that host, not architecture).

Two blobs, GNU as source (AT&T, .code64) with the bytes `as --64` + `objcopy -O binary` gave
(test_blob_bytes_match_source re-assembles them when binutils are installed):
- KERNEL, at KERNEL_BASE, runs at CPL 0 (in KVM's emulator): loads the IDT, STAR/LSTAR/FMASK,
  r12/r15/rdi from a parameter block the test fills, and iretq's to the user page. Its IDT
  (written by the test) sends vectors 0..31 to *report* stubs (push vector, hlt: the test reads
  the exception frame from the RSP0 stack and the registers, which the stubs do not touch), or
  to small handlers: skip the faulting instruction (r15 = its length), iretq only, a #PF at
  LSTAR returned to rcx/r11, a #PF on a read-only page fixed by setting W.
- USER, at USER_VA (a 2 MiB U page), runs at CPL 3 natively: probes (one instruction, then
  `pushfq; pop %rbx; ud2`), the syscall probe, LSTAR targets, and timing loops (r12 iterations
  of one body between two rdtsc; rax = TSC cycles; they end in ud2, or hlt where #UD is skipped).

Every scenario runs in a fresh VM (2 ms): the host edits page tables between runs, and KVM's
shadow of the previous run's tables would otherwise survive.

The numbers (and the flat-mode conclusions) are summarised in the docstring of
bench/pvm_ring3.py, which prints the full cost table; test_costs asserts only orderings.
"""

from __future__ import annotations

import os
import shutil
import statistics
import struct
import subprocess
import time
from dataclasses import dataclass

import pytest

from qvisor.kvm import Hlt, IoOut, Mmio, describe
from qvisor.pagetables import BootLayout
from qvisor.platform import Handlers, Regs

ON_PVM = os.path.exists("/sys/module/kvm_pvm")

# ---- guest sources ---------------------------------------------------------------------------
ERR_VECTORS = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
DE, BP, UD, GP, PF = 0, 3, 6, 13, 14
RF_IF, RF_DF, RF_AC, RF_IOPL = 0x200, 0x400, 0x40000, 0x3000

# kernel image offsets
K_REPORT = 0x200          # vector v: report stub at K_REPORT + 16 * v; all hlt at K_HLT
K_HLT = K_REPORT + 0x200
K_SKIP_ERR = 0x420        # rip += r15 (frame with error code)
K_SKIP_NOERR = 0x440      # rip += r15 (no error code)
K_IRET = 0x460            # iretq
K_INVLPG = 0x470          # invlpg (%rdi); iretq
K_CR3 = 0x480             # mov %rdi, %cr3; iretq
K_LSTAR_PF = 0x4A0        # #PF at LSTAR: return to rcx with rflags r11
K_PF_FIX = 0x4C0          # #PF writing a read-only 4 KiB page: set W, invlpg
K_GP_OUT = 0x500          # #GP on a CPL 3 `out %al, $0x10`: do it at CPL 0, skip it
K_OUT_IRET = 0x520        # out %al, $0x10; iretq
K_STORE_LOOP = 0x540      # CPL 0 loop: r12 stores of rbx to (%rdi), then hlt
K_LSTAR_PROBE = 0x600     # the LSTAR targets again, in the kernel window
K_LSTAR_JMP = 0x640
K_LSTAR_POPF = 0x660
K_PARAMS = 0x800
K_IDTR = 0x900
K_IDT = 0x1000
K_STACK_TOP = 0x8000      # TSS.RSP0

P_LSTAR, P_FMASK, P_URIP, P_URFLAGS, P_URSP, P_R12, P_R15, P_RDI, P_PTEBASE = range(0, 72, 8)

LSTAR_PROBE = """
    mov %cs, %eax               # the selectors and flags the LSTAR code sees
    mov %ss, %edx
    pushfq
    pop %r8
    mov %rsp, %r9
    ud2
"""
LSTAR_PROBE_UD2 = 10          # offset of its ud2
LSTAR_JMP = """
    jmp *%rcx
"""
LSTAR_POPF = """
    push %r11
    popfq
    jmp *%rcx
"""
LSTAR_IRET = """
    mov %rsp, %r10
    push $0x1b
    push %r10
    push %r11
    push $0x23
    push %rcx
    iretq
"""


def kernel_src() -> str:
    s = [f"""
entry:
    lidt idtr(%rip)
    mov $0xc0000081, %ecx       # STAR: syscall CS 0x08/SS 0x10, sysret CS 0x23/SS 0x1b
    xor %eax, %eax
    mov $0x00100008, %edx
    wrmsr
    mov $0xc0000082, %ecx       # LSTAR
    mov params+{P_LSTAR}(%rip), %eax
    mov params+{P_LSTAR + 4}(%rip), %edx
    wrmsr
    mov $0xc0000084, %ecx       # FMASK
    mov params+{P_FMASK}(%rip), %eax
    xor %edx, %edx
    wrmsr
    mov params+{P_R12}(%rip), %r12
    mov params+{P_R15}(%rip), %r15
    mov params+{P_RDI}(%rip), %rdi
    push $0x1b
    push params+{P_URSP}(%rip)
    push params+{P_URFLAGS}(%rip)
    push $0x23
    push params+{P_URIP}(%rip)
    iretq
"""]
    for v in range(32):
        s.append(f"    .org {K_REPORT + 16 * v:#x}\n")
        if v not in ERR_VECTORS:
            s.append("    push $0\n")
        s.append(f"    push ${v}\n    jmp report\n")
    s.append(f"""
    .org {K_HLT:#x}
report:                         # [rsp]: vector, error code, rip, cs, rflags, rsp, ss
    hlt
    jmp report
    .org {K_SKIP_ERR:#x}
    add %r15, 8(%rsp)
    add $8, %rsp
    iretq
    .org {K_SKIP_NOERR:#x}
    add %r15, (%rsp)
    iretq
    .org {K_IRET:#x}
    iretq
    .org {K_INVLPG:#x}
    invlpg (%rdi)
    iretq
    .org {K_CR3:#x}
    mov %rdi, %cr3
    iretq
    .org {K_LSTAR_PF:#x}
    add $8, %rsp
    mov %rcx, (%rsp)
    mov %r11, 16(%rsp)
    iretq
    .org {K_PF_FIX:#x}
    push %rax
    push %rdx
    mov %cr2, %rax
    mov %rax, %rdx
    shr $9, %rax
    and $0xff8, %eax
    add params+{P_PTEBASE}(%rip), %rax
    orq $2, (%rax)
    invlpg (%rdx)
    pop %rdx
    pop %rax
    add $8, %rsp
    iretq
    .org {K_GP_OUT:#x}
    out %al, $0x10
    addq $2, 8(%rsp)
    add $8, %rsp
    iretq
    .org {K_OUT_IRET:#x}
    out %al, $0x10
    iretq
    .org {K_STORE_LOOP:#x}
store_loop:
    mov %rbx, (%rdi)
    dec %r12
    jnz store_loop
    hlt
    .org {K_LSTAR_PROBE:#x}
{LSTAR_PROBE}
    .org {K_LSTAR_JMP:#x}
{LSTAR_JMP}
    .org {K_LSTAR_POPF:#x}
{LSTAR_POPF}
    .org {K_PARAMS:#x}
params:
    .fill 16, 8, 0
    .org {K_IDTR:#x}
idtr:
    .word 0
    .quad 0
""")
    return "".join(s)


# user page offsets
U_PROBE_SYSCALL = 0x000
U_LSTAR_PROBE = 0x100
U_LSTAR_JMP = 0x140
U_LSTAR_POPF = 0x160
U_LSTAR_IRET = 0x170
U_MEM = 0x1A0
U_LOOPS = 0x200           # 0x40 each
U_PROBES = 0x800          # 0x40 each

LOOPS = {
    "nop": "nop",
    "syscall": "syscall",
    "out": "out %al, $0x10",
    "ud2": "ud2",
    "hlt": "hlt",
    "invlpg": "invlpg (%rdi)",
    "wrmsr": "wrmsr",
    "int3": "int3",
    "store": "mov %rbx, (%rdi)",
    "mmio": "movl $1, (%rdi)",
    "iretq": "mov %rsp, %rax; push $0x1b; push %rax; pushfq; push $0x23; lea 2f(%rip), %rax; "
             "push %rax; iretq; 2:",
    "pf_load": "mov (%rdi), %rbx",
    "pf_write": "movb $1, (%rdi); add $4096, %rdi",
    "rdtscp": "rdtscp",
    "wrfsbase": "wrfsbase %rdi",
}
PROBES = {
    "sysretq": "sysretq",
    "sysretq_rcx": "lea 1f(%rip), %rcx; pushfq; pop %r11; sysretq; 1: mov %cs, %eax",
    "invlpg": "invlpg (%rdi)",
    "mov_from_cr3": "mov %cr3, %rax",
    "mov_to_cr3": "mov %rax, %cr3",
    "mov_from_cr0": "mov %cr0, %rax",
    "wrmsr": "wrmsr",
    "rdmsr": "rdmsr",
    "hlt": "hlt",
    "cli": "cli",
    "sti": "sti",
    "lidt": "lidt (%rdi)",
    "swapgs": "swapgs",
    "out": "out %al, $0x10",
    "in": "in $0x20, %al",
    "stac": "stac",
    "int80": "int $0x80",
    "int81": "int $0x81",
    "int20": "int $0x20",
    "int3": "int3",
    "cpuid": "cpuid",
    "rdtscp": "rdtscp",
    "mov_ds": "mov %ax, %ds",
    "popf_if": "pushfq; andq $~0x200, (%rsp); popfq",
    "iretq": "push $0x1b; push %rsp; addq $8, (%rsp); pushfq; push $0x23; lea 1f(%rip), %rax; "
             "push %rax; iretq; 1: movabs $0x1122334455667788, %rax",
    "syscall": "syscall",
    "mmio_write": "movl $0x12345678, (%rdi)",
    "mmio_read": "mov (%rdi), %eax",
    "gs_read": "mov %gs:8, %rax",
    "rdpid": "rdpid %rax",
    "fsgsbase": "movabs $0x7f0000001000, %rax; wrfsbase %rax; rdfsbase %rdx; wrgsbase %rax; "
                "rdgsbase %rcx",
}


def user_src() -> str:
    s = [f"""
syscall_probe:                  # DF and AC set; rbx = rflags, r10/r14 = cs/ss, rsi = return rip
    std
    pushfq
    orq ${RF_AC:#x}, (%rsp)
    popfq
    pushfq
    pop %rbx
    mov %rsp, %rbp
    mov %cs, %r10d
    mov %ss, %r14d
    lea 1f(%rip), %rsi
    syscall
1:  ud2
    .org {U_LSTAR_PROBE:#x}
{LSTAR_PROBE}
    .org {U_LSTAR_JMP:#x}
{LSTAR_JMP}
    .org {U_LSTAR_POPF:#x}
{LSTAR_POPF}
    .org {U_LSTAR_IRET:#x}
{LSTAR_IRET}
    .org {U_MEM:#x}
    mov (%rdi), %rax
    movq $0x5a5a5a5a, 8(%rdi)
    mov 8(%rdi), %rbx
    ud2
"""]
    for i, (name, body) in enumerate(LOOPS.items()):
        s.append(f"""
    .org {U_LOOPS + 0x40 * i:#x}
loop_{name}:
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r13
1:  {body}
    dec %r12
    jnz 1b
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub %r13, %rax
    {"hlt" if name == "ud2" else "ud2"}
""")
    for i, (name, insn) in enumerate(PROBES.items()):
        s.append(f"""
    .org {U_PROBES + 0x40 * i:#x}
probe_{name}:
    {insn}
    pushfq
    pop %rbx
    ud2
""")
    return "".join(s)


def loop_off(name: str) -> int:
    return U_LOOPS + 0x40 * list(LOOPS).index(name)


def probe_off(name: str) -> int:
    return U_PROBES + 0x40 * list(PROBES).index(name)


BLOBS = {"kernel": (kernel_src, (
         "0f011df9080000b9810000c031c0ba080010000f30b9820000c08b05e00700008b15de0700000f30b9840000"
         "c08b05d507000031d20f304c8b25ea0700004c8b3deb070000488b3dec0700006a1bff35cc070000ff35be07"
         "00006a23ff35ae07000048cf0000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000006a006a00e9f701000000000000000000"
         "6a006a01e9e7010000000000000000006a006a02e9d7010000000000000000006a006a03e9c7010000000000"
         "000000006a006a04e9b7010000000000000000006a006a05e9a7010000000000000000006a006a06e9970100"
         "00000000000000006a006a07e987010000000000000000006a08e9790100000000000000000000006a006a09"
         "e967010000000000000000006a0ae9590100000000000000000000006a0be949010000000000000000000000"
         "6a0ce9390100000000000000000000006a0de9290100000000000000000000006a0ee9190100000000000000"
         "000000006a006a0fe907010000000000000000006a006a10e9f7000000000000000000006a11e9e900000000"
         "00000000000000006a006a12e9d7000000000000000000006a006a13e9c7000000000000000000006a006a14"
         "e9b7000000000000000000006a15e9a90000000000000000000000006a006a16e99700000000000000000000"
         "6a006a17e987000000000000000000006a006a18eb7a000000000000000000006a006a19eb6a000000000000"
         "000000006a006a1aeb5a000000000000000000006a006a1beb4a000000000000000000006a006a1ceb3a0000"
         "00000000000000006a1deb2c0000000000000000000000006a1eeb1c0000000000000000000000006a006a1f"
         "eb0a00000000000000000000f4ebfd0000000000000000000000000000000000000000000000000000000000"
         "4c017c24084883c40848cf0000000000000000000000000000000000000000004c013c2448cf000000000000"
         "000000000000000000000000000000000000000048cf00000000000000000000000000000f013f48cf000000"
         "00000000000000000f22df48cf0000000000000000000000000000000000000000000000000000004883c408"
         "48890c244c895c241048cf000000000000000000000000000000000050520f20d04889c248c1e80925f80f00"
         "0048030568030000488308020f013a5a584883c40848cf000000000000000000000000000000000000000000"
         "00000000e6104883442408024883c40848cf000000000000000000000000000000000000e61048cf00000000"
         "00000000000000000000000000000000000000000000000048891f49ffcc75f8f40000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000000000000000000000000008cc88cd2"
         "9c41584989e10f0b000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000ffe10000000000000000000000000000000000000000000000000000"
         "0000000041539dffe10000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000")),
         "user": (user_src, (
         "fd9c48810c24000004009d9c5b4889e5418cca418cd6488d35020000000f050f0b0000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000008cc88cd29c415849"
         "89e10f0b00000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000ffe1000000000000000000000000000000000000000000000000000000000000"
         "41539dffe100000000000000000000004989e26a1b415241536a235148cf0000000000000000000000000000"
         "0000000000000000000000000000000000000000488b0748c747085a5a5a5a488b5f080f0b00000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000f3148c1e2204809d04989c59049ffcc"
         "75fa0f3148c1e2204809d04c29e80f0b00000000000000000000000000000000000000000000000000000000"
         "000000000f3148c1e2204809d04989c50f0549ffcc75f90f3148c1e2204809d04c29e80f0b00000000000000"
         "0000000000000000000000000000000000000000000000000f3148c1e2204809d04989c5e61049ffcc75f90f"
         "3148c1e2204809d04c29e80f0b00000000000000000000000000000000000000000000000000000000000000"
         "0f3148c1e2204809d04989c50f0b49ffcc75f90f3148c1e2204809d04c29e8f4000000000000000000000000"
         "00000000000000000000000000000000000000000f3148c1e2204809d04989c5f449ffcc75fa0f3148c1e220"
         "4809d04c29e80f0b00000000000000000000000000000000000000000000000000000000000000000f3148c1"
         "e2204809d04989c50f013f49ffcc75f80f3148c1e2204809d04c29e80f0b0000000000000000000000000000"
         "000000000000000000000000000000000f3148c1e2204809d04989c50f3049ffcc75f90f3148c1e2204809d0"
         "4c29e80f0b000000000000000000000000000000000000000000000000000000000000000f3148c1e2204809"
         "d04989c5cc49ffcc75fa0f3148c1e2204809d04c29e80f0b0000000000000000000000000000000000000000"
         "0000000000000000000000000f3148c1e2204809d04989c548891f49ffcc75f80f3148c1e2204809d04c29e8"
         "0f0b0000000000000000000000000000000000000000000000000000000000000f3148c1e2204809d04989c5"
         "c7070100000049ffcc75f50f3148c1e2204809d04c29e80f0b00000000000000000000000000000000000000"
         "00000000000000000f3148c1e2204809d04989c54889e06a1b509c6a23488d05030000005048cf49ffcc75e8"
         "0f3148c1e2204809d04c29e80f0b00000000000000000000000000000f3148c1e2204809d04989c5488b1f49"
         "ffcc75f80f3148c1e2204809d04c29e80f0b0000000000000000000000000000000000000000000000000000"
         "000000000f3148c1e2204809d04989c5c607014881c70010000049ffcc75f10f3148c1e2204809d04c29e80f"
         "0b00000000000000000000000000000000000000000000000f3148c1e2204809d04989c50f01f949ffcc75f8"
         "0f3148c1e2204809d04c29e80f0b000000000000000000000000000000000000000000000000000000000000"
         "0f3148c1e2204809d04989c5f3480faed749ffcc75f60f3148c1e2204809d04c29e80f0b0000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000480f079c5b0f0b00000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "488d0d060000009c415b480f078cc89c5b0f0b00000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000f013f9c5b0f0b0000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000000000000000000000000000f20d89c"
         "5b0f0b0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000f22d89c5b0f0b000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000f20c09c5b0f0b00"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000f309c5b0f0b0000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000f329c5b0f0b000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000f49c5b0f0b00000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000fa9c5b0f0b0000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000fb9c5b0f0b0000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000f011f9c5b0f0b00000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0f01f89c5b0f0b00000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000e6109c5b0f0b000000000000000000000000000000000000"
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000e4209c5b"
         "0f0b000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000f01cb9c5b0f0b000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000000000000000000cd809c5b0f0b0000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000cd819c5b0f0b0000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000cd209c5b0f0b000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000cc9c5b0f0b00000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000000000000000000fa29c5b0f0b00000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000f01f99c5b0f0b000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000008ed89c5b0f0b0000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "9c48812424fffdffff9d9c5b0f0b000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000000000006a1b5448830424089c6a23488d05030000005048cf48b888"
         "776655443322119c5b0f0b00000000000000000000000000000000000000000000000000000000000f059c5b"
         "0f0b000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000000000000c707785634129c5b0f0b000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000008b079c5b0f0b0000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "00000000000000000000000065488b0425080000009c5b0f0b00000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000000000000000000000f30fc7f89c5b0f0b00000000"
         "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000048b800100000007f0000f3480faed0f3480faec2f3480faed8f3480faec99c5b0f0b"))}


def blob(name: str) -> bytes:
    return bytes.fromhex(BLOBS[name][1])


def assemble(src: str, tmp) -> bytes:
    (tmp / "g.s").write_text(".code64\n" + src)
    subprocess.run(["as", "--64", "g.s", "-o", "g.o"], cwd=tmp, check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", "g.o", "g.bin"], cwd=tmp,
                   check=True)
    return (tmp / "g.bin").read_bytes()


# ---- the rig -----------------------------------------------------------------------------
USER_VA = 0x40_0000       # 2 MiB U|W page -> same physical; code at USER_VA, stack below the top
USER_STACK = 0x5F_F000
PT_PDPT, PT_PD, PT_PT = 0x9_0000, 0x9_1000, 0x9_2000     # lower-half tables
SPARE_TABLES = (0x9_3000, 0x9_4000, 0x9_5000)            # for extra_map
RO_VA, RO_PA = 0x80_0000, 0xA0_0000      # 512 read-only 4 KiB U pages (ro_pages=True)
MMIO_VA, MMIO_PA = 0xC0_0000, 0x4000_0000  # a 2 MiB U page over guest-physical with no slot
GATE_INTR, GATE_USER = 0x8E, 0xEE
PTE_P, PTE_W, PTE_U, PTE_PS = 1, 2, 4, 0x80
PTE_ADDR = 0x000F_FFFF_FFFF_F000
MOVED_DIRECT_MAP = 0xFFFF_A000_0000_0000   # PML4 slot 320


@dataclass
class Trap:
    """Where a CPL 3 run stopped: the exception the report stub halted on, its frame, the vCPU
    registers at that hlt (untouched by the stub), host wall time of the run, what it sent."""
    vector: int
    err: int
    rip: int
    cs: int
    rflags: int
    rsp: int
    ss: int
    regs: Regs
    wall: float
    outs: list
    mmios: list


class Rig:
    def __init__(self, layout: BootLayout | None = None) -> None:
        self.lay = layout or BootLayout()
        self.p = None
        self.kblob, self.ublob = blob("kernel"), blob("user")

    def close(self) -> None:
        if self.p is not None:
            self.p.close()
            self.p = None

    def kva(self, off: int) -> int:
        return self.lay.KERNEL_BASE + off

    def set_user_bit(self, va: int, size: int) -> None:
        """OR U into every level mapping [va, va + size) (2 MiB leaves of the boot tables)."""
        m = self.p.memory
        for v in range(va, va + size, 2 << 20):
            t = self.p.boot_state.cr3
            for shift in (39, 30, 21):
                slot = t + ((v >> shift) & 511) * 8
                e = m.read_u64(slot)
                assert e & PTE_P
                m.write_u64(slot, e | PTE_U)
                t = e & PTE_ADDR
            assert e & PTE_PS

    def map_user_2m(self, va: int, pa: int) -> None:
        """A 2 MiB U|W page va -> pa, creating tables from SPARE_TABLES."""
        m, free, t = self.p.memory, list(SPARE_TABLES), self.p.boot_state.cr3
        for shift in (39, 30):
            slot = t + 8 * ((va >> shift) & 511)
            e = m.read_u64(slot)
            if not e & PTE_P:
                n = free.pop(0)
                m.fill(n, 4096, 0)
                e = n | PTE_P | PTE_W
            m.write_u64(slot, e | PTE_U)
            t = e & PTE_ADDR
        m.write_u64(t + 8 * ((va >> 21) & 511), pa | PTE_PS | PTE_U | PTE_W | PTE_P)

    def prepare(self, entry: int, *, lstar: int = 0, fmask: int = 0, rflags: int = 0x202,
                r12: int = 0, r15: int = 0, rdi: int = 0, gates=None, kernel_user=False,
                direct_user=False, ro_pages=False, iobitmap=False, extra_map=None) -> None:
        from qvisor.platform.pvm import PvmPlatform
        self.close()
        self.p = p = PvmPlatform(16 << 20, layout=self.lay)
        m, lay = p.memory, self.lay
        p.load_flat(self.kblob, lay.KERNEL_BASE)
        cr3 = p.boot_state.cr3
        m.fill(PT_PDPT, 2 * 4096, 0)
        m.write_u64(cr3, PT_PDPT | 7)
        m.write_u64(PT_PDPT, PT_PD | 7)
        m.write_u64(PT_PD + 8 * (USER_VA >> 21), USER_VA | PTE_PS | 7)
        m.write_u64(PT_PD + 8 * (MMIO_VA >> 21), MMIO_PA | PTE_PS | 7)
        if ro_pages:
            m.write_u64(PT_PD + 8 * (RO_VA >> 21), PT_PT | 7)
            for i in range(512):
                m.write_u64(PT_PT + 8 * i, (RO_PA + 4096 * i) | PTE_U | PTE_P)
        m.write(USER_VA, self.ublob)
        if kernel_user:
            self.set_user_bit(lay.KERNEL_BASE, 2 << 20)
        if direct_user:
            self.set_user_bit(lay.DIRECT_MAP_BASE, m.size)
        if extra_map:
            self.map_user_2m(*extra_map)
        g = {v: (K_REPORT + 16 * v, GATE_INTR) for v in range(32)}
        g.update({0x80: (K_IRET, GATE_USER), 0x81: (K_IRET, GATE_USER)})
        g.update(gates or {})
        m.fill(lay.KERNEL_PHYS + K_IDT, 4096, 0)
        for v, (off, attr) in g.items():
            h = self.kva(off)
            m.write(lay.KERNEL_PHYS + K_IDT + 16 * v,
                    struct.pack("<HHBBHII", h & 0xFFFF, lay.KERNEL_CS, 0, attr,
                                h >> 16 & 0xFFFF, h >> 32, 0))
        m.write(lay.KERNEL_PHYS + K_IDTR, struct.pack("<HQ", 256 * 16 - 1, self.kva(K_IDT)))
        m.write_u64(lay.TSS_PHYS + 4, self.kva(K_STACK_TOP))             # RSP0
        m.write(lay.KERNEL_PHYS + K_PARAMS, struct.pack(
            "<9Q", lstar, fmask, USER_VA + entry, rflags, USER_STACK, r12, r15, rdi,
            lay.direct(PT_PT)))
        if iobitmap:                       # TSS I/O permission bitmap: ports 0..0x3ff allowed
            m.write_u16(lay.TSS_PHYS + 102, 104)
            m.fill(lay.TSS_PHYS + 104, 128, 0)
            m.write(lay.TSS_PHYS + 104 + 128, b"\xff")
            s = p.vcpu.get_sregs()
            s.tr.limit = 104 + 128
            p.vcpu.set_sregs(s)

    def go(self, timeout: float = 10.0, py_out: bool = False, mmio_read: bytes = b""):
        """Run the prepared guest until it stops; (exit, wall seconds, outs, mmios)."""
        outs, mmios, vcpu = [], [], self.p.vcpu

        class H(Handlers):
            def mmio(self, e):
                mmios.append(e)
                if not e.is_write:
                    vcpu.complete_mmio_read(mmio_read[:len(e.data)].ljust(len(e.data), b"\0"))
                return False
        h = H()
        if py_out:
            h.io_out = lambda e: outs.append(e) and False
        else:
            h.on_out(0x10, outs.append)
        t = time.perf_counter()
        e = self.p.run(h, timeout=timeout)
        return e, time.perf_counter() - t, outs, mmios

    def run(self, entry: int, *, timeout: float = 10.0, py_out: bool = False,
            mmio_read: bytes = b"", **kw) -> Trap:
        self.prepare(entry, **kw)
        e, wall, outs, mmios = self.go(timeout, py_out, mmio_read)
        r = self.p.regs()
        assert e == Hlt() and r.rip == self.kva(K_HLT + 1), \
            f"did not stop in a report stub: {describe(e)}\n{r}"
        frame = struct.unpack("<7Q", self.p.memory.read(self.lay.kernel_phys(r.rsp), 56))
        return Trap(*frame, regs=r, wall=wall, outs=outs, mmios=mmios)

    def loop(self, name: str, n: int, **kw) -> Trap:
        """The timing loop `name`, n iterations; asserts it completed (trap.regs.rax: cycles)."""
        t = self.run(loop_off(name), r12=n, **kw)
        assert t.vector == (GP if name == "ud2" else UD) and t.regs.r12 == 0, \
            f"loop {name} stopped early: vector {t.vector} err {t.err:#x} rip {t.rip:#x}"
        return t


@pytest.fixture
def rig(kvm_usable):
    if not ON_PVM:
        pytest.skip("facts about kvm_pvm; /dev/kvm here is another KVM")
    r = Rig()
    yield r
    r.close()


# ---- 1. syscall at CPL 3 ---------------------------------------------------------------------
def test_syscall_lands_on_user_lstar_at_cpl3(rig, capsys):
    t = rig.run(U_PROBE_SYSCALL, lstar=USER_VA + U_LSTAR_PROBE, fmask=RF_AC | RF_DF)
    g = t.regs
    with capsys.disabled():
        print(f"\n  CPL 3 selectors: before syscall cs={g.r10:#x} ss={g.r14:#x}, at LSTAR "
              f"cs={g.rax:#x} ss={g.rdx:#x}; virtual (exception frame) cs={t.cs:#x} ss={t.ss:#x}")
    # the LSTAR code ran (its ud2 raised #UD) at CPL 3
    assert (t.vector, t.rip) == (UD, USER_VA + U_LSTAR_PROBE + LSTAR_PROBE_UD2)
    assert (t.cs, t.ss) == (0x23, 0x1b)        # STAR's 0x08/0x10 not loaded: still CPL 3
    assert g.rax == g.r10 and g.rdx == g.r14 and g.rax & 3 == 3   # `mov %cs`: the host's
    assert g.rcx == g.rsi                      # rcx = the return rip
    assert g.r11 == g.rbx and g.rbx & (RF_AC | RF_DF | RF_IF) == RF_AC | RF_DF | RF_IF
    assert g.r8 & (RF_AC | RF_DF) == 0 and g.r8 & RF_IF   # FMASK applied to the real flags
    assert g.r9 == USER_STACK                  # rsp untouched
    assert t.rflags & RF_IF                    # FMASK without IF: interrupts stay on


def test_syscall_fmask_if_is_sticky_at_cpl3(rig):
    """FMASK.IF clears the virtual IF; neither popfq nor iretq at CPL 3 sets it again (the
    real IF stays 1: pushfq in the handler shows it)."""
    t = rig.run(U_PROBE_SYSCALL, lstar=USER_VA + U_LSTAR_PROBE, fmask=0x47700)
    assert t.vector == UD and not t.rflags & RF_IF and t.regs.r8 & RF_IF
    for lstar in (U_LSTAR_POPF, U_LSTAR_IRET, U_LSTAR_JMP):
        t = rig.run(probe_off("syscall"), lstar=USER_VA + lstar, fmask=0x47700)
        assert (t.vector, t.rip) == (UD, USER_VA + probe_off("syscall") + 4)   # returned
        assert not t.rflags & RF_IF
        t = rig.run(probe_off("syscall"), lstar=USER_VA + lstar, fmask=RF_AC | RF_DF)
        assert (t.vector, t.rip) == (UD, USER_VA + probe_off("syscall") + 4)
        assert t.rflags & RF_IF


def test_syscall_lstar_in_kernel_window(rig):
    lstar = rig.kva(K_LSTAR_PROBE)
    t = rig.run(U_PROBE_SYSCALL, lstar=lstar, kernel_user=True)      # U=1: runs at CPL 3
    assert (t.vector, t.rip, t.cs) == (UD, lstar + LSTAR_PROBE_UD2, 0x23)
    t = rig.run(U_PROBE_SYSCALL, lstar=lstar)                         # U=0: today's #PF path
    assert (t.vector, t.err, t.rip, t.cs, t.regs.cr2) == (PF, 0x15, lstar, 0x23, lstar)
    assert t.regs.rcx == t.regs.rsi and t.regs.r11 == t.regs.rbx


# ---- 2. sysretq, 4. privileged instructions ----------------------------------------------
GP_AT_CPL3 = ["sysretq", "sysretq_rcx", "invlpg", "mov_from_cr3", "mov_to_cr3", "mov_from_cr0",
              "wrmsr", "rdmsr", "hlt", "cli", "sti", "lidt", "swapgs", "out", "in"]
UD_AT_CPL3 = ["stac", "int80", "int81", "int20"]   # int n: #UD, though 0x80/0x81 have DPL 3 gates
RUN_AT_CPL3 = ["cpuid", "rdtscp", "mov_ds", "popf_if", "iretq"]


@pytest.mark.parametrize("name", GP_AT_CPL3 + UD_AT_CPL3 + ["int3"] + RUN_AT_CPL3)
def test_instruction_at_cpl3(rig, name):
    # IOPL 3 in the iretq frame: kvm_pvm drops it (the frame shows IOPL 0), so cli/sti/in/out
    # still #GP
    t = rig.run(probe_off(name), rflags=0x202 | RF_IOPL, rdi=USER_VA + 0x1000,
                lstar=USER_VA + U_LSTAR_JMP)
    at = t.rip - USER_VA - probe_off(name)
    assert t.cs == 0x23 and t.rflags & RF_IOPL == 0
    if name in GP_AT_CPL3:
        offset = 10 if name == "sysretq_rcx" else 0
        assert (t.vector, t.err, at) == (GP, 0, offset)
    elif name in UD_AT_CPL3:
        assert (t.vector, at) == (UD, 0)
    elif name == "int3":                       # #BP, though its gate has DPL 0 (else #GP)
        assert (t.vector, at) == (BP, 1)
    else:                                      # ran; the probe's own ud2 stopped it
        assert t.vector == UD and 2 < at < 0x40
        if name == "iretq":                    # back in 64-bit code after the same-level iretq
            assert t.regs.rax == 0x1122334455667788
        if name == "popf_if":                  # popfq cannot clear IF at CPL 3
            assert t.rflags & RF_IF


# ---- 3. port I/O and MMIO from CPL 3 ---------------------------------------------------------
def test_out_at_cpl3_needs_the_tss_io_bitmap(rig):
    t = rig.run(probe_off("out"), rflags=0x202 | RF_IOPL)
    assert (t.vector, t.err, t.outs) == (GP, 0, [])
    t = rig.run(probe_off("out"), iobitmap=True)
    assert t.outs == [IoOut(0x10, 1, b"\0")] and t.vector == UD      # and it went on


def test_mmio_at_cpl3(rig):
    t = rig.run(probe_off("mmio_write"), rdi=MMIO_VA + 0x10)
    assert t.mmios == [Mmio(MMIO_PA + 0x10, b"\x78\x56\x34\x12", True)] and t.vector == UD
    t = rig.run(probe_off("mmio_read"), rdi=MMIO_VA + 0x10, mmio_read=b"\x44\x33\x22\x11")
    assert [(e.addr, e.is_write) for e in t.mmios] == [(MMIO_PA + 0x10, False)]
    assert t.regs.rax == 0x11223344


def test_per_cpu_data_at_cpl3(rig):
    """swapgs #GPs at CPL 3, but the GS base the vCPU holds applies to CPL 3 code; and
    wr/rd{fs,gs}base run at CPL 3 (the host's CR4.FSGSBASE, though the guest's CR4 and CPUID
    lack it) and the vCPU's FS/GS base follow. rdpid/rdtscp run natively and return the
    host's TSC_AUX, not the guest's."""
    rig.prepare(probe_off("gs_read"))
    s = rig.p.vcpu.get_sregs()
    s.gs.base = USER_VA + 0x1000
    rig.p.vcpu.set_sregs(s)
    rig.p.memory.write_u64(USER_VA + 0x1008, 0xABCDEF)
    assert rig.go()[0] == Hlt() and rig.p.regs().rax == 0xABCDEF
    t = rig.run(probe_off("fsgsbase"))
    s = rig.p.vcpu.get_sregs()
    assert t.vector == UD and t.regs.rdx == t.regs.rcx == 0x7F00_0000_1000
    assert s.fs.base == s.gs.base == 0x7F00_0000_1000 and not s.cr4 & (1 << 16)
    rig.prepare(probe_off("rdpid"))
    rig.p.vcpu.set_msrs({0xC000_0103: 0x5A5})                     # TSC_AUX
    assert rig.go()[0] == Hlt()
    r = rig.p.regs()
    assert r.rip == rig.kva(K_HLT + 1) and r.rax != 0x5A5


# ---- 5. memory -------------------------------------------------------------------------------
def mem_probe(rig: Rig, va: int, **kw) -> Trap:
    rig.prepare(U_MEM, rdi=va, **kw)
    rig.p.memory.write_u64(0x50_0000, 0xFEEDFACE)      # read at USER_VA + 1 MiB's frame
    e, wall, outs, mmios = rig.go()
    r = rig.p.regs()
    frame = struct.unpack("<7Q", rig.p.memory.read(rig.lay.kernel_phys(r.rsp), 56))
    return Trap(*frame, regs=r, wall=wall, outs=outs, mmios=mmios)


def test_kernel_half_from_cpl3(rig, capsys):
    lay = rig.lay
    # the kernel window with U=1: read/write (and run: test_syscall_lstar_in_kernel_window)
    t = mem_probe(rig, rig.kva(K_PARAMS), kernel_user=True, lstar=0x1234)
    assert t.vector == UD and (t.regs.rax, t.regs.rbx) == (0x1234, 0x5A5A5A5A)
    # the default direct map is PML4 slot 256: not present to CPL 3, U=1 or not
    assert lay.DIRECT_MAP_BASE >> 39 & 511 == 256
    for user in (False, True):
        t = mem_probe(rig, lay.direct(0x50_0000), direct_user=user)
        assert (t.vector, t.err, t.regs.cr2) == (PF, 0x4, lay.direct(0x50_0000))
    # a U=1 2 MiB page anywhere else in the upper half works (slot 256 only is the host's)
    for va in (0xFFFF_8080_0000_0000, 0xFFFF_A000_0000_0000, 0xFFFF_C000_0040_0000,
               0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_FFE0_0000, 0xFFFF_8000_4000_0000):
        t = mem_probe(rig, va + 0x10_0000, extra_map=(va, USER_VA))
        if va >> 39 & 511 != 256:
            assert (t.vector, t.regs.rax) == (UD, 0xFEEDFACE), hex(va)
        else:
            assert (t.vector, t.err) == (PF, 0x4), hex(va)
    # so a direct map moved out of slot 256, with U=1, serves CPL 3
    rig.lay = BootLayout(DIRECT_MAP_BASE=MOVED_DIRECT_MAP)
    try:
        t = mem_probe(rig, rig.lay.direct(0x50_0000), direct_user=True)
        assert t.vector == UD and (t.regs.rax, t.regs.rbx) == (0xFEEDFACE, 0x5A5A5A5A)
        assert rig.p.memory.read_u64(0x50_0008) == 0x5A5A5A5A
    finally:
        rig.lay = lay
    # no SMEP/SMAP: not in CR4, not offered in CPUID
    from qvisor.kvm.vm import cpuid_find
    leaf7 = cpuid_find(rig.p.kvm.supported_cpuid(), 7, 0)
    with capsys.disabled():
        print(f"\n  CR4 {t.regs.cr4:#x}; CPUID.7 ebx {leaf7.ebx:#x}")
    assert not t.regs.cr4 & (3 << 20) and not leaf7.ebx & (1 << 7 | 1 << 20)


def test_exec_nx_page_from_cpl3(rig):
    """A fetch from the (NX) direct map at CPL 3: not present in slot 256 (error code 0x14);
    moved and U=1, an NX violation with the architectural error code 0x15."""
    lay = rig.lay
    t = rig.run(U_PROBE_SYSCALL, lstar=lay.direct(USER_VA), direct_user=True)
    assert (t.vector, t.err) == (PF, 0x14)
    rig.lay = BootLayout(DIRECT_MAP_BASE=MOVED_DIRECT_MAP)
    try:
        t = rig.run(U_PROBE_SYSCALL, lstar=rig.lay.direct(USER_VA), direct_user=True)
        assert (t.vector, t.err, t.rip) == (PF, 0x15, rig.lay.direct(USER_VA))
    finally:
        rig.lay = lay


# ---- 6. page faults from CPL 3 -------------------------------------------------------------
def test_page_faults_from_cpl3(rig):
    rig.loop("pf_load", 10, r15=3, rdi=0x7FFF_0000_0000, gates={PF: (K_SKIP_ERR, GATE_INTR)})
    assert rig.p.regs().cr2 == 0x7FFF_0000_0000
    rig.loop("pf_write", 512, rdi=RO_VA, ro_pages=True, gates={PF: (K_PF_FIX, GATE_INTR)})
    m = rig.p.memory
    assert all(m.read_u64(PT_PT + 8 * i) & PTE_W for i in range(512))
    assert all(m.read(RO_PA + 4096 * i, 1) == b"\1" for i in range(512))


# ---- costs -----------------------------------------------------------------------------------
def tsc_mhz(rig: Rig) -> float:
    """TSC frequency from a long CPL 3 nop loop against host time (within ~2%)."""
    t = rig.loop("nop", 50_000_000)
    return t.regs.rax / t.wall / 1e6


def cost_cases(rig: Rig, quick: bool = True):
    """(label, loop, iterations, prepare options); per-iteration cost in us."""
    k = rig.kva
    n = 200 if quick else 2000
    skip = {GP: (K_SKIP_ERR, GATE_INTR)}
    return [
        ("plain CPL 3 loop iteration (nop)", "nop", 100 * n, {}),
        ("rdtscp at CPL 3", "rdtscp", 10 * n, {}),
        ("wrfsbase at CPL 3", "wrfsbase", 10 * n, dict(rdi=0x7F00_0000_1000)),
        ("syscall -> LSTAR `jmp *%rcx` (user half)", "syscall", n,
         dict(lstar=USER_VA + U_LSTAR_JMP)),
        ("syscall -> LSTAR `push %r11; popfq; jmp *%rcx`", "syscall", n,
         dict(lstar=USER_VA + U_LSTAR_POPF)),
        ("syscall -> LSTAR in U=1 kernel window, jmp", "syscall", n,
         dict(lstar=k(K_LSTAR_JMP), kernel_user=True)),
        ("syscall -> LSTAR, return with iretq at CPL 3", "syscall", n,
         dict(lstar=USER_VA + U_LSTAR_IRET)),
        ("iretq at CPL 3 (same level)", "iretq", n, {}),
        ("syscall -> #PF at LSTAR (S page) -> CPL 0 -> iretq", "syscall", n,
         dict(lstar=k(K_LSTAR_JMP), gates={PF: (K_LSTAR_PF, GATE_INTR)})),
        ("int3 -> #BP -> CPL 0 iretq", "int3", n, dict(gates={BP: (K_IRET, GATE_INTR)})),
        ("int3 -> CPL 0 invlpg; iretq", "int3", n,
         dict(rdi=USER_VA, gates={BP: (K_INVLPG, GATE_INTR)})),
        ("int3 -> CPL 0 mov to cr3 (same); iretq", "int3", n,
         dict(rdi=0x1_0000, gates={BP: (K_CR3, GATE_INTR)})),
        ("int3 -> CPL 0 out; iretq", "int3", n, dict(gates={BP: (K_OUT_IRET, GATE_INTR)})),
        ("ud2 -> #UD -> CPL 0 skip, iretq", "ud2", n,
         dict(r15=2, gates={UD: (K_SKIP_NOERR, GATE_INTR)})),
        ("hlt -> #GP -> CPL 0 skip, iretq", "hlt", n, dict(r15=1, gates=skip)),
        ("invlpg -> #GP -> CPL 0 skip, iretq", "invlpg", n, dict(r15=3, rdi=USER_VA, gates=skip)),
        ("wrmsr -> #GP -> CPL 0 skip, iretq", "wrmsr", n, dict(r15=2, gates=skip)),
        ("out -> #GP -> CPL 0 does the out, skip", "out", n,
         dict(gates={GP: (K_GP_OUT, GATE_INTR)})),
        ("out at CPL 3 via TSS I/O bitmap (C run loop)", "out", n, dict(iobitmap=True)),
        ("MMIO write at CPL 3 (Python handler)", "mmio", n, dict(rdi=MMIO_VA)),
        ("load, not present -> #PF -> CPL 0 skip", "pf_load", n,
         dict(r15=3, rdi=0x7FFF_0000_0000, gates={PF: (K_SKIP_ERR, GATE_INTR)})),
        ("write read-only page -> #PF -> CPL 0 sets W", "pf_write", 512,
         dict(rdi=RO_VA, ro_pages=True, gates={PF: (K_PF_FIX, GATE_INTR)})),
        # rdi: an unused slot of the PD that maps USER_VA, through a U=1 alias of low memory
        ("store into a page table KVM shadows (PD)", "store", n,
         dict(rdi=MOVED_DIRECT_MAP + PT_PD + 8 * 64, extra_map=(MOVED_DIRECT_MAP, 0))),
    ]


def measure(rig: Rig, rounds: int, quick: bool = True, mhz: float | None = None):
    """{label: [us per iteration per round]} (TSC cycles in the guest), interleaved rounds."""
    mhz = mhz or tsc_mhz(rig)
    cases = cost_cases(rig, quick)
    out: dict[str, list[float]] = {c[0]: [] for c in cases}
    for _ in range(rounds):
        for label, name, n, kw in cases:
            out[label].append(rig.loop(name, n, **kw).regs.rax / mhz / n)
    return out, mhz


def test_costs(rig, capsys):
    res, mhz = measure(rig, rounds=3)
    best = {k: min(v) for k, v in res.items()}
    with capsys.disabled():
        print(f"\n  TSC {mhz:.0f} MHz; us per iteration, best / median of 3 rounds")
        for k, v in res.items():
            print(f"  {k:52s} {min(v):8.3f} {statistics.median(v):8.3f}")
    assert best["plain CPL 3 loop iteration (nop)"] < 0.02          # native
    assert best["rdtscp at CPL 3"] < 0.5 and best["wrfsbase at CPL 3"] < 0.5
    sc = best["syscall -> LSTAR `jmp *%rcx` (user half)"]
    assert 1 < sc < best["syscall -> #PF at LSTAR (S page) -> CPL 0 -> iretq"]  # trapped, cheaper
    for k, v in best.items():
        if k.startswith(("int3", "ud2", "hlt", "invlpg", "wrmsr", "out", "load", "write")):
            assert v > 1, k                    # every CPL 0 round trip leaves native code


@pytest.mark.skipif(not shutil.which("as") or not shutil.which("objcopy"),
                    reason="GNU as/objcopy not installed")
@pytest.mark.parametrize("name", sorted(BLOBS))
def test_blob_bytes_match_source(tmp_path, name):
    assert assemble(BLOBS[name][0](), tmp_path).hex() == BLOBS[name][1]
