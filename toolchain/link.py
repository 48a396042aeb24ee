"""Static linker: ELF64 x86-64 relocatable objects -> one ET_EXEC image plus a symbol map.

Owns symbol resolution, section layout, relocation and the symbol map; the byte format of
the output lives in `toolchain.elfwrite`.  Inputs are ET_REL objects from llvmlite
(`emit_object`, reloc "pic", small code model) or `gcc -c -fPIC`; there is no dynamic
linking, no PLT and no runtime relocation.  Layout contract: file offset == vaddr - base ==
p_paddr for every byte of the image, so the file mirrors memory and the VMM loads each
PT_LOAD at guest-physical p_paddr and maps it at p_vaddr.  The first page [base, base+0x1000)
holds the ELF and program headers and is not part of any PT_LOAD; after it come three
page-aligned segments, each emitted only if non-empty: text (R+X: executable sections, i.e.
.text*), rodata (R: .rodata*, .data.rel.ro* and the GOT, all fully resolved at link time),
data (R+W: .data*, then SHT_NOBITS sections and COMMON symbols as memsz > filesz).
Input section order and alignment are preserved within a segment.  Dropped: non-SHF_ALLOC
sections (.comment, debug info, .llvm_addrsig, .note.GNU-stack), SHT_NOTE, .eh_frame (no
unwinder in the guest) and SHF_EXCLUDE; TLS and init/fini arrays are rejected.  COMDAT
groups are deduplicated by signature (first wins).  Resolution: one strong definition per
global (two -> LinkError), then COMMON (largest size wins), then weak; an unresolved weak
reference is 0; any other unresolved reference -> LinkError.  GOT-relative relocations get
8-byte absolute GOT slots (one per symbol, in the rodata segment, reserved even when every
use is relaxed); `mov foo@GOTPCREL(%rip), %reg` is relaxed to `lea` when the target is
defined and within +-2 GiB.  Every relocation narrower than 64 bits is overflow
checked, so any page-aligned base works for PC-relative code, while absolute 32-bit forms
(R_X86_64_32/32S from non-PIC or kernel-model code) link only where the value fits.
`LinkedImage.symbols` holds every named global and local function/object (plus the
linker-provided absolute symbols in `_PROVIDED`, used only if no input defines them); a
local whose name is not unique is keyed "object:name".
"""

from __future__ import annotations

import bisect
import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_SH_TYPE_AMD64

from . import elfwrite as W

PAGE = W.PAGE
_MASK64 = (1 << 64) - 1

SHT_SYMTAB, SHT_NOBITS, SHT_NOTE, SHT_RELA, SHT_REL, SHT_GROUP = 2, 8, 7, 4, 9, 17
SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY = 14, 15, 16
SHT_X86_64_UNWIND = 0x70000001
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_TLS = 1, 2, 4, 0x400
SHF_EXCLUDE = 0x80000000
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_TLS = range(7)
STT_GNU_IFUNC = 10
_KIND = {STT_FUNC: "func", STT_OBJECT: "object", STT_COMMON: "object"}

