"""qkernel.loader.elf, compiled by qkc and run under unicorn: real static binaries against
pyelftools' view, hand-built hostile headers against the exact reason codes, and random header
corruption against a Python reference of the same rules (never a fault, only defined errors)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkernel.dialect import layout
from qkernel.loader import elf as E

MOD = "qkernel.loader.elf"
MASK64 = (1 << 64) - 1
PAGE = 4096
R, W, X = E.PF_R, E.PF_W, E.PF_X
ERR_NAMES = {getattr(E, n): n for n in dir(E) if n.startswith("ELF_ERR_") and n != "ELF_ERR_MAX"}
LI, SEG, PH = layout(E.LoadInfo), layout(E.Segment), layout(E.Elf64Phdr)
MF = layout(E.MemFile)

PROG_C = r"""
#include <stdio.h>
__thread int tls_var = 42;
__thread char tls_bss[64];
int main(int argc, char **argv) {
    tls_bss[0] = (char)argc;
    printf("%d %s %d\n", argc, argv[0], tls_var + tls_bss[0]);
    return 0;
}
"""

# The musl-gcc wrapper's specs ignore -static-pie (the result would be a dynamic PIE asking for
# /lib/ld-musl-x86_64.so.1): link rcrt1.o and the static-PIE options by hand.
_MUSL_LIB = "/usr/lib/x86_64-linux-musl"
MUSL_STATIC_PIE = ["-fPIE", "-nostartfiles", f"{_MUSL_LIB}/rcrt1.o", f"{_MUSL_LIB}/crti.o",
                   "-Wl,-static,-pie,--no-dynamic-linker,-z,text", f"{_MUSL_LIB}/crtn.o"]


def s64(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


# ---- the kernel side ---------------------------------------------------------------------------

class Parser:
    """Calls elf.parse on bytes held in the machine's memory through elf.mem_read."""

    def __init__(self, m):
        self.m = m
        self.cap = 0
        self.buf = 0
        self.memfile = m.alloc(MF.size)
        self.info = m.alloc(LI.size)
        self.reader = m.symbol(f"{MOD}.mem_read")

    def load(self, data: bytes) -> None:
        if len(data) > self.cap:
            self.cap = max(len(data), 1 << 20)
            self.buf = self.m.alloc(self.cap)
        self.m.write(self.buf, data)

    def parse(self, data: bytes | None, file_size: int | None = None, *, avail: int | None = None,
              chunk: int = 0, err_off: int = 0, err: int = 0) -> tuple[int, dict]:
        """data=None reuses what load() wrote last (avail bytes of it)."""
        if data is not None:
            self.load(data)
            avail = len(data) if avail is None else avail
        size = avail if file_size is None else file_size
        for name, v in (("data", self.buf), ("size", avail), ("chunk", chunk), ("err_off", err_off),
                        ("err", err)):
            off, n, _ = MF.fields[name]
            self.m.write(self.memfile + off, (v & MASK64).to_bytes(n, "little"))
        rc = s64(self.m.call(f"{MOD}.parse", self.info, self.reader, self.memfile, size))
        return rc, decode_info(self.m.read(self.info, LI.size))


def field(raw: bytes, lay, name: str, base: int = 0) -> int:
    off, n, _ = lay.fields[name]
    return int.from_bytes(raw[base + off:base + off + n], "little")


def decode_info(raw: bytes) -> dict:
    d = {n: field(raw, LI, n) for n in LI.fields if n not in ("phdrs", "loads")}
    for n in ("has_tls", "has_gnu_stack", "exec_stack", "has_interp", "has_dynamic"):
        d[n] &= 1
    d["io_error"] = s64(d["io_error"])
    d["error_name"] = ERR_NAMES.get(d["error"], "ELF_OK" if d["error"] == 0 else d["error"])
    lo = LI.fields["loads"][0]
    d["loads"] = [{n: field(raw, SEG, n, lo + i * SEG.size) for n in SEG.fields}
                  for i in range(min(d["nloads"], E.MAX_LOADS))]
    po = LI.fields["phdrs"][0]
    d["phdrs_raw"] = raw[po:po + min(d["nphdrs"], E.PHDRS_KEPT) * PH.size]
    return d


@pytest.fixture(scope="module")
def parser(kernel_cache):
    from toolchain.driver import build_modules
    from toolchain.emucall import Machine
    return Parser(Machine(build_modules([MOD], kernel_cache).elf, heap_size=48 << 20))


# ---- hand-built ELF files ----------------------------------------------------------------------

def phdr(t: int, flags: int = R, offset: int = 0, vaddr: int = 0, filesz: int = 0, memsz: int | None = None,
         align: int = PAGE) -> bytes:
    memsz = filesz if memsz is None else memsz
    return struct.pack("<IIQQQQQQ", t, flags, offset & MASK64, vaddr & MASK64, vaddr & MASK64,
                       filesz & MASK64, memsz & MASK64, align & MASK64)


