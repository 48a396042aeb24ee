"""kernel.elf's symbol table for crash reports: address -> "name+0xoff" (pyelftools, no LLVM)."""

from __future__ import annotations

import bisect
import io

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection


class KernelSymbols:
    def __init__(self, image: bytes) -> None:
        elf = ELFFile(io.BytesIO(image))
        syms: list[tuple[int, int, str]] = []
        self.by_name: dict[str, int] = {}
        for sec in elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for s in sec.iter_symbols():
                if s.name and s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") \
                        and s["st_shndx"] != "SHN_UNDEF":
                    syms.append((s["st_value"], s["st_size"], s.name))
                    self.by_name.setdefault(s.name, s["st_value"])
        syms.sort()
        self.addrs = [a for a, _, _ in syms]
        self.syms = syms

    def lookup(self, addr: int) -> tuple[str, int, int] | None:
        """(name, start, size) of the symbol containing addr, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        while i >= 0:
            start, size, name = self.syms[i]
            if start <= addr < start + max(size, 1):
                return name, start, size
            if start < addr and size == 0:
                return name, start, size
            if start + size <= addr:
                return None
            i -= 1
        return None

    def symbolize(self, addr: int) -> str:
        hit = self.lookup(addr)
        return f"{hit[0]}+{addr - hit[1]:#x}" if hit else f"{addr:#x}"