# type -> (name, width in bytes, formula, overflow check: "s" signed, "u" unsigned,
# "b" bitfield (either), None: wraps modulo 2**64).  Formulas use the psABI letters.
_RELOCS: dict[int, tuple[str, int, str, str | None]] = {
    1: ("R_X86_64_64", 8, "S+A", None),
    2: ("R_X86_64_PC32", 4, "S+A-P", "s"),
    3: ("R_X86_64_GOT32", 4, "G+A", "s"),
    4: ("R_X86_64_PLT32", 4, "S+A-P", "s"),
    9: ("R_X86_64_GOTPCREL", 4, "G+GOT+A-P", "s"),
    10: ("R_X86_64_32", 4, "S+A", "u"),
    11: ("R_X86_64_32S", 4, "S+A", "s"),
    12: ("R_X86_64_16", 2, "S+A", "b"),
    13: ("R_X86_64_PC16", 2, "S+A-P", "s"),
    14: ("R_X86_64_8", 1, "S+A", "b"),
    15: ("R_X86_64_PC8", 1, "S+A-P", "s"),
    24: ("R_X86_64_PC64", 8, "S+A-P", None),
    25: ("R_X86_64_GOTOFF64", 8, "S+A-GOT", None),
    26: ("R_X86_64_GOTPC32", 4, "GOT+A-P", "s"),
    27: ("R_X86_64_GOT64", 8, "G+A", None),
    28: ("R_X86_64_GOTPCREL64", 8, "G+GOT+A-P", None),
    29: ("R_X86_64_GOTPC64", 8, "GOT+A-P", None),
    32: ("R_X86_64_SIZE32", 4, "Z+A", "u"),
    33: ("R_X86_64_SIZE64", 8, "Z+A", None),
    41: ("R_X86_64_GOTPCRELX", 4, "G+GOT+A-P", "s"),
    42: ("R_X86_64_REX_GOTPCRELX", 4, "G+GOT+A-P", "s"),
}
_UNSUPPORTED = {
    5: "COPY", 6: "GLOB_DAT", 7: "JUMP_SLOT", 8: "RELATIVE", 16: "DTPMOD64", 17: "DTPOFF64",
    18: "TPOFF64", 19: "TLSGD", 20: "TLSLD", 21: "DTPOFF32", 22: "GOTTPOFF", 23: "TPOFF32",
    30: "GOTPLT64", 31: "PLTOFF64", 34: "GOTPC32_TLSDESC", 35: "TLSDESC_CALL", 36: "TLSDESC",
    37: "IRELATIVE", 38: "RELATIVE64",
}
_GOT_FORMULAS = ("G+A", "G+GOT+A-P")
_RELAXABLE = (41, 42)
_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}

# Linker-provided absolute symbols (bounds are [start, end) of each segment's contents).
_PROVIDED = ("__image_start", "__text_start", "__text_end", "__rodata_start", "__rodata_end",
             "__data_start", "__data_end", "__bss_start", "__bss_end", "__image_end", "_end",
             "_GLOBAL_OFFSET_TABLE_")
_SEGMENTS = (("text", W.PF_R | W.PF_X), ("rodata", W.PF_R), ("data", W.PF_R | W.PF_W))
_OUTSEC = {"text": (".text", W.SHF_ALLOC | W.SHF_EXECINSTR), "rodata": (".rodata", W.SHF_ALLOC),
           "got": (".got", W.SHF_ALLOC), "data": (".data", W.SHF_ALLOC | W.SHF_WRITE),
           "bss": (".bss", W.SHF_ALLOC | W.SHF_WRITE)}


class LinkError(Exception):
    """A link failure; the message is user-facing and names object, section and symbol."""


@dataclass
class Symbol:
    name: str
    addr: int
    size: int
    kind: str  # "func" | "object" | "notype"


@dataclass
class LinkedImage:
    elf: bytes
    entry: int
    base: int
    symbols: dict[str, Symbol]
    _index: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind_rank = {"func": 0, "object": 1, "notype": 2}
        syms = sorted((s for s in self.symbols.values() if s.size > 0),
                      key=lambda s: (s.addr, -s.size, -kind_rank.get(s.kind, 3), s.name))
        maxend, run = [], 0
        for s in syms:
            run = max(run, s.addr + s.size)
            maxend.append(run)
        self._index = ([s.addr for s in syms], maxend, syms)

    def symbolize(self, addr: int) -> str | None:
        """`name+0xoff` for the innermost sized symbol containing addr, else None."""
        starts, maxend, syms = self._index
        i = bisect.bisect_right(starts, addr) - 1
        while i >= 0 and maxend[i] > addr:
            s = syms[i]
            if addr < s.addr + s.size:
                return f"{s.name}+{addr - s.addr:#x}"
            i -= 1
        return None

    def write(self, path: str | os.PathLike) -> None:
        """Write the ELF to `path` and the map ("addr size kind name" lines) to `path`.map."""
        with open(path, "wb") as f:
            f.write(self.elf)
        lines = [f"{s.addr:016x} {s.size:#x} {s.kind} {s.name}\n"
                 for s in sorted(self.symbols.values(), key=lambda s: (s.addr, s.name))]
        with open(os.fspath(path) + ".map", "w") as f:
            f.writelines(lines)


