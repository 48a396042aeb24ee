"""The vDSO: vdso/vdso.S assembled by LLVM and laid out as the ELF shared object the kernel maps
into every process (AT_SYSINFO_EHDR), embedded in kernel.elf as `qk_vdso_image`.

The image is what glibc's setup_vdso/dl_vdso_vsym and musl's __vdsosym read: an ET_DYN linked
at 0 with one PT_LOAD (R+X, the whole image) and PT_DYNAMIC; DT_HASH (SysV: musl has no
DT_GNU_HASH reader for the vDSO), DT_SYMTAB, DT_STRTAB, DT_SONAME "linux-vdso.so.1", DT_VERSYM
and DT_VERDEF with the version LINUX_2.6 (index 2) on every exported symbol; each __vdso_NAME
also as a weak NAME, as Linux's. Section headers are there for readelf and debuggers.

Layout: headers and tables in the first page, the code at VDSO_TEXT; the kernel puts its time
page one page below the image (vdso.S reads it PC-relative). The code must need no relocation.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

PAGE = 0x1000
VDSO_TEXT = 0x1000              # the code's offset in the image (vdso.S: vdso_text - 0x2000)
SONAME = "linux-vdso.so.1"
VERSION = "LINUX_2.6"
EXPORTS = ("clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu")

SHT_PROGBITS, SHT_STRTAB, SHT_HASH, SHT_DYNAMIC, SHT_DYNSYM = 1, 3, 5, 6, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
SHF_ALLOC, SHF_EXECINSTR = 2, 4
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME = 0, 4, 5, 6, 10, 11, 14
DT_VERSYM, DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFD
STB_GLOBAL, STB_WEAK, STT_FUNC = 1, 2, 2
VER_FLG_BASE = 1


class VdsoError(Exception):
    """The vDSO source does not assemble into a relocation-free image that fits the layout."""


def elf_hash(name: str) -> int:
    """The SysV ELF hash (DT_HASH buckets, vd_hash)."""
    h = 0
    for c in name.encode():
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def assemble(source: Path) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """vdso.S -> (its .text bytes, {global function: (offset, size)})."""
    from elftools.elf.elffile import ELFFile

    from .driver import compile_ir
    from .target import TRIPLE, datalayout, init_llvm
    init_llvm()
    lines = [f'target triple = "{TRIPLE}"', f'target datalayout = "{datalayout()}"']
    for line in source.read_text().splitlines():
        lines.append('module asm "' + line.replace("\\", "\\5C").replace('"', "\\22") + '"')
    obj = compile_ir("vdso", "\n".join(lines) + "\n", None).obj
    elf = ELFFile(io.BytesIO(obj))
    text = elf.get_section_by_name(".text")
    if text is None:
        raise VdsoError(f"{source}: no .text")
    for sec in elf.iter_sections():
        if sec.header["sh_type"] in ("SHT_RELA", "SHT_REL") and sec.name.endswith(".text"):
            if sec.num_relocations():
                raise VdsoError(f"{source}: the code needs {sec.num_relocations()} relocation(s); "
                                "the vDSO is position-independent without any")
        if sec.header["sh_flags"] & SHF_ALLOC and sec.name not in (".text", ".note.GNU-stack") \
                and sec.header["sh_size"]:
            raise VdsoError(f"{source}: section {sec.name} (only .text is laid out)")
    funcs: dict[str, tuple[int, int]] = {}
    for sym in elf.get_section_by_name(".symtab").iter_symbols():
        if sym["st_info"]["bind"] == "STB_GLOBAL" and sym["st_info"]["type"] == "STT_FUNC":
            funcs[sym.name] = (sym["st_value"], sym["st_size"])
    missing = [n for n in EXPORTS if f"__vdso_{n}" not in funcs]
    if missing:
        raise VdsoError(f"{source}: no function __vdso_{missing[0]}")
    return text.data(), funcs


class _Str:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.at: dict[str, int] = {}

    def add(self, s: str) -> int:
        if s not in self.at:
            self.at[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.at[s]


def _put(img: bytearray, off: int, blob: bytes) -> None:
    img[off:off + len(blob)] = blob


def build_image(source: Path) -> bytes:
    """The vDSO image (a whole number of pages)."""
    code, funcs = assemble(source)
    if len(code) > 16 * PAGE:
        raise VdsoError(f"{source}: {len(code)} bytes of code")
    size = VDSO_TEXT + (len(code) + PAGE - 1) // PAGE * PAGE
    dynstr = _Str()
    soname = dynstr.add(SONAME)
    vername = dynstr.add(VERSION)
    # dynsym: the null symbol, then __vdso_NAME (global) and NAME (weak) for each export
    syms: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)]       # name, info, value, size
    for n in EXPORTS:
        off, sz = funcs[f"__vdso_{n}"]
        syms.append((dynstr.add(f"__vdso_{n}"), (STB_GLOBAL << 4) | STT_FUNC, VDSO_TEXT + off, sz))
        syms.append((dynstr.add(n), (STB_WEAK << 4) | STT_FUNC, VDSO_TEXT + off, sz))
    names = [""] + [s for n in EXPORTS for s in (f"__vdso_{n}", n)]
    shstr = _Str()
    TEXT_SHNDX = 7                           # null, the six tables (below), .text
    dynsym = b"".join(struct.pack("<IBBHQQ", nm, info, 0, TEXT_SHNDX if i else 0, val, sz)
                      for i, (nm, info, val, sz) in enumerate(syms))
    nbucket = 5
    buckets = [0] * nbucket
    chains = [0] * len(syms)
    for i in range(1, len(syms)):
        b = elf_hash(names[i]) % nbucket
        chains[i] = buckets[b]
        buckets[b] = i
    hashtab = struct.pack(f"<II{nbucket}I{len(syms)}I", nbucket, len(syms), *buckets, *chains)
    versym = struct.pack(f"<{len(syms)}H", 0, *([2] * (len(syms) - 1)))
    verdef = (struct.pack("<HHHHIII", 1, VER_FLG_BASE, 1, 1, elf_hash(SONAME), 20, 28)
              + struct.pack("<II", soname, 0)
              + struct.pack("<HHHHIII", 1, 0, 2, 1, elf_hash(VERSION), 20, 0)
              + struct.pack("<II", vername, 0))
    # tables after the headers (64 + 2 program headers), 8-aligned
    layout: list[tuple[str, int, bytes]] = []
    off = 64 + 2 * 56
    for name, blob in ((".hash", hashtab), (".dynsym", dynsym), (".dynstr", bytes(dynstr.data)),
                       (".gnu.version", versym), (".gnu.version_d", verdef)):
        off = (off + 7) & ~7
        layout.append((name, off, blob))
        off += len(blob)
    at = {name: o for name, o, _ in layout}
    dyn_entries = [(DT_HASH, at[".hash"]), (DT_STRTAB, at[".dynstr"]), (DT_SYMTAB, at[".dynsym"]),
                   (DT_STRSZ, len(dynstr.data)), (DT_SYMENT, 24), (DT_SONAME, soname),
                   (DT_VERSYM, at[".gnu.version"]), (DT_VERDEF, at[".gnu.version_d"]),
                   (DT_VERDEFNUM, 2), (DT_NULL, 0)]
    dynamic = b"".join(struct.pack("<qQ", t, v) for t, v in dyn_entries)
    off = (off + 7) & ~7
    layout.append((".dynamic", off, dynamic))
    off += len(dynamic)
    for n in (".hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".text",
              ".shstrtab"):
        shstr.add(n)
    off = (off + 7) & ~7
    shstr_off = off
    off += len(shstr.data)
    off = (off + 7) & ~7
    shoff = off
    nsec = 1 + len(layout) + 2               # null, the tables, .text, .shstrtab
    if shoff + nsec * 64 > VDSO_TEXT:
        raise VdsoError(f"the vDSO's tables ({shoff + nsec * 64} bytes) overflow the first page")
    img = bytearray(size)
    for _, o, blob in layout:
        _put(img, o, blob)
    _put(img, shstr_off, bytes(shstr.data))
    _put(img, VDSO_TEXT, code)
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    _put(img, 0, struct.pack("<16sHHIQQQIHHHHHH", ident, 3, 62, 1, 0, 64, shoff, 0, 64, 56, 2, 64,
                             nsec, nsec - 1))
    _put(img, 64, struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, PAGE))                 # PT_LOAD R+X
    dyn_off = layout[-1][1]
    _put(img, 120, struct.pack("<IIQQQQQQ", 2, 4, dyn_off, dyn_off, dyn_off, len(dynamic), len(dynamic), 8))
    kinds = {".hash": (SHT_HASH, 2, 0, 4), ".dynsym": (SHT_DYNSYM, 3, 1, 24), ".dynstr": (SHT_STRTAB, 0, 0, 0),
             ".gnu.version": (SHT_GNU_VERSYM, 2, 0, 2), ".gnu.version_d": (SHT_GNU_VERDEF, 3, 2, 0),
             ".dynamic": (SHT_DYNAMIC, 3, 0, 16)}
    shdrs = [bytes(64)]
    for name, o, blob in layout:
        typ, link, info, ent = kinds[name]
        shdrs.append(struct.pack("<IIQQQQIIQQ", shstr.at[name], typ, SHF_ALLOC, o, o, len(blob), link, info,
                                 8, ent))
    shdrs.append(struct.pack("<IIQQQQIIQQ", shstr.at[".text"], SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR,
                             VDSO_TEXT, VDSO_TEXT, len(code), 0, 0, 16, 0))
    shdrs.append(struct.pack("<IIQQQQIIQQ", shstr.at[".shstrtab"], SHT_STRTAB, 0, 0, shstr_off,
                             len(shstr.data), 0, 0, 1, 0))
    assert len(shdrs) == nsec and len(layout) + 1 == TEXT_SHNDX
    _put(img, shoff, b"".join(shdrs))
    return bytes(img)


def module_ir(image: bytes) -> str:
    """LLVM module asm that puts the image, page-aligned, in the kernel's rodata as
    qk_vdso_image .. qk_vdso_image_end."""
    from .target import TRIPLE, datalayout
    asm = ['.section .rodata.vdso,"a",@progbits', ".balign 4096", ".globl qk_vdso_image",
           "qk_vdso_image:"]
    for i in range(0, len(image), 32):
        asm.append(".byte " + ",".join(str(b) for b in image[i:i + 32]))
    asm += [".globl qk_vdso_image_end", "qk_vdso_image_end:"]
    lines = [f'target triple = "{TRIPLE}"', f'target datalayout = "{datalayout()}"']
    lines += ['module asm "' + a.replace("\\", "\\5C").replace('"', "\\22") + '"' for a in asm]
    return "\n".join(lines) + "\n"