def base_phdrs() -> list[bytes]:
    return [
        phdr(E.PT_LOAD, R, 0, 0x40_0000, 0x1000),
        phdr(E.PT_LOAD, R | X, 0x1000, 0x40_1000, 0x100),
        phdr(E.PT_LOAD, R | W, 0x2000, 0x40_3000, 0x10, 0x2000),
        phdr(E.PT_TLS, R, 0x2000, 0x40_3000, 0x8, 0x18, align=8),
        phdr(E.PT_GNU_STACK, R | W, align=16),
    ]


def make_elf(phdrs: list[bytes] | None = None, *, e_type: int = E.ET_EXEC, entry: int = 0x40_1010,
             phoff: int = 64, machine: int = E.EM_X86_64, phentsize: int = 56, phnum: int | None = None,
             ident: bytes = b"\x7fELF\x02\x01\x01", version: int = 1, size: int = 0x3000) -> bytes:
    phdrs = base_phdrs() if phdrs is None else phdrs
    table = b"".join(phdrs)
    ehdr = ident.ljust(16, b"\0") + struct.pack(
        "<HHIQQQIHHHHHH", e_type, machine, version, entry & MASK64, phoff & MASK64, 0, 0, 64, phentsize,
        len(phdrs) if phnum is None else phnum, 64, 0, 0)
    data = bytearray(max(size, 64))
    data[:64] = ehdr
    if phoff + len(table) <= len(data):
        data[phoff:phoff + len(table)] = table
    return bytes(data[:size])


# ---- a Python reference of the rules (the module docstring's contract) --------------------------

def ref_parse(data: bytes) -> dict:
    """(error, bad_index) and, on success, what LoadInfo must say; the file is all of `data`."""
    size = len(data)

    def err(code: int, index: int = 0) -> dict:
        return {"error": code, "bad_index": index}

    def in_file(off: int, n: int) -> bool:
        return n <= size and off <= size - n

    if size < 64:
        return err(E.ELF_ERR_MAGIC if size >= 4 and data[:4] != b"\x7fELF" else E.ELF_ERR_TRUNCATED)
    if data[:4] != b"\x7fELF":
        return err(E.ELF_ERR_MAGIC)
    (e_type, machine, version, entry, phoff, _shoff, _fl, _ehsize, phentsize, phnum, *_rest) = \
        struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
    if data[4] != 2:
        return err(E.ELF_ERR_CLASS)
    if data[5] != 1:
        return err(E.ELF_ERR_DATA)
    if data[6] != 1 or version != 1:
        return err(E.ELF_ERR_VERSION)
    if machine != E.EM_X86_64:
        return err(E.ELF_ERR_MACHINE)
    if e_type not in (E.ET_EXEC, E.ET_DYN):
        return err(E.ELF_ERR_TYPE)
    if phentsize != 56:
        return err(E.ELF_ERR_PHENTSIZE)
    if phnum == 0 or phnum > E.PHNUM_MAX:
        return err(E.ELF_ERR_PHNUM)
    table = phnum * 56
    if not in_file(phoff, table):
        return err(E.ELF_ERR_PHDR_RANGE)
    loads: list[dict] = []
    pt_phdr = tls = stack = interp = None
    dynamic = False
    max_align = PAGE
    for i in range(phnum):
        t, fl, off, va, _pa, fs, ms, al = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
        if t == E.PT_LOAD:
            if not in_file(off, fs):
                return err(E.ELF_ERR_SEG_FILE, i)
            if fs > ms:
                return err(E.ELF_ERR_SEG_MEMSZ, i)
            if va % PAGE != off % PAGE:
                return err(E.ELF_ERR_SEG_ALIGN, i)
            if ms > E.USER_TOP or va > E.USER_TOP - ms:
                return err(E.ELF_ERR_SEG_ADDR, i)
            if ms == 0:
                continue
            if loads and va < loads[-1]["vaddr"] + loads[-1]["memsz"]:
                return err(E.ELF_ERR_SEG_ORDER, i)
            if len(loads) == E.MAX_LOADS:
                return err(E.ELF_ERR_TOO_MANY_LOADS, i)
            loads.append(dict(vaddr=va, memsz=ms, filesz=fs, offset=off, align=al, flags=fl, index=i))
            if al and al & (al - 1) == 0 and max_align < al <= E.MAX_BIAS_ALIGN:
                max_align = al
        elif t == E.PT_PHDR:
            pt_phdr = va if pt_phdr is None else pt_phdr
        elif t == E.PT_TLS:
            if fs > ms or va > E.USER_TOP or ms > E.USER_TOP - va or (al > 1 and al & (al - 1)):
                return err(E.ELF_ERR_TLS, i)
            tls = tls or (va, ms, fs, al)
        elif t == E.PT_GNU_STACK:
            stack = fl
        elif t == E.PT_INTERP:
            if fs < 2 or fs > E.INTERP_MAX or not in_file(off, fs):
                return err(E.ELF_ERR_INTERP, i)
            interp = interp or (off, fs)
        elif t == E.PT_DYNAMIC:
            dynamic = True
    if not loads:
        return err(E.ELF_ERR_NO_LOAD)
    lo = loads[0]["vaddr"] & -PAGE
    hi = (loads[-1]["vaddr"] + loads[-1]["memsz"] + PAGE - 1) & -PAGE
    phdr_vaddr = pt_phdr
    if phdr_vaddr is None:
        seg = next((s for s in loads if s["offset"] <= phoff < s["offset"] + s["filesz"]), None)
        if seg is None:
            return err(E.ELF_ERR_PHDR_NOT_LOADED)
        phdr_vaddr = seg["vaddr"] + phoff - seg["offset"]
    if not any(s["vaddr"] <= phdr_vaddr and phdr_vaddr + table <= s["vaddr"] + s["filesz"] for s in loads):
        return err(E.ELF_ERR_PHDR_NOT_LOADED)
    if not any(s["vaddr"] <= entry < s["vaddr"] + s["memsz"] for s in loads):
        return err(E.ELF_ERR_ENTRY)
    bias = ((E.DYN_BASE & -max_align) - lo) & MASK64 if e_type == E.ET_DYN else 0
    new_lo = (lo + bias) & MASK64
    if hi - lo > E.USER_TOP or new_lo < E.USER_MIN or new_lo > E.USER_TOP - (hi - lo):
        return err(E.ELF_ERR_SEG_ADDR, loads[0]["index"])
    out = err(E.ELF_OK)
    out.update(e_type=e_type, entry=entry, phnum=phnum, phdr_vaddr=phdr_vaddr, loads=loads, vaddr_lo=lo,
               vaddr_hi=hi, load_bias=bias, max_align=max_align, has_tls=int(tls is not None),
               has_gnu_stack=int(stack is not None), exec_stack=int(stack is not None and bool(stack & X)),
               has_dynamic=int(dynamic), has_interp=int(interp is not None))
    if tls:
        out.update(tls_vaddr=tls[0], tls_memsz=tls[1], tls_filesz=tls[2], tls_align=tls[3])
    if interp:
        out.update(interp_offset=interp[0], interp_size=interp[1])
    return out


