"""Helpers for the `qvisor run` tests: the platforms to run on, a static C program builder and
the qvisor command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _platforms() -> list[str]:
    from qvisor.platform.select import detect
    name, why = detect()
    return ["emu"] if name == "emu" else [name, "emu"]


PLATFORMS = _platforms()


def build_c(directory: Path, name: str, source: str) -> Path:
    """A static program from C source (skips the test without gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    exe = directory / name
    if not exe.exists():
        src = directory / f"{name}.c"
        src.write_text(source)
        subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def qvisor_cmd(kernel: Path, platform: str, *argv: str, memory: str | None = None) -> list[str]:
    mem = ["--memory", memory] if memory else []
    return [sys.executable, "-m", "qvisor.cli", "run", "--platform", platform, *mem, "--kernel", str(kernel),
            "--clear-env", "--", *argv]