@dataclass
class _Sec:
    obj: int
    index: int
    name: str
    cls: str  # "text" | "rodata" | "data" | "bss"
    size: int
    align: int
    data: bytes
    relocs: list = field(default_factory=list)  # (offset, type, symidx, addend)
    addr: int = 0


@dataclass
class _Obj:
    name: str
    secnames: dict[int, str]
    kept: dict[int, _Sec]
    syms: list  # (name, bind, type, shndx, value, size)


@dataclass
class _Def:
    obj: int  # -1 for linker-provided
    shndx: int
    value: int
    size: int
    type: int
    bind: int
    strength: int  # 3 strong, 2 common, 1 weak, 0 provided
    align: int = 1
    addr: int | None = None


@dataclass(frozen=True)
class _Where:
    obj: str
    sec: str
    off: int

    def __str__(self) -> str:
        return f"{self.obj} ({self.sec}+{self.off:#x})"


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _classify(name: str, sh_type: int, flags: int) -> str | None:
    if not flags & SHF_ALLOC or flags & SHF_EXCLUDE or sh_type == SHT_NOTE:
        return None
    if name == ".eh_frame" or sh_type == SHT_X86_64_UNWIND:
        return None
    if flags & SHF_TLS:
        raise ValueError("thread-local sections are not supported")
    if sh_type in (SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY):
        raise ValueError("constructor/destructor arrays are not supported")
    if flags & SHF_EXECINSTR:
        return "text"
    if sh_type == SHT_NOBITS:
        return "bss"
    if name == ".data.rel.ro" or name.startswith(".data.rel.ro."):
        return "rodata"
    return "data" if flags & SHF_WRITE else "rodata"


def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >> 63 else v


def _cstr(buf: bytes, off: int) -> str:
    return buf[off:buf.index(b"\0", off)].decode("utf-8", "replace")


def _parse(oi: int, name: str, blob: bytes, groups: set[str]) -> _Obj:
    elf = ELFFile(io.BytesIO(blob))
    if elf.elfclass != 64 or not elf.little_endian or elf["e_machine"] != "EM_X86_64":
        raise LinkError(f"{name}: not an ELF64 little-endian x86-64 object")
    if elf["e_type"] != "ET_REL":
        raise LinkError(f"{name}: not a relocatable object (e_type {elf['e_type']})")
    hdrs = [(s.name, s.header) for s in elf.iter_sections()]

    def raw(h) -> bytes:
        return blob[h.sh_offset:h.sh_offset + h.sh_size]

    def sh_type(h) -> int:
        return h.sh_type if isinstance(h.sh_type, int) else _SHT[h.sh_type]

    secnames = {i: n for i, (n, _) in enumerate(hdrs)}
    discarded: set[int] = set()
    syms: list = []
    for i, (sname, h) in enumerate(hdrs):
        t = sh_type(h)
        if t == SHT_SYMTAB:
            strtab = raw(hdrs[h.sh_link][1])
            for st_name, info, _o, shndx, value, size in struct.iter_unpack("<IBBHQQ", raw(h)):
                syms.append((_cstr(strtab, st_name), info >> 4, info & 0xF, shndx, value, size))
    for i, (sname, h) in enumerate(hdrs):
        if sh_type(h) == SHT_GROUP:
            words = [w for (w,) in struct.iter_unpack("<I", raw(h))]
            sig = syms[h.sh_info][0] if h.sh_info < len(syms) else sname
            if words and words[0] & 1:  # GRP_COMDAT
                if sig in groups:
                    discarded.update(words[1:])
                groups.add(sig)
    kept: dict[int, _Sec] = {}
    for i, (sname, h) in enumerate(hdrs):
        if i in discarded:
            continue
        try:
            cls = _classify(sname, sh_type(h), h.sh_flags)
        except ValueError as e:
            raise LinkError(f"{name}: section {sname}: {e}") from None
        if cls is not None:
            data = b"" if cls == "bss" else raw(h)
            if len(data) != (0 if cls == "bss" else h.sh_size):
                raise ValueError(f"section {sname} is truncated")
            kept[i] = _Sec(oi, i, sname, cls, h.sh_size, max(1, h.sh_addralign), data)
    for i, (sname, h) in enumerate(hdrs):
        t = sh_type(h)
        if t not in (SHT_RELA, SHT_REL) or h.sh_info not in kept:
            continue
        target = kept[h.sh_info]
        if t == SHT_REL:
            raise LinkError(f"{name}: section {sname}: SHT_REL relocations are not supported")
        if target.cls == "bss":
            raise LinkError(f"{name}: section {sname}: relocations against NOBITS section")
        target.relocs = [(off, info & 0xFFFFFFFF, info >> 32, add)
                         for off, info, add in struct.iter_unpack("<QQq", raw(h))]
    return _Obj(name, secnames, kept, syms)


