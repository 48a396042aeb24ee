"""Shared fixtures: compile kernel-Python snippets and run them (under unicorn, or the host JIT)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest



@pytest.fixture
def kpy(tmp_path: Path):
    """kpy(source, name="m") -> Path: writes a kernel-Python module into a temp dir."""
    def write(source: str, name: str = "m") -> Path:
        p = tmp_path / f"{name}.py"
        p.write_text(textwrap.dedent(source).lstrip("\n"))
        return p
    return write


@pytest.fixture(scope="session")
def qkc_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("qkc-cache")


@pytest.fixture
def run_kpy(kpy, qkc_cache: Path):
    """run_kpy(source, func, *args) -> int: compiles the module, calls func under unicorn."""
    from toolchain.driver import build_files
    from toolchain.emucall import Machine

    cache = qkc_cache

    class Runner:
        machine: Machine | None = None

        def __call__(self, source: str, func: str, *args: int, extra: dict[str, str] | None = None) -> int:
            self.compile(source, extra)
            assert self.machine is not None
            return self.machine.call(f"m.{func}", *args)

        def compile(self, source: str, extra: dict[str, str] | None = None) -> Machine:
            for name, src in (extra or {}).items():
                kpy(src, name)
            path = kpy(source, "m")
            image = build_files([path], cache)
            self.machine = Machine(image.elf)
            return self.machine

    return Runner()
