"""Native runs of the userland corpus: owns checking that the programs in userland_tests/ and the
busybox applets behave on the host exactly as userland_tests/manifest.toml says (stdout, exit
status, empty stderr), for both the glibc and the musl build, that the builds are static, and that
the manifest itself is well formed. This validates the corpus before any sandbox is compared
with it (tests/userland/test_sandbox.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import harness
import pytest

MANIFEST = harness.load_manifest()
SRC = harness.ROOT / "userland_tests"


def _params():
    for case in MANIFEST.cases:
        for v in case.variants:
            yield pytest.param(case, v, id=f"{case.name}[{v}]")


def _skip_reason(case: harness.Case, variant: str) -> str | None:
    if variant == "musl" and not harness.musl_available():
        return "musl-gcc is not installed here (Debian package musl-tools, installed by `make deb-packages`)"
    if case.exe and not Path(case.exe).exists():
        return f"{case.exe} is not installed here (Debian package busybox-static, installed by `make deb-packages`)"
    return None


@pytest.mark.parametrize("case, variant", list(_params()))
def test_native(userland_build, case: harness.Case, variant: str):
    why = _skip_reason(case, variant)
    if why:
        pytest.skip(why)
    diffs = harness.check_native(case, variant)
    assert not diffs, f"{case.name}[{variant}] ({case.path(variant)}):\n" + "\n".join(diffs)


def test_manifest_well_formed():
    names = [c.name for c in MANIFEST.cases]
    assert len(names) == len(set(names)), "duplicate case names"
    programs = {p.stem for p in SRC.glob("*.c")}
    used = {c.program for c in MANIFEST.cases if c.program}
    assert used <= programs, f"cases name programs with no source: {sorted(used - programs)}"
    assert programs <= used, f"programs without a case: {sorted(programs - used)}"
    for c in MANIFEST.cases:
        unknown = set(c.needs) - set(MANIFEST.features)
        assert not unknown, f"{c.name}: needs unknown features {sorted(unknown)}"
        assert 0 <= c.status <= 255, f"{c.name}: status {c.status}"
    assert MANIFEST.kernel_features <= set(MANIFEST.features)
    # the busybox applets the sandbox tables must cover
    applets = {c.args[0] for c in MANIFEST.cases if c.exe == "/bin/busybox" and c.args}
    assert {"echo", "printf", "expr", "seq", "true", "false", "uname"} <= applets


def _elf_facts(path: Path) -> tuple[int, int, bool]:
    """(e_type, e_machine, has PT_INTERP) from the ELF64 header and program headers."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, f"{path}: not ELF64"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    interp = any(struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == 3 for i in range(e_phnum))
    return e_type, e_machine, interp


def test_builds_are_x86_64_static_or_dynamic_as_named(userland_build):
    """What qvisor runs: ELF64 x86-64 executables, without an interpreter for glibc and musl,
    PIEs with one (ld.so) for glibc-dyn."""
    variants = harness.LIBCS if harness.musl_available() else ("glibc", "glibc-dyn")
    progs = sorted(p.stem for p in SRC.glob("*.c"))
    for v in variants:
        for name in progs:
            path = harness.BUILD / v / name
            assert path.exists(), f"{path} was not built"
            e_type, e_machine, interp = _elf_facts(path)
            assert e_machine == 62, f"{path}: e_machine {e_machine}, not x86-64"
            if v == "glibc-dyn":
                assert e_type == 3 and interp, f"{path}: not a dynamic PIE (e_type {e_type}, PT_INTERP {interp})"
            else:
                assert e_type in (2, 3) and not interp, f"{path}: not static (e_type {e_type}, PT_INTERP {interp})"


def test_status_mapping():
    """Killed by signal N natively is 128+N, as a shell and qvisor report it."""
    assert harness.status_from_returncode(-11) == 139
    assert harness.status_from_returncode(3) == 3
    a = harness.Result("x\n", "", 0)
    assert harness.compare(a, a) == []
    d = harness.compare(a, harness.Result("y\n", "err", 139))
    assert len(d) == 2 and "SIGSEGV" in d[0] and "-x" in d[1] and "+y" in d[1]
