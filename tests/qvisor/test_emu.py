"""The emu platform (unicorn): tiny guests for port I/O, exception delivery through the guest IDT,
ring 3 round trips, the x2APIC timer, and the real kernel booted with its self-test.

Tiny guests: GNU as source (AT&T, .code64) with the bytes `as --64` + `objcopy -O binary`
produced for it (test_guest_bytes_match_source re-assembles when binutils are installed). They
run at CPL 0 at KERNEL_BASE; port 0x10 is the test output port. Handler addresses and the IDT
contents are written by the test (install_idt): the guests only `lidt` an operand the test fills.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time

import pytest

from qvisor.kvm.exits import Hlt, InternalError, Interrupted, IoOut, Mmio, Shutdown
from qvisor.platform import Handlers
from qvisor.platform.emu import cpu as emu_cpu
from qvisor.platform.emu import EmuPlatform, RunTimeout, X2Apic
from qvisor.signals import StopOnSignals
from qvisor_guests import IN_PORT, OUT_PORT
from qvisor_guests import code as pvm_code

GUESTS: dict[str, tuple[str, str]] = {
    # (b) #UD through the guest IDT: the handler reports CS and RFLAGS.IF, returns past the ud2
    "ud_idt": ("""
    lidt idtr(%rip)
    ud2
    mov $0x4b, %al          # 'K': back after the ud2
    out %al, $0x10
    hlt
    .org 0x40
ud_handler:                 # frame: rip, cs, rflags, rsp, ss (no error code)
    mov $0x55, %al          # 'U'
    out %al, $0x10
    mov 8(%rsp), %rax       # the interrupted CS
    out %al, $0x10
    mov 16(%rsp), %rax      # the interrupted RFLAGS, bits 15:8 (IF is bit 9)
    shr $8, %rax
    out %al, $0x10
    addq $2, (%rsp)
    iretq
    .org 0x80
idtr:                       # filled by the test
    .word 0
    .quad 0
""",
        "0f011d790000000f0bb04be610f4000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000b055e610488b442408e610488b44241048c1e808e6104883"
        "04240248cf000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000"),
    # #PF: the handler reports the error code and CR2
    "pf": ("""
    lidt idtr(%rip)
    movabs $0x7fffdead0000, %rbx
    movq $1, (%rbx)         # supervisor write, not present: error code 2
    hlt
    .org 0x40
pf_handler:
    mov (%rsp), %rax
    out %eax, $0x10
    mov %cr2, %rax
    out %eax, $0x10
    shr $32, %rax
    out %eax, $0x10
    hlt
    .org 0x80
idtr:
    .word 0
    .quad 0
