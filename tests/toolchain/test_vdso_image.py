"""toolchain/vdso.py: the vDSO image is a shared object glibc and musl can read (checked with
pyelftools and binutils' view of it), its code needs no relocation, and its symbols resolve
through DT_HASH with the version LINUX_2.6."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from toolchain.vdso import EXPORTS, VDSO_TEXT, VdsoError, build_image, elf_hash

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "vdso" / "vdso.S"


@pytest.fixture(scope="module")
def image() -> bytes:
    return build_image(SRC)


def test_elf_hash_matches_glibc_version_hash():
    assert elf_hash("LINUX_2.6") == 0x3AE75F6        # glibc's dl_vdso_vsym hard-codes it


def test_image_is_a_shared_object_of_whole_pages(image):
    assert len(image) % 4096 == 0 and len(image) > VDSO_TEXT
    elf = ELFFile(io.BytesIO(image))
    assert elf.header.e_type == "ET_DYN" and elf.header.e_machine == "EM_X86_64"
    segs = [s.header.p_type for s in elf.iter_segments()]
    assert segs == ["PT_LOAD", "PT_DYNAMIC"]
    load = elf.get_segment(0).header
    assert (load.p_vaddr, load.p_offset, load.p_filesz) == (0, 0, len(image))
    dyn = elf.get_section_by_name(".dynamic")
    tags = {t.entry.d_tag for t in dyn.iter_tags()}
    assert {"DT_HASH", "DT_SYMTAB", "DT_STRTAB", "DT_SONAME", "DT_VERSYM", "DT_VERDEF"} <= tags
    soname = next(t.soname for t in dyn.iter_tags() if t.entry.d_tag == "DT_SONAME")
    assert soname == "linux-vdso.so.1"


def test_every_export_is_versioned_linux_2_6(image):
    elf = ELFFile(io.BytesIO(image))
    dynsym = elf.get_section_by_name(".dynsym")
    versym = elf.get_section_by_name(".gnu.version")
    verdef = elf.get_section_by_name(".gnu.version_d")
    names = {}
    for vd, auxs in verdef.iter_versions():
        names[vd.entry.vd_ndx] = next(auxs).name
    assert names == {1: "linux-vdso.so.1", 2: "LINUX_2.6"}
    text = elf.get_section_by_name(".text")
    got = {}
    for i, sym in enumerate(dynsym.iter_symbols()):
        if i == 0:
            continue
        assert names[versym.get_symbol(i).entry.ndx] == "LINUX_2.6", sym.name
        assert text.header.sh_addr <= sym.entry.st_value < text.header.sh_addr + text.header.sh_size
        got[sym.name] = (sym.entry.st_info.bind, sym.entry.st_value)
    for n in EXPORTS:
        assert got[f"__vdso_{n}"] == ("STB_GLOBAL", got[n][1]) and got[n][0] == "STB_WEAK"


def test_hash_table_finds_each_symbol(image):
    """The lookup musl's __vdsosym and glibc's _dl_lookup_symbol_x do through DT_HASH."""
    elf = ELFFile(io.BytesIO(image))
    h = elf.get_section_by_name(".hash")
    dynsym = elf.get_section_by_name(".dynsym")
    for n in EXPORTS:
        sym = h.get_symbol(f"__vdso_{n}")
        assert sym is not None and sym.entry.st_value == dynsym.get_symbol_by_name(f"__vdso_{n}")[0].entry.st_value


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf is not installed")
def test_readelf_reads_it_without_complaint(image, tmp_path):
    so = tmp_path / "vdso.so"
    so.write_bytes(image)
    p = subprocess.run(["readelf", "-a", "-W", str(so)], capture_output=True, text=True)
    assert p.returncode == 0 and "Warning" not in p.stderr and "Error" not in p.stderr, p.stderr
    assert "__vdso_clock_gettime@@LINUX_2.6" in p.stdout


def test_code_needing_a_relocation_is_refused(tmp_path):
    src = tmp_path / "v.S"
    src.write_text(SRC.read_text() + "\n    .globl extra\nextra:\n    leaq __vdso_time(%rip), %rax\n    ret\n")
    with pytest.raises(VdsoError, match="relocation"):
        build_image(src)