# pyelftools decodes known section types to names; map them back (unknown ones stay ints).
_SHT = {k: v for k, v in ENUM_SH_TYPE_AMD64.items() if isinstance(v, int)}


def _resolve_globals(objs: list[_Obj], dropped: dict[str, str]) -> dict[str, _Def]:
    defs: dict[str, _Def] = {}
    for oi, o in enumerate(objs):
        for name, bind, typ, shndx, value, size in o.syms:
            if bind == STB_LOCAL or shndx == SHN_UNDEF or not name:
                continue
            if typ in (STT_TLS, STT_GNU_IFUNC):
                raise LinkError(f"{o.name}: symbol '{name}': TLS/IFUNC symbols are not supported")
            if shndx == SHN_XINDEX:
                raise LinkError(f"{o.name}: symbol '{name}': extended section indices "
                                "are not supported")
            if shndx < SHN_LORESERVE and shndx not in o.kept:
                # A losing COMDAT copy or a dropped section: not a definition.
                dropped.setdefault(name, f"{o.secnames.get(shndx, shndx)} of {o.name}")
                continue
            if shndx == SHN_COMMON:
                new = _Def(oi, shndx, 0, size, STT_OBJECT, bind, 2, align=max(1, value))
            else:
                new = _Def(oi, shndx, value, size, typ, bind, 1 if bind == STB_WEAK else 3)
            old = defs.get(name)
            if old is None or new.strength > old.strength:
                defs[name] = new
            elif new.strength == old.strength == 3:
                raise LinkError(f"duplicate symbol '{name}': defined in both "
                                f"{objs[old.obj].name} and {o.name}")
            elif new.strength == old.strength == 2:
                old.size, old.align = max(old.size, new.size), max(old.align, new.align)
    for name in _PROVIDED:
        defs.setdefault(name, _Def(-1, SHN_ABS, 0, 0, STT_NOTYPE, STB_GLOBAL, 0))
    return defs


