"""`qvisor boot` end to end: the real kernel.elf boots, self-tests and reports; deliberate kernel
faults produce crash reports naming the vector, the symbol and the faulting instruction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qkernel import abi as K

ROOT = Path(__file__).resolve().parents[2]


def kvm_usable() -> str | None:
    """None when /dev/kvm can be used, else the reason it cannot."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist on this machine"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        return f"/dev/kvm cannot be opened: {e.strerror}"
    return None


needs_kvm = pytest.mark.skipif(kvm_usable() is not None, reason=str(kvm_usable()))


def _platforms() -> list:
    """emu always; the KVM platform this host has (pvm or kvm) when /dev/kvm is usable."""
    from qvisor.platform.select import detect
    why = kvm_usable()
    kvm = pytest.param(detect()[0] if why is None else "pvm",
                       marks=pytest.mark.skipif(why is not None, reason=str(why)))
    return [kvm, "emu"]


PLATFORMS = _platforms()


@pytest.fixture(scope="session")
def kernel(tmp_path_factory) -> Path:
    from toolchain.driver import build_kernel
    out = tmp_path_factory.mktemp("kernel") / "kernel.elf"
    build_kernel(out, out.parent / "cache")
    return out


def boot(kernel: Path, platform: str, fault: str | None = None, tmp_path: Path | None = None):
    from qvisor.abi import FAULT_FLAGS
    from qvisor.vmm import run_kernel
    out = os.open(os.devnull, os.O_WRONLY)
    try:
        flags = K.BOOT_SELFTEST | (FAULT_FLAGS[fault] if fault else 0)
        return run_kernel(kernel, platform=platform, flags=flags, stdout=out, timeout=60)
    finally:
        os.close(out)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_boot_selftest(kernel, platform):
    res = boot(kernel, platform)
    assert res.status == 0, res.crash
    assert res.crash is None


@needs_kvm
def test_cli_prints_banner_and_exits_zero(kernel):
    proc = subprocess.run([sys.executable, "-m", "qvisor.cli", "boot", "--kernel", str(kernel)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pyquark: qkernel up on ")
    assert "self-test passed" in proc.stdout
    assert proc.stdout.count("\n") == 1


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("fault, vector, insn", [
    ("ud", "#UD invalid opcode (vector 6)", "ud2"),
    ("pf", "#PF page fault (vector 14)", "mov "),
    ("de", "#DE divide error (vector 0)", "div "),
])
def test_kernel_exception_crash_report(kernel, platform, fault, vector, insn):
    res = boot(kernel, platform, fault)
    assert res.status == 70
    report = res.crash
    assert f"kernel exception {vector}" in report
    arrow = next(line for line in report.splitlines() if line.startswith("=> "))
    assert "<kmain+0x" in arrow and insn in arrow
    assert "backtrace:" in report and "_start+" in report
    assert "kernel log (tail):" in report and "cpu tables, log and frame allocator up" in report
    if fault == "pf":
        assert "cr2=0x7fffdead0000" in report


@pytest.mark.parametrize("platform", PLATFORMS)
def test_panic_report_has_backtrace_through_panic(kernel, platform):
    res = boot(kernel, platform, "panic")
    assert res.status == 70
    assert "kernel panic: panic: deliberate panic (BOOT_FAULT_PANIC)" in res.crash
    assert "qkernel.panic.panic+" in res.crash and "kmain+" in res.crash


@pytest.mark.parametrize("platform", PLATFORMS)
def test_triple_fault_is_reported(kernel, platform):
    res = boot(kernel, platform, "triple")
    assert res.status == 70
    assert "triple fault" in res.crash
    arrow = next(line for line in res.crash.splitlines() if line.startswith("=> "))
    assert "ud2" in arrow


@pytest.mark.parametrize("platform", PLATFORMS)
def test_int3_at_cpl0_is_reported(kernel, platform):
    """kvm_pvm cannot emulate int3 at CPL 0 (emulation failure); emu delivers #BP to the kernel.
    Either way: a report naming the instruction, the host unharmed."""
    res = boot(kernel, platform, "int3")
    assert res.status == 70
    arrow = next(line for line in res.crash.splitlines() if line.startswith("=> "))
    assert "int3" in arrow
    if platform == "emu":
        assert "#BP breakpoint (vector 3)" in res.crash


def test_missing_kernel_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "qvisor.cli", "boot", "--kernel", str(tmp_path / "nope.elf")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "cannot read kernel" in proc.stderr and "Traceback" not in proc.stderr


def test_run_path_imports_neither_llvmlite_nor_unicorn():
    code = ("import sys, qvisor.cli, qvisor.vmm, qvisor.platform.pvm, qvisor.qcall\n"
            "bad = [m for m in ('llvmlite', 'unicorn', 'elftools', 'capstone') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