def check_against_ref(rc: int, info: dict, data: bytes) -> None:
    ref = ref_parse(data)
    assert (info["error_name"], info["bad_index"]) == (ERR_NAMES.get(ref["error"], "ELF_OK"), ref["bad_index"])
    assert rc == (0 if ref["error"] == E.ELF_OK else -E.ENOEXEC)
    if ref["error"] == E.ELF_OK:
        for k, v in ref.items():
            assert info[k] == v, k


# ---- real binaries ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def binaries(tmp_path_factory) -> dict[str, Path | str]:
    """name -> path of a built binary, or a skip reason."""
    d = tmp_path_factory.mktemp("loader-bins")
    src = d / "prog.c"
    src.write_text(PROG_C)
    out: dict[str, Path | str] = {}
    gcc = shutil.which("gcc")
    musl = shutil.which("musl-gcc")
    for name, cc, flags in (("gcc-static", gcc, ["-static"]), ("gcc-static-pie", gcc, ["-static-pie"]),
                            ("gcc-dynamic", gcc, []), ("musl-static", musl, ["-static"]),
                            ("musl-static-pie", musl, MUSL_STATIC_PIE)):
        if cc is None:
            out[name] = ("musl-gcc is not installed on this host" if name.startswith("musl")
                         else "gcc is not installed on this host")
            continue
        exe = d / name
        r = subprocess.run([cc, "-O2", *flags, str(src), "-o", str(exe)], capture_output=True, text=True)
        out[name] = exe if r.returncode == 0 else f"{cc} {' '.join(flags)} failed: {r.stderr.strip()[:300]}"
    out["busybox"] = Path("/bin/busybox") if Path("/bin/busybox").exists() else "/bin/busybox does not exist here"
    return out


