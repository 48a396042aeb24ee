"""A minimal ELF64 reader for the run path: header and program headers via struct.

pyelftools costs ~30 ms to import; booting needs only PT_LOAD segments and the entry point.
Every offset and size is bounds-checked against the file (ElfError, never an IndexError).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PT_LOAD = 1
ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62


class ElfError(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


@dataclass(frozen=True)
class Elf64:
    type: int
    machine: int
    entry: int
    segments: tuple[Segment, ...]

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == PT_LOAD]


def parse(data: bytes) -> Elf64:
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    if data[4] != 2 or data[5] != 1:
        raise ElfError("not a little-endian ELF64 file")
    (e_type, e_machine, _ver, e_entry, e_phoff, _shoff, _flags, _ehsize, e_phentsize, e_phnum,
     ) = struct.unpack_from("<HHIQQQIHHH", data, 16)
    if e_phnum and e_phentsize < 56:
        raise ElfError(f"program header entries are {e_phentsize} bytes, expected 56")
    if e_phoff + e_phnum * e_phentsize > len(data):
        raise ElfError("program headers extend past the end of the file")
    segs = []
    for i in range(e_phnum):
        t, fl, off, va, pa, fsz, msz, al = struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if t == PT_LOAD and (fsz > msz or off + fsz > len(data)):
            raise ElfError(f"PT_LOAD {i}: file size {fsz:#x} at offset {off:#x} does not fit "
                           f"(memsz {msz:#x}, file {len(data):#x} bytes)")
        segs.append(Segment(t, fl, off, va, pa, fsz, msz, al))
    return Elf64(e_type, e_machine, e_entry, tuple(segs))