class _Linker:
    def __init__(self, objects: Sequence[tuple[str, bytes]], base: int) -> None:
        if base % PAGE or not 0 <= base <= _MASK64:
            raise LinkError(f"base {base:#x} is not a page-aligned 64-bit address")
        self.base = base
        groups: set[str] = set()
        self.objs = []
        for i, (n, b) in enumerate(objects):
            try:
                self.objs.append(_parse(i, n, bytes(b), groups))
            except (ELFError, struct.error, ValueError, IndexError, KeyError) as e:
                raise LinkError(f"{n}: malformed ELF object: {e!r}") from None
        self.dropped: dict[str, str] = {}
        self.defs = _resolve_globals(self.objs, self.dropped)
        self.got: dict[tuple, int] = {}  # symbol key -> slot index
        self._check_references()
        self._layout()

    def _symkey(self, oi: int, si: int) -> tuple:
        name, bind, *_ = self.objs[oi].syms[si]
        return ("g", name) if bind != STB_LOCAL else ("l", oi, si)

    def _symname(self, oi: int, si: int) -> str:
        name, _b, typ, shndx, *_ = self.objs[oi].syms[si]
        if typ == STT_SECTION or not name:
            return self.objs[oi].secnames.get(shndx, f"section#{shndx}")
        return name

    def _check_references(self) -> None:
        undefined: dict[str, list[str]] = {}
        for oi, o in enumerate(self.objs):
            for sec in o.kept.values():
                for off, typ, si, _add in sec.relocs:
                    where = _Where(o.name, sec.name, off)
                    if typ not in _RELOCS:
                        if typ == 0:
                            continue
                        what = (f"unsupported relocation type R_X86_64_{_UNSUPPORTED[typ]}"
                                if typ in _UNSUPPORTED else f"unknown relocation type {typ}")
                        raise LinkError(f"{where}: {what} against '{self._symname(oi, si)}'")
                    if si >= len(o.syms):
                        raise LinkError(f"{where}: relocation symbol index {si} out of range")
                    name, bind, _t, shndx, *_ = o.syms[si]
                    if bind != STB_LOCAL:
                        if name not in self.defs and bind != STB_WEAK:
                            undefined.setdefault(name, []).append(where)
                    elif shndx < SHN_LORESERVE and shndx not in o.kept and si != 0:
                        raise LinkError(f"{where}: relocation against '{self._symname(oi, si)}' "
                                        f"in discarded section "
                                        f"{o.secnames.get(shndx, shndx)}")
                    if _RELOCS[typ][2] in _GOT_FORMULAS:
                        self.got.setdefault(self._symkey(oi, si), len(self.got))
        if undefined:
            lines = [f"  '{n}' referenced from " + ", ".join(map(str, w[:5]))
                     + (" ..." if len(w) > 5 else "")
                     + (f" (defined only in discarded section {self.dropped[n]})"
                        if n in self.dropped else "")
                     for n, w in sorted(undefined.items())]
            raise LinkError("undefined symbol(s):\n" + "\n".join(lines))

    def _layout(self) -> None:
        by_cls: dict[str, list[_Sec]] = {"text": [], "rodata": [], "data": [], "bss": []}
        for o in self.objs:
            for sec in o.kept.values():
                by_cls[sec.cls].append(sec)
        commons = [d for d in self.defs.values() if d.strength == 2]
        cur = self.base + PAGE
        self.bounds: dict[str, tuple[int, int]] = {}  # output section -> [start, end)
        self.segments: list[tuple[str, int, int, int]] = []  # (cls, start, file_end, mem_end)

        def place(secs: list[_Sec], start: int) -> int:
            for s in secs:
                start = _align(start, s.align)
                s.addr = start
                start += s.size
            return start

        self.aligns = {k: max([s.align for s in by_cls.get(k, ())] or [1])
                       for k in ("text", "rodata", "data", "bss")}
        self.aligns["got"] = 8
        self.aligns["bss"] = max([self.aligns["bss"]] + [d.align for d in commons])
        for cls, _flags in _SEGMENTS:
            seg_start = cur
            cur = place(by_cls[cls], cur)
            self.bounds[cls] = (seg_start, cur)
            if cls == "rodata":
                got = _align(cur, 8)
                cur = got + 8 * len(self.got)
                self.bounds["got"] = (got, cur)
            file_end = cur
            if cls == "data":
                cur = place(by_cls["bss"], cur)
                for d in commons:
                    cur = _align(cur, d.align)
                    d.addr = cur
                    cur += d.size
                self.bounds["bss"] = (file_end, cur)
            if cur > _MASK64:
                raise LinkError(f"image does not fit below 2**64 at base {self.base:#x}")
            if cur > seg_start:
                self.segments.append((cls, seg_start, file_end, cur))
            cur = _align(cur, PAGE)
        self.end = self.bounds["bss"][1]
        self.sec_addr = {(s.obj, s.index): s.addr for ss in by_cls.values() for s in ss}

        b = self.bounds
        provided = {"__image_start": self.base, "__text_start": b["text"][0],
                    "__text_end": b["text"][1], "__rodata_start": b["rodata"][0],
                    "__rodata_end": b["got"][1], "__data_start": b["data"][0],
                    "__data_end": b["data"][1], "__bss_start": b["bss"][0],
                    "__bss_end": b["bss"][1], "__image_end": self.end, "_end": self.end,
                    "_GLOBAL_OFFSET_TABLE_": b["got"][0]}
        for name, d in self.defs.items():
            if d.strength == 0:
                d.addr = provided[name]
            elif d.strength == 3 or d.strength == 1:
                d.addr = self._addr_in(d.obj, d.shndx, d.value)

    def _addr_in(self, oi: int, shndx: int, value: int) -> int | None:
        if shndx == SHN_ABS:
            return value
        a = self.sec_addr.get((oi, shndx))
        return None if a is None else a + value

    def sym_value(self, oi: int, si: int) -> tuple[int, int, bool]:
        """(S, Z, defined) for symbol si of object oi; an unresolved weak reference is 0."""
        name, bind, _typ, shndx, value, size = self.objs[oi].syms[si]
        if bind != STB_LOCAL:
            d = self.defs.get(name)
            return (0, 0, False) if d is None else (d.addr, d.size, True)
        if si == 0:
            return 0, 0, True
        return self._addr_in(oi, shndx, value), size, True

    def apply(self, image: bytearray) -> None:
        got_addr = self.bounds["got"][0]
        slots: dict[int, int] = {}
        for oi, o in enumerate(self.objs):
            for sec in o.kept.values():
                if sec.cls != "bss":
                    image[sec.addr - self.base:sec.addr - self.base + sec.size] = sec.data
        for oi, o in enumerate(self.objs):
            for sec in o.kept.values():
                for off, typ, si, add in sec.relocs:
                    if typ != 0:
                        self._apply_one(image, o, sec, off, typ, si, add, got_addr, slots)
        for key, idx in self.got.items():
            struct.pack_into("<Q", image, got_addr - self.base + 8 * idx, slots.get(idx, 0))

    def _apply_one(self, image, o, sec, off, typ, si, add, got_addr, slots) -> None:
        rname, width, formula, check = _RELOCS[typ]
        S, Z, defined = self.sym_value(sec.obj, si)
        P = sec.addr + off
        pos = P - self.base
        if off + width > sec.size:
            raise LinkError(f"{o.name}: {rname} at {sec.name}+{off:#x} lies outside the section")
        if formula in _GOT_FORMULAS:
            slot = self.got[self._symkey(sec.obj, si)]
            slots[slot] = S
            G = 8 * slot
            if typ in _RELAXABLE and defined and off >= 2 and image[pos - 2] == 0x8B and (
                    typ == 41 or (off >= 3 and 0x48 <= image[pos - 3] <= 0x4F)):
                v = _signed64(S + add - P)
                if -(1 << 31) <= v < (1 << 31):  # mov GOT(%rip) -> lea sym(%rip)
                    image[pos - 2] = 0x8D
                    struct.pack_into("<i", image, pos, v)
                    return
            v = G + add if formula == "G+A" else G + got_addr + add - P
        elif formula == "S+A":
            v = S + add
        elif formula == "S+A-P":
            v = S + add - P
        elif formula == "S+A-GOT":
            v = S + add - got_addr
        elif formula == "GOT+A-P":
            v = got_addr + add - P
        else:  # "Z+A"
            v = Z + add
        # Addresses live modulo 2**64: check the wrapped value, read signed or unsigned.
        bits = 8 * width
        v = _signed64(v) if check in ("s", "b") else v & _MASK64
        if check == "s":
            ok = -(1 << (bits - 1)) <= v < (1 << (bits - 1))
        elif check == "u":
            ok = v < (1 << bits)
        elif check == "b":
            ok = -(1 << (bits - 1)) <= v < (1 << bits)
        else:
            ok = True
        if not ok:
            kind = {"s": "signed", "u": "unsigned", "b": "a"}[check]
            raise LinkError(
                f"{o.name}: relocation {rname} at {sec.name}+{off:#x} against "
                f"'{self._symname(sec.obj, si)}' overflows: value {v:#x} does not fit in "
                f"{kind} {bits} bits (symbol at {S:#x}, place {P:#x})")
        struct.pack_into(_FMT[width], image, pos, v & ((1 << bits) - 1))