def elftools_view(data: bytes) -> dict:
    from elftools.elf.elffile import ELFFile
    f = ELFFile(io.BytesIO(data))
    segs = list(f.iter_segments())
    loads = [s for s in segs if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
    phoff = f["e_phoff"]
    pt_phdr = [s for s in segs if s["p_type"] == "PT_PHDR"]
    if pt_phdr:
        phdr_vaddr = pt_phdr[0]["p_vaddr"]
    else:
        seg = next(s for s in loads if s["p_offset"] <= phoff < s["p_offset"] + s["p_filesz"])
        phdr_vaddr = seg["p_vaddr"] + phoff - seg["p_offset"]
    tls = [s for s in segs if s["p_type"] == "PT_TLS"]
    stack = [s for s in segs if s["p_type"] == "PT_GNU_STACK"]
    return dict(
        e_type={"ET_EXEC": E.ET_EXEC, "ET_DYN": E.ET_DYN}[f["e_type"]], entry=f["e_entry"],
        phnum=f["e_phnum"], phentsize=f["e_phentsize"], phoff=phoff, phdr_vaddr=phdr_vaddr,
        loads=[dict(vaddr=s["p_vaddr"], memsz=s["p_memsz"], filesz=s["p_filesz"], offset=s["p_offset"],
                    align=s["p_align"], flags=s["p_flags"]) for s in loads],
        has_tls=int(bool(tls)), tls=(tls[0]["p_vaddr"], tls[0]["p_memsz"], tls[0]["p_filesz"], tls[0]["p_align"])
        if tls else None, exec_stack=int(bool(stack) and bool(stack[0]["p_flags"] & X)),
        has_gnu_stack=int(bool(stack)), interp=any(s["p_type"] == "PT_INTERP" for s in segs),
        has_dynamic=int(any(s["p_type"] == "PT_DYNAMIC" for s in segs)),
        lo=loads[0]["p_vaddr"] & -PAGE, hi=max(s["p_vaddr"] + s["p_memsz"] for s in loads) + PAGE - 1 & -PAGE)


@pytest.mark.parametrize("name", ["gcc-static", "gcc-static-pie", "musl-static", "musl-static-pie", "busybox",
                                  "gcc-dynamic"])
def test_real_binary_matches_pyelftools(parser, binaries, name):
    exe = binaries[name]
    if isinstance(exe, str):
        pytest.skip(exe)
    data = exe.read_bytes()
    want = elftools_view(data)
    rc, info = parser.parse(data)
    if want["interp"]:
        assert (rc, info["error_name"]) == (0, "ELF_OK")
        assert info["has_interp"] == 1
        path = data[info["interp_offset"]:info["interp_offset"] + info["interp_size"]]
        assert path.startswith(b"/") and path.endswith(b"\0")
    else:
        assert (rc, info["error_name"]) == (0, "ELF_OK")
    if name == "gcc-static":
        assert want["e_type"] == E.ET_EXEC and want["has_tls"]
    if name == "gcc-static-pie":
        assert want["e_type"] == E.ET_DYN and want["has_tls"]
    for k in ("e_type", "entry", "phnum", "phentsize", "phoff", "phdr_vaddr", "has_tls", "exec_stack",
              "has_gnu_stack", "has_dynamic"):
        assert info[k] == want[k], k
    assert [{k: s[k] for k in want["loads"][0]} for s in info["loads"]] == want["loads"]
    assert info["nloads"] == len(want["loads"])
    assert (info["vaddr_lo"], info["vaddr_hi"]) == (want["lo"], want["hi"])
    if want["tls"]:
        assert (info["tls_vaddr"], info["tls_memsz"], info["tls_filesz"], info["tls_align"]) == want["tls"]
    kept = min(want["phnum"], E.PHDRS_KEPT)
    assert info["nphdrs"] == kept
    assert info["phdrs_raw"] == data[want["phoff"]:want["phoff"] + kept * 56]
    if want["e_type"] == E.ET_EXEC:
        assert info["load_bias"] == 0
    else:
        assert info["load_bias"] == (E.DYN_BASE & -info["max_align"]) - want["lo"]
    check_against_ref(rc, info, data)


def test_truncated_real_binary_at_every_header_boundary(parser, binaries):
    exe = binaries["gcc-static"]
    if isinstance(exe, str):
        pytest.skip(exe)
    data = exe.read_bytes()
    v = elftools_view(data)
    table_end = v["phoff"] + v["phnum"] * 56
    ehdr_fields = [0, 1, 4, 5, 6, 7, 16, 18, 20, 24, 32, 40, 48, 52, 54, 56, 58, 60, 62, 63]
    sizes = set(ehdr_fields) | {table_end - 1, v["phoff"], v["phoff"] + 1}
    sizes |= {v["phoff"] + 56 * k for k in range(v["phnum"])}
    first_load_end = v["loads"][0]["offset"] + v["loads"][0]["filesz"]
    sizes |= {table_end, first_load_end - 1}
    parser.load(data)
    for n in sorted(sizes):
        rc, info = parser.parse(None, avail=n)
        if n < 64:
            want = "ELF_ERR_TRUNCATED"
        elif n < table_end:
            want = "ELF_ERR_PHDR_RANGE"
        else:
            want = "ELF_ERR_SEG_FILE"
        assert (rc, info["error_name"]) == (-E.ENOEXEC, want), n
        check_against_ref(rc, info, data[:n])


# ---- hostile hand-built headers ----------------------------------------------------------------

def with_phdr(i: int, p: bytes) -> list[bytes]:
    ps = base_phdrs()
    ps[i] = p
    return ps


def ident(cls: int = 2, data: int = 1, ver: int = 1, magic: bytes = b"\x7fELF") -> bytes:
    return magic + bytes([cls, data, ver])


TOP = E.USER_TOP
HOSTILE = {
    "bad magic": (make_elf(ident=ident(magic=b"\x7fELG")), "ELF_ERR_MAGIC", 0),
    "shell script": (b"#!/bin/sh\necho hi\n", "ELF_ERR_MAGIC", 0),
    "empty file": (b"", "ELF_ERR_TRUNCATED", 0),
    "32-bit": (make_elf(ident=ident(cls=1)), "ELF_ERR_CLASS", 0),
    "big-endian": (make_elf(ident=ident(data=2)), "ELF_ERR_DATA", 0),
    "EI_VERSION 0": (make_elf(ident=ident(ver=0)), "ELF_ERR_VERSION", 0),
    "e_version 2": (make_elf(version=2), "ELF_ERR_VERSION", 0),
    "i386": (make_elf(machine=3), "ELF_ERR_MACHINE", 0),
    "aarch64": (make_elf(machine=183), "ELF_ERR_MACHINE", 0),
    "relocatable": (make_elf(e_type=1), "ELF_ERR_TYPE", 0),
    "core": (make_elf(e_type=4), "ELF_ERR_TYPE", 0),
    "phentsize 32": (make_elf(phentsize=32), "ELF_ERR_PHENTSIZE", 0),
    "phnum 0": (make_elf(phnum=0), "ELF_ERR_PHNUM", 0),
    "phnum 74": (make_elf(phnum=74), "ELF_ERR_PHNUM", 0),
    "phnum PN_XNUM": (make_elf(phnum=0xFFFF), "ELF_ERR_PHNUM", 0),
    "phnum 73 past EOF": (make_elf(phnum=73, size=0x800), "ELF_ERR_PHDR_RANGE", 0),
    "phoff past EOF": (make_elf(phoff=0x10000), "ELF_ERR_PHDR_RANGE", 0),
    "phoff wraps": (make_elf(phoff=MASK64 - 7), "ELF_ERR_PHDR_RANGE", 0),
    "table ends 1 past EOF": (make_elf(phoff=0x3000 - 5 * 56 + 1), "ELF_ERR_PHDR_RANGE", 0),
    "filesz > memsz": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, 0x40_3000, 0x10, 0xF))),
                       "ELF_ERR_SEG_MEMSZ", 2),
    "offset+filesz past EOF": (make_elf(with_phdr(1, phdr(E.PT_LOAD, R | X, 0x1000, 0x40_1000, 0x2001))),
                               "ELF_ERR_SEG_FILE", 1),
    "offset+filesz wraps": (make_elf(with_phdr(1, phdr(E.PT_LOAD, R | X, MASK64 - 0xFFF, 0x40_1000, 0x2000))),
                            "ELF_ERR_SEG_FILE", 1),
    "vaddr+memsz wraps": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, MASK64 - 0xFFF, 0x10, 0x2000))),
                          "ELF_ERR_SEG_ADDR", 2),
    "kernel-half vaddr": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, 0xFFFF_8000_0000_0000, 0x10))),
                          "ELF_ERR_SEG_ADDR", 2),
    "non-canonical vaddr": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, 0x8000_0000_0000, 0x10))),
                            "ELF_ERR_SEG_ADDR", 2),
    "end past USER_TOP": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, TOP - 0x1000, 0x10, 0x1001))),
                          "ELF_ERR_SEG_ADDR", 2),
    "memsz huge": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, 0x40_3000, 0x10, MASK64))),
                   "ELF_ERR_SEG_ADDR", 2),
    "ET_EXEC at address 0": (make_elf([phdr(E.PT_LOAD, R | X, 0, 0, 0x1000)], entry=0x100),
                             "ELF_ERR_SEG_ADDR", 0),
    "misaligned segment": (make_elf(with_phdr(1, phdr(E.PT_LOAD, R | X, 0x1000, 0x40_1001, 0x100))),
                           "ELF_ERR_SEG_ALIGN", 1),
    "overlapping segments": (make_elf(with_phdr(1, phdr(E.PT_LOAD, R | X, 0x1800, 0x40_0800, 0x100))),
                             "ELF_ERR_SEG_ORDER", 1),
    "descending segments": (make_elf(with_phdr(2, phdr(E.PT_LOAD, R | W, 0x2000, 0x3F_0000, 0x10))),
                            "ELF_ERR_SEG_ORDER", 2),
    "no PT_LOAD": (make_elf([phdr(E.PT_GNU_STACK, R | W)]), "ELF_ERR_NO_LOAD", 0),
    "only empty PT_LOADs": (make_elf([phdr(E.PT_LOAD, R, 0, 0x40_0000, 0, 0)]), "ELF_ERR_NO_LOAD", 0),
    "17 PT_LOADs": (make_elf([phdr(E.PT_LOAD, R | X, 0, 0x40_0000 + i * PAGE, 0x1000) for i in range(17)],
                             size=0x1000), "ELF_ERR_TOO_MANY_LOADS", 16),
    "phdrs outside PT_LOADs": (make_elf(with_phdr(0, phdr(E.PT_LOAD, R, 0x1000, 0x3F_F000, 0, 0x1000))),
                               "ELF_ERR_PHDR_NOT_LOADED", 0),
    "PT_PHDR outside PT_LOADs": (make_elf(base_phdrs() + [phdr(E.PT_PHDR, R, 64, 0x50_0000, 6 * 56)]),
                                 "ELF_ERR_PHDR_NOT_LOADED", 0),
    "PT_PHDR in bss": (make_elf(base_phdrs() + [phdr(E.PT_PHDR, R, 64, 0x40_3100, 6 * 56)]),
                       "ELF_ERR_PHDR_NOT_LOADED", 0),
    "entry outside": (make_elf(entry=0x40_2000), "ELF_ERR_ENTRY", 0),
    "entry 0": (make_elf(entry=0), "ELF_ERR_ENTRY", 0),
    "TLS memsz < filesz": (make_elf(with_phdr(3, phdr(E.PT_TLS, R, 0x2000, 0x40_3000, 0x10, 0x8, align=8))),
                           "ELF_ERR_TLS", 3),
    "TLS align 24": (make_elf(with_phdr(3, phdr(E.PT_TLS, R, 0x2000, 0x40_3000, 0x8, 0x18, align=24))),
                     "ELF_ERR_TLS", 3),
    "TLS wraps": (make_elf(with_phdr(3, phdr(E.PT_TLS, R, 0x2000, MASK64 - 8, 0x8, 0x18, align=8))),
                  "ELF_ERR_TLS", 3),
    "PT_INTERP past EOF": (make_elf(base_phdrs() + [phdr(E.PT_INTERP, R, 0x2FF0, 0, 28)]), "ELF_ERR_INTERP", 5),
    "PT_INTERP empty": (make_elf(base_phdrs() + [phdr(E.PT_INTERP, R, 0x800, 0, 0)]), "ELF_ERR_INTERP", 5),
    "PT_INTERP too long": (make_elf(base_phdrs() + [phdr(E.PT_INTERP, R, 0, 0, 0x1001)]), "ELF_ERR_INTERP", 5),
    "PT_INTERP and a bad segment": (make_elf([phdr(E.PT_INTERP, R, 0x800, 0, 28)] + with_phdr(
        1, phdr(E.PT_LOAD, R | X, 0x1000, 0x40_1001, 0x100))), "ELF_ERR_SEG_ALIGN", 2),
    "ET_DYN too large": (make_elf([phdr(E.PT_LOAD, R | X, 0, 0, 0x1000, TOP - 0x1000)], e_type=E.ET_DYN,
                                  entry=0x100), "ELF_ERR_SEG_ADDR", 0),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_headers_give_their_reason(parser, case):
    data, want, index = HOSTILE[case]
    rc, info = parser.parse(data)
    assert (rc, info["error_name"], info["bad_index"]) == (-E.ENOEXEC, want, index)
    check_against_ref(rc, info, data)


