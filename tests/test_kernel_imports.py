"""Every kernel module imports cleanly under CPython (editors, mypy, ruff and the host's ABI
reader depend on it), and none imports a host module."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "qkernel").rglob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_kernel_module_imports_in_cpython(name):
    importlib.import_module(name)