def link(objects: Sequence[tuple[str, bytes]], *, base: int,
         entry: str | None = None) -> LinkedImage:
    """Link `objects` ((name for messages, ET_REL bytes)) into an image at `base`."""
    lk = _Linker(objects, base)
    file_end = max((seg[2] for seg in lk.segments), default=base + PAGE)
    image = bytearray(max(PAGE, file_end - base))
    lk.apply(image)

    symbols, local_syms, global_syms = _symbols(lk)
    if entry is None:
        entry_addr = lk.bounds["text"][0]
    elif entry in lk.defs and lk.defs[entry].addr is not None:
        entry_addr = lk.defs[entry].addr
    elif entry in symbols:
        entry_addr = symbols[entry].addr
    else:
        raise LinkError(f"entry symbol '{entry}' is not defined")

    seg_flags = dict(_SEGMENTS)
    segments = [W.Segment(start, start - base, start - base, fend - start, mend - start,
                          seg_flags[cls]) for cls, start, fend, mend in lk.segments]
    sections = []
    for key in ("text", "rodata", "got", "data", "bss"):
        lo, hi = lk.bounds[key]
        if hi > lo:
            name, flags = _OUTSEC[key]
            typ = W.SHT_NOBITS if key == "bss" else W.SHT_PROGBITS
            sections.append(W.Section(name, typ, flags, lo, lo - base, hi - lo,
                                      lk.aligns[key]))
    elf = W.write_exec(image, entry=entry_addr, segments=segments, sections=sections,
                       local_syms=local_syms, global_syms=global_syms)
    return LinkedImage(elf=elf, entry=entry_addr, base=base, symbols=symbols)