def test_pt_interp_is_described_not_refused(parser):
    data = make_elf(base_phdrs() + [phdr(E.PT_INTERP, R, 0x800, 0, 28)])
    rc, info = parser.parse(data)
    assert (rc, info["error_name"], info["has_interp"]) == (0, "ELF_OK", 1)
    assert (info["interp_offset"], info["interp_size"]) == (0x800, 28)
    check_against_ref(rc, info, data)


def test_valid_hand_built_exec(parser):
    data = make_elf()
    rc, info = parser.parse(data)
    assert (rc, info["error_name"]) == (0, "ELF_OK")
    assert [(s["vaddr"], s["memsz"], s["filesz"], s["offset"], s["flags"], s["index"]) for s in info["loads"]] == [
        (0x40_0000, 0x1000, 0x1000, 0, R, 0), (0x40_1000, 0x100, 0x100, 0x1000, R | X, 1),
        (0x40_3000, 0x2000, 0x10, 0x2000, R | W, 2)]
    assert (info["phdr_vaddr"], info["entry"], info["vaddr_lo"], info["vaddr_hi"]) == (
        0x40_0040, 0x40_1010, 0x40_0000, 0x40_5000)
    assert (info["has_tls"], info["tls_vaddr"], info["tls_memsz"], info["tls_filesz"], info["tls_align"]) == (
        1, 0x40_3000, 0x18, 8, 8)
    assert (info["has_gnu_stack"], info["exec_stack"], info["stack_flags"]) == (1, 0, R | W)
    check_against_ref(rc, info, data)