""",
        "0f011d7900000048bb0000addeff7f000048c70301000000f400000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000488b0424e7100f20d0e71048c1e820e710f4000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000"),
    # (c) ring 3: STAR/LSTAR/FMASK, iretq to the user page; the user code (user_code) does
    # ud2 (-> ud_handler on the TSS RSP0 stack), syscall (-> syscall_entry, sysretq back) and
    # hlt (#GP(0) at CPL 3 -> gp_handler on IST1, which halts at CPL 0)
    "user": ("""
    lidt idtr(%rip)
    mov $0xc0000081, %ecx   # STAR: sysret base 0x10 (-> CS 0x23, SS 0x1b), syscall CS 0x08
    xor %eax, %eax
    mov $0x00100008, %edx
    wrmsr
    mov $0xc0000082, %ecx   # LSTAR
    lea syscall_entry(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    wrmsr
    mov $0xc0000084, %ecx   # FMASK: TF IF DF
    mov $0x700, %eax
    xor %edx, %edx
    wrmsr
    push $0x1b              # SS
    push $0x400800          # RSP
    push $0x202             # RFLAGS: IF
    push $0x23              # CS
    push $0x400000          # RIP
    iretq
    .org 0x80
ud_handler:
    mov $0x55, %al          # 'U', then the interrupted CS and SS
    out %al, $0x10
    mov 8(%rsp), %rax
    out %al, $0x10
    mov 32(%rsp), %rax
    out %al, $0x10
    addq $2, (%rsp)
    iretq
    .org 0xc0
gp_handler:
    mov $0x47, %al          # 'G', then the interrupted CS and the error code
    out %al, $0x10
    mov 16(%rsp), %rax
    out %al, $0x10
    mov (%rsp), %rax
    out %al, $0x10
    hlt
    .org 0x100
syscall_entry:
    mov $0x53, %al          # 'S', then the user RFLAGS (r11) bits 15:8
    out %al, $0x10
    mov %r11, %rax
    shr $8, %rax
    out %al, $0x10
    sysretq
    .org 0x140
idtr:
    .word 0
    .quad 0
""",
        "0f011d39010000b9810000c031c0ba080010000f30b9820000c0488d05df0000004889c248c1ea200f30b984"
        "0000c0b80007000031d20f306a1b680008400068020200006a23680000400048cf0000000000000000000000"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000b055e610"
        "488b442408e610488b442420e610488304240248cf0000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000b047e610488b442410e610488b0424e610f400000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000b053e6104c89d848"
        "c1e808e610480f07000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000"),
    "user_code": ("""
    ud2
    syscall
    hlt
""",
        "0f0b0f05f4"),
    # int3 from ring 3: through a DPL 3 gate (ud_handler returns 2 bytes further), or #GP(0x1a)
    "user_int3": ("""
    int3
    nop
    nop
    syscall
    hlt
""",
        "cc90900f05f4"),
    # (d) x2APIC: CPUID bit, enable, periodic timer vector 32 every 1 ms; `sti; hlt` until the
    # handler (which counts in ebx and EOIs) has run 3 times; then mask the timer and report the
    # count and APIC_BASE bits 15:8 (EN|EXTD -> 0x0d); `sti; hlt` with no timer is a Hlt exit
    "timer": ("""
    lidt idtr(%rip)
    mov $1, %eax
    cpuid
    shr $21, %ecx
    and $1, %ecx
    mov %ecx, %eax
    out %al, $0x10
    mov $0x1b, %ecx         # APIC_BASE |= EN | EXTD
    rdmsr
    or $0xc00, %eax
    wrmsr
    mov $0x80f, %ecx        # SVR: enabled, spurious vector 0xff
    mov $0x1ff, %eax
    xor %edx, %edx
    wrmsr
    mov $0x83e, %ecx        # divide by 1
    mov $0xb, %eax
    wrmsr
    mov $0x832, %ecx        # LVT timer: periodic, vector 32
    mov $0x20020, %eax
    wrmsr
    mov $0x838, %ecx        # initial count: 1e6 bus cycles = 1 ms
    mov $1000000, %eax
    wrmsr
    xor %ebx, %ebx
1:  sti
    hlt
    cmp $3, %ebx
    jb 1b
    cli
    mov $0x832, %ecx        # mask the timer
    mov $0x10000, %eax
    xor %edx, %edx
    wrmsr
    sti                     # a tick that fired before the mask is still pending (as on real
    nop                     # hardware, masking the LVT does not clear IRR): take it here
    nop
    cli
    mov %ebx, %eax
    out %al, $0x10
    mov $0x1b, %ecx
    rdmsr
    shr $8, %eax
    out %al, $0x10
    sti
    hlt
    mov $0x45, %al          # 'E': only if resumed after the Hlt exit
    out %al, $0x10
    .org 0x100
timer_handler:
    push %rax
    push %rcx
    push %rdx
    inc %ebx
    mov $0x54, %al          # 'T'
    out %al, $0x10
    mov $0x80b, %ecx        # EOI
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    pop %rdx
    pop %rcx
    pop %rax
    iretq
    .org 0x180
idtr:
    .word 0
    .quad 0
""",
        "0f011d79010000b8010000000fa2c1e91583e10189c8e610b91b0000000f320d000c00000f30b90f080000b8"
        "ff01000031d20f30b93e080000b80b0000000f30b932080000b8200002000f30b938080000b840420f000f30"
        "31dbfbf483fb0372f9fab932080000b80000010031d20f30fb9090fa89d8e610b91b0000000f32c1e808e610"
        "fbf4b045e6100000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000505152ffc3b054e6"
        "10b90b08000031c031d20f305a595848cf000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
    # preemption of ring 3: periodic timer, iretq to a user spin loop with IF=1; each tick's
    # handler (on the TSS RSP0 stack) reports 'T' and the interrupted CS, EOIs; the third one
    # returns to the user's hlt instead, whose #GP (IST1) reports 'G' and halts at CPL 0
    "user_timer": ("""
    lidt idtr(%rip)
    mov $0x1b, %ecx         # x2APIC on, timer: periodic vector 32, 1 ms
    rdmsr
    or $0xc00, %eax
    wrmsr
    mov $0x80f, %ecx
    mov $0x1ff, %eax
    xor %edx, %edx
    wrmsr
    mov $0x83e, %ecx
    mov $0xb, %eax
    wrmsr
    mov $0x832, %ecx
    mov $0x20020, %eax
    wrmsr
    mov $0x838, %ecx
    mov $1000000, %eax
    wrmsr
    xor %ebx, %ebx
    push $0x1b
    push $0x400800
    push $0x202
    push $0x23
    push $0x400000
    iretq
    .org 0xc0
gp_handler:
    mov $0x47, %al
    out %al, $0x10
    hlt
    .org 0x100
timer_handler:
    push %rax
    push %rcx
    push %rdx
    mov $0x54, %al
    out %al, $0x10
    mov 32(%rsp), %rax      # the interrupted CS
    out %al, $0x10
    mov $0x80b, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    inc %ebx
    cmp $3, %ebx
    jb 1f
    movq $0x400002, 24(%rsp)
1:  pop %rdx
    pop %rcx
    pop %rax
    iretq
    .org 0x180
idtr:
    .word 0
    .quad 0
""",
        "0f011d79010000b91b0000000f320d000c00000f30b90f080000b8ff01000031d20f30b93e080000b80b0000"
        "000f30b932080000b8200002000f30b938080000b840420f000f3031db6a1b680008400068020200006a2368"
        "0000400048cf0000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000b047e610f40000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000505152b054e61048"
        "8b442420e610b90b08000031c031d20f30ffc383fb03720948c7442418020040005a595848cf000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
    "user_spin": ("""
1:  jmp 1b
    hlt
""",
        "ebfef4"),
    "spin": ("""
1:  jmp 1b
""",
        "ebfe"),
}


def code(name: str) -> bytes:
    return bytes.fromhex(GUESTS[name][1])


IDT_OFF = 0x1000                 # the test IDT: KERNEL_BASE + IDT_OFF
GATE_INTR, GATE_TRAP, GATE_USER = 0x8E, 0x8F, 0xEE


@pytest.fixture
def emu():
    p = EmuPlatform(16 << 20)
    yield p
    p.close()


def install_idt(p: EmuPlatform, idtr_off: int, gates: dict[int, tuple[int, int, int]]) -> None:
    """IDT at KERNEL_BASE + IDT_OFF with gates {vector: (handler offset, ist, type_attr)}, and
    the guest's lidt operand at image offset idtr_off."""
    lay = p.layout
    for v, (off, ist, attr) in gates.items():
        h = lay.KERNEL_BASE + off
        p.memory.write(lay.KERNEL_PHYS + IDT_OFF + 16 * v,
                       struct.pack("<HHBBHII", h & 0xFFFF, lay.KERNEL_CS, ist, attr,
                                   h >> 16 & 0xFFFF, h >> 32, 0))
    p.memory.write(lay.KERNEL_PHYS + idtr_off,
                   struct.pack("<HQ", 256 * 16 - 1, lay.KERNEL_BASE + IDT_OFF))


def set_tss_stacks(p: EmuPlatform, rsp0: int = 0, ist1: int = 0) -> None:
    """The boot TSS (TR from build_boot_state): RSP0 at +4, IST1 at +36."""
    p.memory.write_u64(p.layout.TSS_PHYS + 4, rsp0)
    p.memory.write_u64(p.layout.TSS_PHYS + 36, ist1)


def run_guest(p: EmuPlatform, name: str, timeout: float = 5.0, prepare=None):
    """Load guest `name` (qvisor_guests or ours), run it; return (exit, bytes on OUT_PORT)."""
    out = bytearray()
    blob = code(name) if name in GUESTS else pvm_code(name)
    p.load_flat(blob, p.layout.KERNEL_BASE)
    if prepare:
        prepare(p)
    e = p.run(Handlers().on_out(OUT_PORT, lambda e: out.extend(e.data)), timeout=timeout)
    return e, bytes(out)


# ---- (a) port I/O and the pvm guests -------------------------------------------------------
def test_a_hi_byte_by_byte(emu):
    seen = []
    emu.load_flat(pvm_code("hi"), emu.layout.KERNEL_BASE)
    e = emu.run(Handlers().on_out(OUT_PORT, seen.append), timeout=2)
    assert e == Hlt()
    assert seen == [IoOut(OUT_PORT, 1, bytes([c])) for c in b"hi\n"]
    assert emu.regs().rip == emu.layout.KERNEL_BASE + 0x14       # just after the hlt


def test_boot_params_through_direct_map(emu):
    lay = emu.layout
    emu.memory.write_u64(lay.BOOT_PARAMS_PHYS, 0x1122_3344_5566_7788)
    e, out = run_guest(emu, "boot_params")
    assert e == Hlt()
    assert out == bytes.fromhex("8877665544332211")
    assert emu.regs().rdi == lay.boot_params_va


@pytest.mark.parametrize("name, expect", [
    ("stack", b"*"), ("rep_outsb", b"hello"), ("sse", b""),
])
def test_pvm_guests(emu, name, expect):
    assert run_guest(emu, name) == (Hlt(), expect)


def test_io_in_value_reaches_guest(emu):
    out = []
    emu.load_flat(pvm_code("echo_in"), emu.layout.KERNEL_BASE)
    h = Handlers().on_in(IN_PORT, lambda e: 0x41).on_out(OUT_PORT, out.append)
    assert emu.run(h, timeout=2) == Hlt()
    assert out == [IoOut(OUT_PORT, 4, (0x42).to_bytes(4, "little"))]


def test_stopping_handler_and_max_exits(emu):
    emu.memory.write_u64(emu.layout.BOOT_PARAMS_PHYS, 10)
    emu.load_flat(pvm_code("count_outs"), emu.layout.KERNEL_BASE)
    n = []
    e = emu.run(Handlers().on_out(OUT_PORT, lambda e: n.append(e) or len(n) == 4), timeout=2)
    assert isinstance(e, IoOut) and len(n) == 4
    e = emu.run(Handlers().on_out(OUT_PORT, n.append), max_exits=3, timeout=2)
    assert isinstance(e, IoOut) and len(n) == 7
    assert emu.run(Handlers().on_out(OUT_PORT, n.append), timeout=2) == Hlt()
    assert len(n) == 10                        # every out of the guest seen exactly once


def test_handler_exception_propagates(emu):
    class Boom(Exception):
        pass

    def boom(e):
        raise Boom()
    emu.load_flat(pvm_code("hi"), emu.layout.KERNEL_BASE)
    with pytest.raises(Boom):
        emu.run(Handlers().on_out(OUT_PORT, boom), timeout=2)
    seen = []
    assert emu.run(Handlers().on_out(OUT_PORT, seen.append), timeout=2) == Hlt()
    assert len(seen) == 2                      # resumed after the first out


def test_unregistered_port_stops(emu):
    emu.load_flat(pvm_code("hi"), emu.layout.KERNEL_BASE)
    assert emu.run(Handlers(), timeout=2) == IoOut(OUT_PORT, 1, b"h")


def test_run_timeout(emu):
    emu.load_flat(code("spin"), emu.layout.KERNEL_BASE)
    t = time.perf_counter()
    with pytest.raises(RunTimeout) as ei:
        emu.run(Handlers(), timeout=0.2)
    assert 0.2 <= time.perf_counter() - t < 2
    assert ei.value.regs.rip == emu.layout.KERNEL_BASE


def test_run_timeout_from_a_thread(emu):
    emu.load_flat(code("spin"), emu.layout.KERNEL_BASE)
    got = []

    def body():
        try:
            emu.run(Handlers(), timeout=0.1)
        except RunTimeout as e:
            got.append(e)
    th = threading.Thread(target=body)
    th.start()
    th.join(5)
    assert len(got) == 1


# ---- faults without an IDT: triple fault -----------------------------------------------------
def test_triple_fault_is_shutdown_and_host_survives(emu):
    e, out = run_guest(emu, "triple_fault")
    assert e == Shutdown() and out == b""
    assert emu.regs().rip == emu.layout.KERNEL_BASE + 8           # at the ud2
    assert "triple fault" in emu.last_error
    assert run_guest(emu, "hi") == (Hlt(), b"hi\n")                # same platform boots again


@pytest.mark.parametrize("name", ["int3", "exec_direct_map", "vmcall"])
def test_fault_without_idt_is_shutdown(emu, name):
    # boot state: IDT limit 0, so #BP/#PF/#UD -> #GP -> #DF -> triple fault
    assert run_guest(emu, name)[0] == Shutdown()


# ---- (b) exception delivery through the guest IDT -----------------------------------------
def test_b_ud_delivered_through_idt_and_iretq_resumes(emu):
    e, out = run_guest(emu, "ud_idt", prepare=lambda p: install_idt(p, 0x80, {6: (0x40, 0,
                                                                                  GATE_INTR)}))
    assert e == Hlt()
    assert out == b"U\x08\x00K"                # CPL 0 CS, IF clear, then back past the ud2
    r = emu.regs()
    assert r.rsp == emu.layout.stack_top_va    # the frame was popped
    assert emu.stats["exceptions"] == 1


def test_ud_on_ist_stack(emu):
    lay = emu.layout
    ist = lay.KERNEL_BASE + 0x9000
    e, out = run_guest(emu, "ud_idt", prepare=lambda p: (
        install_idt(p, 0x80, {6: (0x40, 1, GATE_INTR)}), set_tss_stacks(p, ist1=ist)))
    assert (e, out) == (Hlt(), b"U\x08\x00K")
    frame = struct.unpack("<5Q", emu.memory.read(lay.kernel_phys(ist) - 40, 40))
    assert frame[1:] == (lay.KERNEL_CS, 0x2, lay.stack_top_va, lay.KERNEL_DS)
    assert frame[0] == lay.KERNEL_BASE + 7 + 2   # rip after `addq $2` (ud2 at +7)


def test_page_fault_error_code_and_cr2(emu):
    e, out = run_guest(emu, "pf", prepare=lambda p: install_idt(p, 0x80, {14: (0x40, 0,
                                                                                GATE_INTR)}))
    assert e == Hlt()
    err, lo, hi = struct.unpack("<III", out)
    assert err == 2                            # write, not present, supervisor
    assert hi << 32 | lo == 0x7FFF_DEAD_0000 == emu.regs().cr2


def test_fault_in_handler_becomes_double_fault(emu):
    # #PF whose handler is not present (gate P=0): #NP while delivering #PF -> #DF
    e, out = run_guest(emu, "pf", prepare=lambda p: install_idt(
        p, 0x80, {14: (0x40, 0, GATE_INTR & 0x7F), 8: (0x40, 0, GATE_INTR)}))
    assert e == Hlt()
    assert out[:4] == b"\0\0\0\0"              # the #DF handler sees error code 0


# ---- (c) ring 3 ----------------------------------------------------------------------------
def map_user_page(p: EmuPlatform, va: int = 0x40_0000, pa: int = 0x40_0000) -> None:
    """A 2 MiB user page (U|W|P) at va -> pa: PML4[0] -> PDPT 0x90000 -> PD 0x91000."""
    m = p.memory
    cr3 = p.regs().cr3
    m.write_u64(cr3, 0x9_0000 | 7)
    m.write_u64(0x9_0000, 0x9_1000 | 7)
    m.write_u64(0x9_1000 + 8 * (va >> 21 & 511), pa | 0x87)


def test_c_ring3_exceptions_syscall_and_back(emu):
    lay = emu.layout

    def prepare(p):
        install_idt(p, 0x140, {6: (0x80, 0, GATE_INTR), 13: (0xC0, 1, GATE_INTR)})
        set_tss_stacks(p, rsp0=lay.KERNEL_BASE + 0x8000, ist1=lay.KERNEL_BASE + 0xA000)
        map_user_page(p)
        p.memory.write(0x40_0000, code("user_code"))
    e, out = run_guest(emu, "user", prepare=prepare)
    assert e == Hlt()
    assert out == (b"U\x23\x1b"                # #UD from CPL 3: user CS and SS in the frame
                   b"S\x02"                    # syscall at LSTAR, r11 = user RFLAGS (IF)
                   b"G\x23\x00")               # hlt at CPL 3: #GP(0) on IST1
    r = emu.regs()
    assert r.cs == lay.KERNEL_CS and r.ss == 0 and not r.rflags & 0x200
    assert emu.stats["syscalls"] == 1 and emu.stats["exceptions"] == 2
    # the #UD frame was on RSP0, the #GP frame (with error code) on IST1
    gp = struct.unpack("<6Q", emu.memory.read(lay.kernel_phys(lay.KERNEL_BASE + 0xA000) - 48,
                                              48))
    assert gp == (0, 0x40_0004, 0x23, 0x202, 0x40_0800, 0x1b)


def test_timer_preempts_ring3(emu):
    lay = emu.layout

    def prepare(p):
        install_idt(p, 0x180, {13: (0xC0, 1, GATE_INTR), 32: (0x100, 0, GATE_INTR)})
        set_tss_stacks(p, rsp0=lay.KERNEL_BASE + 0x8000, ist1=lay.KERNEL_BASE + 0xA000)
        map_user_page(p)
        p.memory.write(0x40_0000, code("user_spin"))
    e, out = run_guest(emu, "user_timer", prepare=prepare)
    assert (e, out) == (Hlt(), b"T\x23T\x23T\x23G")
    assert emu.stats["interrupts"] == 3


@pytest.mark.parametrize("gate, expect", [
    (GATE_USER, b"U\x23\x1bS\x02G\x23\x00"),   # int3 reaches its handler, back to ring 3
    (GATE_INTR, b"G\x23\x1a"),                  # DPL 0 gate: #GP(3 * 8 + 2)
])
def test_int3_from_ring3_checks_gate_dpl(emu, gate, expect):
    lay = emu.layout

    def prepare(p):
        install_idt(p, 0x140, {3: (0x80, 0, gate), 13: (0xC0, 1, GATE_INTR)})
        set_tss_stacks(p, rsp0=lay.KERNEL_BASE + 0x8000, ist1=lay.KERNEL_BASE + 0xA000)
        map_user_page(p)
        p.memory.write(0x40_0000, code("user_int3"))
    assert run_guest(emu, "user", prepare=prepare) == (Hlt(), expect)


# ---- (d) x2APIC timer -------------------------------------------------------------------------
def test_d_timer_ticks_wake_sti_hlt(emu):
    t = time.perf_counter()
    e, out = run_guest(emu, "timer", prepare=lambda p: install_idt(p, 0x180, {32: (0x100, 0,
                                                                                  GATE_INTR)}))
    dt = time.perf_counter() - t
    assert e == Hlt()                          # sti; hlt with the timer masked
    ticks = emu.stats["interrupts"]            # 3, or 4 when one was pending at the mask (load)
    assert ticks in (3, 4)
    assert out == b"\x01" + b"T" * ticks + bytes([ticks]) + b"\x0d"  # x2APIC, ticks, count, EN|EXTD
    assert dt >= 0.0025                        # ticks 1 ms apart
    assert emu.apic.isr == 0 and not emu.apic.timer_armed


def test_x2apic_model():
    now = [0]
    a = X2Apic(clock=lambda: now[0])
    assert a.rdmsr(0x1B) & 0xFFFF_F000 == 0xFEE0_0000
    a.wrmsr(0x80F, 0x1FF)
    a.wrmsr(0x83E, 0b0011)                     # divide by 16
    a.wrmsr(0x832, X2Apic.LVT_PERIODIC | 40)
    a.wrmsr(0x838, 100_000)                    # 1.6 ms
    assert a.timer_armed and a.period_ns == 1_600_000
    now[0] = 800_000
    assert a.rdmsr(0x839) == 50_000            # half counted down
    a.poll(now[0])
    assert a.deliverable() is None
    now[0] = 5_000_000                         # 3 periods late: coalesced into one interrupt
    a.poll(now[0])
    assert a.deliverable() == 40 and a.next_ns == 6_400_000
    a.acknowledge(40)
    a.raise_irq(35)                            # same priority class as 40: waits for EOI
    assert a.deliverable() is None
    a.raise_irq(60)                            # higher class: nests
    assert a.deliverable() == 60
    a.acknowledge(60)
    a.wrmsr(0x80B, 0)                          # EOI 60
    a.wrmsr(0x80B, 0)                          # EOI 40
    assert a.deliverable() == 35 and a.isr == 0
    a.wrmsr(0x838, 10)                         # short counts are clamped
    assert a.period_ns == X2Apic.MIN_PERIOD_NS
    a.wrmsr(0x832, X2Apic.LVT_MASKED | 40)
    assert not a.timer_armed
    a.wrmsr(0x838, 0)
    assert a.next_ns is None


def test_memory_outside_ram_is_mmio_and_fetch_is_internal_error(emu):
    def map_1g(p):                             # VA 1 GiB -> PA 1 GiB (beyond the 16 MiB)
        m, cr3 = p.memory, p.regs().cr3
        m.write_u64(cr3, 0x9_0000 | 3)
        m.write_u64(0x9_0000 + 8, 0x9_1000 | 3)
        m.write_u64(0x9_1000, 0x4000_0000 | 0x83)
    guests = {"48bb0000004000000000488b03f4": Mmio(0x4000_0000, b"\xff" * 8, False),
              "48bb000000400000000048c70301000000f4": Mmio(0x4000_0000, b"\1" + bytes(7), True)}
    for hexcode, want in guests.items():
        emu.load_flat(bytes.fromhex(hexcode), emu.layout.KERNEL_BASE)   # mov (%rbx) / to it
        map_1g(emu)
        assert emu.run(Handlers(), timeout=2) == want
    emu.load_flat(bytes.fromhex("48bb0000004000000000ffe3"), emu.layout.KERNEL_BASE)  # jmp *%rbx
    map_1g(emu)
    e = emu.run(Handlers(), timeout=2)
    assert isinstance(e, InternalError) and e.data[4] == 0x4000_0000
    assert "UC_ERR_FETCH_UNMAPPED" in emu.last_error


# ---- the unicorn internals ----------------------------------------------------------------
def test_context_layout_probe():
    lay = emu_cpu.layout()
    assert lay.segs == lay.hflags + 8
    assert lay.exception_is_int == lay.error_code + 4
    assert lay.error_code < lay.old_exception < lay.size


def test_page_walk_error_codes(emu):
    emu.load_flat(pvm_code("hi"), emu.layout.KERNEL_BASE)
    cr3, rd = emu.regs().cr3, emu.memory.read_u64
    lay = emu.layout
    assert emu_cpu.walk(rd, cr3, lay.direct(0x1234)) == 0x1234
    with pytest.raises(emu_cpu.PageFault) as ei:
        emu_cpu.walk(rd, cr3, 0x1000, write=True)
    assert ei.value.error == emu_cpu.PF_W
    with pytest.raises(emu_cpu.PageFault) as ei:
        emu_cpu.walk(rd, cr3, lay.KERNEL_BASE, user=True)
    assert ei.value.error == emu_cpu.PF_P | emu_cpu.PF_U
    with pytest.raises(emu_cpu.PageFault) as ei:
        emu_cpu.walk(rd, cr3, lay.direct(0), fetch=True)          # the direct map is NX
    assert ei.value.error == emu_cpu.PF_P | emu_cpu.PF_I


@pytest.mark.skipif(shutil.which("as") is None or shutil.which("objcopy") is None,
                    reason="binutils (as, objcopy) not installed")
@pytest.mark.parametrize("name", sorted(GUESTS))
def test_guest_bytes_match_source(tmp_path, name):
    src, hexcode = GUESTS[name]
    (tmp_path / "g.s").write_text(".code64\n" + src)
    subprocess.run(["as", "--64", "g.s", "-o", "g.o"], cwd=tmp_path, check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", "g.o", "g.bin"], cwd=tmp_path,
                   check=True)
    assert (tmp_path / "g.bin").read_bytes().hex() == hexcode


# ---- the real kernel -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kernel_elf(tmp_path_factory):
    from toolchain.driver import build_kernel
    out = tmp_path_factory.mktemp("emu-kernel") / "kernel.elf"
    build_kernel(out, out.parent / "cache")
    return out


class KernelRun:
    """The kernel booted on emu with a test-local qcall server (qkernel/abi.py)."""

    def __init__(self, kernel_elf, flags: int = 0, mem_size: int = 64 << 20) -> None:
        from qkernel import abi as A
        from qvisor.abi import BOOT_LAYOUT
        self.A = A
        self.p = p = EmuPlatform(mem_size, BOOT_LAYOUT)
        p.load_kernel(kernel_elf)
        end = (p.layout.KERNEL_PHYS + p.span + 0xFFF) & ~0xFFF
        p.memory.write(p.layout.BOOT_PARAMS_PHYS, struct.pack(
            "<8Q", A.BOOT_MAGIC, mem_size, A.PLATFORM_EMU, A.MODE_SPLIT, flags, A.LOG_INFO, end,
            0))
        self.console, self.log, self.status, self.panic = bytearray(), [], None, None
        self.calls = 0

    def qcall(self, e: IoOut) -> bool:
        A, mem = self.A, self.p.memory
        pa = e.value
        nr, *args = struct.unpack("<7Q", mem.read(pa, 56))
        self.calls += 1
        res = 0
        if nr == A.QCALL_CONSOLE_WRITE:
            self.console += mem.read(args[1], args[2])
            res = args[2]
        elif nr == A.QCALL_EXIT:
            self.status = args[0]
            return True
        elif nr == A.QCALL_CLOCK:
            res = time.monotonic_ns()
        elif nr == A.QCALL_RANDOM:
            mem.write(args[0], os.urandom(args[1]))
            res = args[1]
        elif nr == A.QCALL_LOG:
            self.log.append(mem.read(args[1], args[2]).decode())
        elif nr == A.QCALL_PANIC:
            self.panic = mem.read(args[0], args[1]).decode()
            return True
        else:
            res = (1 << 64) - 38                # -ENOSYS
        mem.write_u64(pa + 56, res)
        return False

    def run(self, timeout: float = 15.0):
        return self.p.run(Handlers().on_out(self.A.QCALL_PORT, self.qcall), timeout=timeout)


def test_kernel_boots_on_emu_with_selftest(kernel_elf, capsys):
    from qkernel import abi as A
    t = time.perf_counter()
    k = KernelRun(kernel_elf, A.BOOT_SELFTEST)
    try:
        t_load = time.perf_counter()
        e = k.run()
        t_run = time.perf_counter() - t_load
    finally:
        k.p.close()
    assert isinstance(e, IoOut) and e.port == A.QCALL_PORT, (e, k.log, k.panic)
    assert k.panic is None and k.status == 0
    banner = k.console.decode()
    m = re.fullmatch(r"pyquark: qkernel up on emu \(split mode\), 64 MiB, "
                     r"self-test passed \((\d+) timer ticks\)\n", banner)
    assert m and int(m.group(1)) >= 3, banner
    assert any("selftest: qcall round trips ok" in line for line in k.log)
    assert k.p.stats["interrupts"] >= 3
    with capsys.disabled():
        print(f"\n  kernel on emu: platform+load {t_load - t:.3f} s, boot to exit {t_run:.3f} s, "
              f"{k.calls} qcalls, {k.p.stats}")


@pytest.mark.parametrize("flag, vector", [
    ("BOOT_FAULT_UD", "#UD invalid opcode (vector 6)"),
    ("BOOT_FAULT_PF", "#PF page fault (vector 14) error=0x0"),
    ("BOOT_FAULT_DE", "#DE divide error (vector 0)"),
    ("BOOT_FAULT_INT3", "#BP breakpoint (vector 3)"),
])
def test_kernel_exceptions_reach_its_trap_handler(kernel_elf, flag, vector):
    from qkernel import abi as A
    k = KernelRun(kernel_elf, getattr(A, flag))
    try:
        e = k.run()
    finally:
        k.p.close()
    assert isinstance(e, IoOut) and k.panic is not None, (e, k.log)
    assert k.panic.startswith(f"kernel exception {vector}"), k.panic


def test_kernel_triple_fault_is_shutdown(kernel_elf):
    from qkernel import abi as A
    k = KernelRun(kernel_elf, A.BOOT_FAULT_TRIPLE)
    try:
        assert k.run() == Shutdown()
    finally:
        k.p.close()


def test_stop_signal_ends_a_spinning_guest(emu):
    emu.load_flat(code("spin"), emu.layout.KERNEL_BASE)
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))   # any thread may take it
    with StopOnSignals(emu.interrupt) as stop:
        timer.start()
        try:
            e = emu.run(Handlers(), timeout=20)              # RunTimeout, not a hang
        finally:
            timer.join()
    assert e == Interrupted() and stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
