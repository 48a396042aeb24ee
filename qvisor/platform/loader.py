"""Place the kernel image in guest memory (platform-neutral; pvm and emu both use it).

Owns: the mapping from an image's addresses to guest-physical ones. Contract (the boot ABI):
a kernel ELF's PT_LOAD p_paddr is relative to the image base, its p_vaddr is
KERNEL_BASE + p_paddr, and it is loaded at guest-physical KERNEL_PHYS + p_paddr. Returns
(entry virtual address, image span in bytes from KERNEL_PHYS, bss included). A malformed
image raises ValueError (it is the host's own file, not guest input).
"""

from __future__ import annotations

import os

from ..memory import GuestFault, GuestMemory
from ..pagetables import BootLayout


def load_flat(mem: GuestMemory, layout: BootLayout, blob: bytes, vaddr: int) -> int:
    """Copy blob to the kernel-window address vaddr; return the span it reaches."""
    off = vaddr - layout.KERNEL_BASE
    if off < 0:
        raise ValueError(f"{vaddr:#x} is below KERNEL_BASE {layout.KERNEL_BASE:#x}")
    try:
        mem.write(layout.KERNEL_PHYS + off, blob)
    except GuestFault as e:
        raise ValueError(f"image at {vaddr:#x} (+{len(blob):#x}) does not fit: {e}") from None
    return off + len(blob)


def load_elf(mem: GuestMemory, layout: BootLayout,
             image: str | bytes | os.PathLike) -> tuple[int, int]:
    """Load PT_LOAD segments; return (entry, span)."""
    from ..elf64 import ElfError, parse

    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        with open(image, "rb") as f:
            data = f.read()
    try:
        elf = parse(data)
    except ElfError as e:
        raise ValueError(f"not a loadable kernel: {e}") from None
    if elf.machine != 62:
        raise ValueError(f"kernel must be ELF64 x86-64, got machine {elf.machine}")
    span = 0
    loads = elf.loads
    if not loads:
        raise ValueError("kernel ELF has no PT_LOAD segment")
    for seg in loads:
        pa, va = seg.paddr, seg.vaddr
        filesz, memsz, off = seg.filesz, seg.memsz, seg.offset
        if va != layout.KERNEL_BASE + pa:
            raise ValueError(f"PT_LOAD p_vaddr {va:#x} != KERNEL_BASE + p_paddr {pa:#x}")
        if filesz > memsz or off + filesz > len(data):
            raise ValueError(f"PT_LOAD at {va:#x}: bad sizes (filesz {filesz:#x}, memsz "
                             f"{memsz:#x}, offset {off:#x})")
        phys = layout.KERNEL_PHYS + pa
        try:
            mem.write(phys, data[off: off + filesz])
            mem.fill(phys + filesz, memsz - filesz, 0)
        except GuestFault as e:
            raise ValueError(f"PT_LOAD at {va:#x} (+{memsz:#x}) does not fit in guest memory: "
                             f"{e}") from None
        span = max(span, pa + memsz)
    entry = elf.entry
    if not any(s.vaddr <= entry < s.vaddr + s.memsz for s in loads):
        raise ValueError(f"entry {entry:#x} is outside every PT_LOAD segment")
    return entry, span
