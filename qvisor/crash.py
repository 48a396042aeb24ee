"""Crash reports: what QVisor prints when the guest kernel panics, faults, triple-faults or stops
the hypervisor's emulator.

A report has the cause, the registers (of the trap frame when the kernel passed one), the faulting
instruction with its neighbours disassembled by capstone and symbolised from kernel.elf, a
frame-pointer backtrace, and the tail of the kernel log read from guest memory (klog's ring).
Reading guest memory for the report never raises: unreadable parts are shown as such.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .memory import GuestFault, GuestMemory
from .pagetables import BootLayout
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .symbols import KernelSymbols

TRAPFRAME_FIELDS = ("r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax vector error "
                    "rip cs rflags rsp ss").split()
EXIT_KERNEL_CRASH = 70  # qvisor's exit status after a kernel crash (EX_SOFTWARE)
LOG_TAIL_LINES = 20


@dataclass
class CrashInfo:
    cause: str
    regs: dict[str, int] = field(default_factory=dict)
    insn_bytes: bytes = b""


def kernel_va_to_pa(layout: BootLayout, mem: GuestMemory, va: int) -> int | None:
    """Guest-physical address behind a kernel virtual address (image window or direct map)."""
    if layout.KERNEL_BASE <= va < layout.KERNEL_BASE + (1 << 39):
        pa = layout.KERNEL_PHYS + (va - layout.KERNEL_BASE)
    elif layout.DIRECT_MAP_BASE <= va < layout.DIRECT_MAP_BASE + mem.size:
        pa = va - layout.DIRECT_MAP_BASE
    else:
        return None
    return pa if pa < mem.size else None


def read_kernel(mem: GuestMemory, layout: BootLayout, va: int, n: int) -> bytes | None:
    pa = kernel_va_to_pa(layout, mem, va)
    if pa is None:
        return None
    try:
        return mem.read(pa, n)
    except GuestFault:
        return None


def trap_frame(mem: GuestMemory, frame_gpa: int) -> dict[str, int] | None:
    try:
        raw = mem.read(frame_gpa, 8 * len(TRAPFRAME_FIELDS))
    except GuestFault:
        return None
    return dict(zip(TRAPFRAME_FIELDS, struct.unpack(f"<{len(TRAPFRAME_FIELDS)}Q", raw)))


TRAP_VECTORS = (3, 4)  # #BP, #OF: traps, the saved rip is after the instruction


def disassemble_around(mem: GuestMemory, layout: BootLayout, syms: KernelSymbols, rip: int,
                       before: int = 6, after: int = 4, trapped: bool = False) -> list[str]:
    """Instructions around rip, decoded from the start of rip's function (exact boundaries).
    trapped: rip is just after the instruction to mark (a trap-class exception)."""
    import capstone
    hit = syms.lookup(rip)
    start = hit[1] if hit and rip - hit[1] < 0x4000 else max(rip - 32, 0)
    code = read_kernel(mem, layout, start, rip - start + 64)
    if code is None:
        return [f"  (code at {rip:#x} is not readable)"]
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    insns = list(md.disasm(code, start))
    idx = next((i for i, x in enumerate(insns)
                if (x.address + x.size if trapped else x.address) == rip), None)
    if idx is None:
        insns = list(md.disasm(code[rip - start:], rip))
        idx = 0
    lines = []
    for i, x in enumerate(insns[max(0, idx - before): idx + after + 1], max(0, idx - before)):
        mark = "=>" if i == idx else "  "
        raw = x.bytes.hex(" ")
        lines.append(f"{mark} {x.address:#018x} <{syms.symbolize(x.address)}>  {raw:<24} "
                     f"{x.mnemonic} {x.op_str}".rstrip())
    return lines


def backtrace(mem: GuestMemory, layout: BootLayout, syms: KernelSymbols, rip: int, rbp: int,
              limit: int = 24) -> list[str]:
    chain, stuck = _walk(mem, layout, rip, rbp, limit)
    frames = [f"  #{n} {a:#018x} {syms.symbolize(a)}" for n, a in enumerate(chain)]
    if stuck is not None:
        frames.append(f"     (frame pointer {stuck:#x} is not readable)")
    return frames


def call_chain(mem: GuestMemory, layout: BootLayout, rip: int, rbp: int, limit: int = 24) -> list[int]:
    """rip and the return addresses found by following the frame pointers from rbp."""
    return _walk(mem, layout, rip, rbp, limit)[0]


def _walk(mem: GuestMemory, layout: BootLayout, rip: int, rbp: int, limit: int) -> tuple[list[int], int | None]:
    """(rip + return addresses, the frame pointer that was not readable or None). No alignment
    is required of rbp: the kernel's syscall-path stack is not 16-byte aligned today."""
    chain, seen = [rip], set()
    while len(chain) < limit and rbp and rbp not in seen:
        seen.add(rbp)
        raw = read_kernel(mem, layout, rbp, 16)
        if raw is None:
            return chain, rbp
        rbp, ret = struct.unpack("<QQ", raw)
        if ret == 0:
            break
        chain.append(ret)
    return chain, None


def log_tail(mem: GuestMemory, layout: BootLayout, syms: KernelSymbols,
             lines: int = LOG_TAIL_LINES) -> list[str]:
    ring_va = syms.by_name.get("qkernel.klog.ring")
    head_va = syms.by_name.get("qkernel.klog.ring_head")
    if ring_va is None or head_va is None:
        return ["  (kernel log not found in kernel.elf)"]
    raw_head = read_kernel(mem, layout, head_va, 8)
    size = 16384
    ring = read_kernel(mem, layout, ring_va, size)
    if raw_head is None or ring is None:
        return ["  (kernel log not readable)"]
    head = struct.unpack("<Q", raw_head)[0]  # bytes ever written; oldest first below
    h = head % size
    data = ring[:head] if head <= size else ring[h:] + ring[:h]
    text = data.decode("utf-8", "replace").splitlines()
    return ["  " + t for t in text[-lines:]] or ["  (empty)"]


def format_report(info: CrashInfo, mem: GuestMemory, layout: BootLayout, syms: KernelSymbols,
                  platform: str) -> str:
    r = info.regs
    out = [f"qvisor: guest kernel crashed on {platform}: {info.cause}"]
    if r:
        out.append("registers:")
        names = [n for n in ("rip rsp rbp rflags rax rbx rcx rdx rsi rdi r8 r9 r10 r11 r12 r13 r14 "
                             "r15 cs ss cr2 cr3 vector error").split() if n in r]
        cells = [f"{n:>6}={r[n]:#018x}" for n in names]
        out += ["  " + "  ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]
    rip = r.get("rip")
    if rip is not None:
        out.append(f"at {syms.symbolize(rip)}:")
        out += disassemble_around(mem, layout, syms, rip, trapped=r.get("vector") in TRAP_VECTORS)
        out.append("backtrace:")
        out += backtrace(mem, layout, syms, rip, r.get("rbp", 0))
    elif info.insn_bytes:
        out.append(f"instruction bytes: {info.insn_bytes.hex(' ')}")
    out.append("kernel log (tail):")
    out += log_tail(mem, layout, syms)
    return "\n".join(out)
