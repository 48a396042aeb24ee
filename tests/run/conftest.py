"""Fixtures for the `qvisor run` tests: the kernel, built once per session."""

import os
import sys
from pathlib import Path

import pytest

# run_helpers beside this file imports under any --import-mode
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def kernel(tmp_path_factory) -> Path:
    from toolchain.driver import build_kernel
    out = tmp_path_factory.mktemp("run-kernel") / "kernel.elf"
    build_kernel(out, out.parent / "cache")
    return out