def test_edge_cases_that_are_accepted(parser):
    # A segment ending exactly at USER_TOP; empty PT_LOADs are skipped; segments sharing a page.
    ps = [phdr(E.PT_LOAD, R, 0, 0x40_0000, 0x800), phdr(E.PT_LOAD, R, 0x900, 0x40_0900, 0, 0),
          phdr(E.PT_LOAD, R | X, 0x900, 0x40_0900, 0x100),
          phdr(E.PT_LOAD, R | W, 0x2000, TOP - 0x1000, 0x10, 0x1000)]
    rc, info = parser.parse(make_elf(ps, entry=0x40_0900))
    assert (rc, info["error_name"], info["nloads"]) == (0, "ELF_OK", 3)
    assert [s["index"] for s in info["loads"]] == [0, 2, 3]
    assert info["vaddr_hi"] == TOP
    # No PT_GNU_STACK: x86-64 Linux gives a non-executable stack; PF_X in PT_GNU_STACK asks for one.
    rc, info = parser.parse(make_elf(base_phdrs()[:4]))
    assert (rc, info["has_gnu_stack"], info["exec_stack"]) == (0, 0, 0)
    rc, info = parser.parse(make_elf(with_phdr(4, phdr(E.PT_GNU_STACK, R | W | X))))
    assert (rc, info["has_gnu_stack"], info["exec_stack"]) == (0, 1, 1)
    # PT_PHDR, when present, gives AT_PHDR.
    rc, info = parser.parse(make_elf([phdr(E.PT_PHDR, R, 64, 0x40_0040, 6 * 56)] + base_phdrs()))
    assert (rc, info["phdr_vaddr"]) == (0, 0x40_0040)