def _symbols(lk: _Linker) -> tuple[dict[str, Symbol], list[W.Sym], list[W.Sym]]:
    """Public symbol dict plus output .symtab contents (locals per object after an STT_FILE)."""
    ranges = [(lo, hi, _OUTSEC[k][0]) for k, (lo, hi) in lk.bounds.items() if hi > lo]

    def outsec(addr: int, d_abs: bool) -> str | None:
        if d_abs:
            return None
        for lo, hi, name in ranges:
            if lo <= addr < hi:
                return name
        return None

    symbols: dict[str, Symbol] = {}
    global_syms: list[W.Sym] = []
    for name, d in sorted(lk.defs.items(), key=lambda kv: (kv[1].addr or 0, kv[0])):
        if d.addr is None:
            continue
        kind = _KIND.get(d.type, "notype")
        symbols[name] = Symbol(name, d.addr, d.size, kind)
        bind = W.STB_WEAK if d.bind == STB_WEAK and d.strength == 1 else W.STB_GLOBAL
        typ = {"func": W.STT_FUNC, "object": W.STT_OBJECT}.get(kind, W.STT_NOTYPE)
        global_syms.append(W.Sym(name, d.addr, d.size, bind, typ,
                                 outsec(d.addr, d.shndx == SHN_ABS)))

    locs: list[tuple[int, str, int, int, int, bool]] = []
    for oi, o in enumerate(lk.objs):
        for name, bind, typ, shndx, value, size in o.syms:
            if bind != STB_LOCAL or not name or typ in (STT_SECTION, STT_FILE):
                continue
            if typ == STT_NOTYPE and name.startswith(".L"):
                continue
            addr = lk._addr_in(oi, shndx, value)
            if addr is not None:
                locs.append((oi, name, addr, size, typ, shndx == SHN_ABS))
    counts: dict[str, int] = {}
    for _oi, name, *_ in locs:
        counts[name] = counts.get(name, 0) + 1
    local_syms: list[W.Sym] = []
    last_obj = -1
    for oi, name, addr, size, typ, is_abs in locs:
        key = name
        if counts[name] > 1 or name in symbols:
            key = f"{lk.objs[oi].name}:{name}"
            n = 1
            while key in symbols:
                n += 1
                key = f"{lk.objs[oi].name}:{name}#{n}"
        kind = _KIND.get(typ, "notype")
        symbols[key] = Symbol(key, addr, size, kind)
        if oi != last_obj:
            local_syms.append(W.Sym(lk.objs[oi].name, 0, 0, W.STB_LOCAL, W.STT_FILE, None))
            last_obj = oi
        otyp = {"func": W.STT_FUNC, "object": W.STT_OBJECT}.get(kind, W.STT_NOTYPE)
        local_syms.append(W.Sym(name, addr, size, W.STB_LOCAL, otyp, outsec(addr, is_abs)))
    return symbols, local_syms, global_syms