def test_many_program_headers(parser):
    """More than PHDRS_KEPT headers: the first 16 are kept, all are checked."""
    ps = [phdr(E.PT_NOTE, R, 0, 0, 0)] * 40 + base_phdrs()
    data = make_elf(ps, size=0x3000)
    rc, info = parser.parse(data)
    assert (rc, info["phnum"], info["nphdrs"], info["nloads"]) == (0, 45, 16, 3)
    assert [s["index"] for s in info["loads"]] == [40, 41, 42]
    assert info["phdrs_raw"] == data[64:64 + 16 * 56]
    bad = ps[:]
    bad[43] = phdr(E.PT_TLS, R, 0, 0x40_3000, 9, 8)
    rc, info = parser.parse(make_elf(bad))
    assert (rc, info["error_name"], info["bad_index"]) == (-E.ENOEXEC, "ELF_ERR_TLS", 43)
    rc, info = parser.parse(make_elf([phdr(E.PT_NOTE)] * 72 + [phdr(E.PT_LOAD, R | X, 0, 0x40_0000, 0x2000)],
                                     entry=0x40_0100, size=0x2000))
    assert (rc, info["phnum"]) == (0, 73)


def test_dyn_load_bias(parser):
    ps = [phdr(E.PT_LOAD, R, 0, 0, 0x1000), phdr(E.PT_LOAD, R | X, 0x1000, 0x20_1000, 0x100, align=0x20_0000),
          phdr(E.PT_DYNAMIC, R | W, 0x1000, 0x20_1000, 0x10)]
    rc, info = parser.parse(make_elf(ps, e_type=E.ET_DYN, entry=0x20_1000))
    assert (rc, info["max_align"], info["has_dynamic"]) == (0, 0x20_0000, 1)
    assert info["load_bias"] == E.DYN_BASE & ~0x1F_FFFF
    # A static-PIE linked high still lands at DYN_BASE (the bias wraps).
    ps = [phdr(E.PT_LOAD, R | X, 0, 0x7000_0000_0000, 0x1000)]
    rc, info = parser.parse(make_elf(ps, e_type=E.ET_DYN, entry=0x7000_0000_0100))
    assert (rc, (info["vaddr_lo"] + info["load_bias"]) & MASK64) == (0, E.DYN_BASE)
    # p_align beyond MAX_BIAS_ALIGN is ignored for the bias.
    ps = [phdr(E.PT_LOAD, R | X, 0, 0, 0x1000, align=1 << 40)]
    rc, info = parser.parse(make_elf(ps, e_type=E.ET_DYN, entry=0x100))
    assert (rc, info["max_align"], info["load_bias"]) == (0, PAGE, E.DYN_BASE)


def test_set_load_bias_and_user_addresses(parser):
    m = parser.m
    rc, info = parser.parse(make_elf([phdr(E.PT_LOAD, R | X, 0, 0, 0x3000)], e_type=E.ET_DYN, entry=0x1234))
    assert rc == 0
    call = lambda f, *a: s64(m.call(f"{MOD}.{f}", parser.info, *a))  # noqa: E731
    assert call("set_load_bias", 0x1000_0000) == 0
    assert call("user_entry") == 0x1000_1234 and call("user_phdr") == 0x1000_0040
    assert call("set_load_bias", 0x1000_0800) == -E.EINVAL        # not page aligned
    assert call("set_load_bias", 0) == -E.EINVAL                  # below USER_MIN
    assert call("set_load_bias", TOP - 0x3000) == 0               # ends exactly at USER_TOP
    assert call("set_load_bias", TOP - 0x2000) == -E.EINVAL
    assert call("set_load_bias", MASK64 & -PAGE) == -E.EINVAL     # wraps below 0
    assert call("user_entry") == TOP - 0x3000 + 0x1234              # unchanged by the failures
    parser.parse(make_elf())
    assert call("set_load_bias", 0x1000) == -E.EINVAL             # ET_EXEC is never moved
    assert call("set_load_bias", 0) == 0
    assert call("user_entry") == 0x40_1010 and call("user_phdr") == 0x40_0040


def test_reader_short_reads_errors_and_truncation(parser):
    data = make_elf([phdr(E.PT_NOTE)] * 20 + base_phdrs())
    assert parser.parse(data)[0] == 0
    rc, info = parser.parse(data, chunk=7)                        # many short reads: same result
    assert (rc, info["error_name"], info["nloads"]) == (0, "ELF_OK", 3)
    rc, info = parser.parse(data, err_off=10, err=-5)            # reading the ELF header fails
    assert (rc, info["error_name"], info["io_error"]) == (-E.EIO, "ELF_ERR_IO", -5)
    rc, info = parser.parse(data, err_off=64 + 56 * 17, err=-14)  # the second batch of headers fails
    assert (rc, info["error_name"], info["io_error"], info["bad_index"]) == (-E.EIO, "ELF_ERR_IO", -14, 16)
    # The file is shorter than the size the caller was told (it shrank): reads end early.
    rc, info = parser.parse(data, file_size=len(data), avail=64 + 56 * 3)
    assert (rc, info["error_name"]) == (-E.ENOEXEC, "ELF_ERR_TRUNCATED")
    rc, info = parser.parse(data, file_size=len(data), avail=40)
    assert (rc, info["error_name"]) == (-E.ENOEXEC, "ELF_ERR_TRUNCATED")


def test_error_messages_are_distinct(parser):
    m = parser.m
    msgs = [m.cstring(m.call(f"{MOD}.error_message", c)) for c in range(E.ELF_ERR_MAX + 1)]
    assert all(msgs) and len(set(msgs)) == len(msgs)
    assert msgs[-1] == b"unknown ELF error"


# ---- random corruption --------------------------------------------------------------------------

FLIP_BASE = make_elf([phdr(E.PT_PHDR, R, 64, 0x40_0040, 8 * 56)] + base_phdrs()
                     + [phdr(E.PT_INTERP, R, 0x800, 0, 28), phdr(E.PT_DYNAMIC, R | W, 0x2000, 0x40_3000, 0x10)])
FLIP_LEN = 64 + 8 * 56


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, FLIP_LEN - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.booleans())
def test_random_header_corruption_gives_defined_results(parser, flips, dyn):
    data = bytearray(FLIP_BASE)
    if not dyn:   # without PT_INTERP the base file loads, so corruption can also succeed
        data[64 + 6 * 56:64 + 7 * 56] = phdr(E.PT_NOTE)
    for i, b in flips:
        data[i] = b
    rc, info = parser.parse(bytes(data))
    assert rc in (0, -E.ENOEXEC) and (rc == 0) == (info["error"] == E.ELF_OK)
    check_against_ref(rc, info, bytes(data))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_corruption_of_a_real_binary(parser, binaries, data):
    exe = binaries["gcc-static-pie"]
    if isinstance(exe, str):
        pytest.skip(exe)
    raw = bytearray(exe.read_bytes())
    n = 64 + 56 * struct.unpack_from("<H", raw, 56)[0]
    for i, b in data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=6)):
        raw[i] = b
    rc, info = parser.parse(bytes(raw))
    check_against_ref(rc, info, bytes(raw))
