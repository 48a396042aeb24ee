"""Fixtures for the userland corpus tests: `harness` (beside this file) importable under any
--import-mode, and `userland_build`, one `make userland` per session."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


@pytest.fixture(scope="session")
def userland_build() -> str:
    """Builds build/userland/{glibc,musl}/* (musl only where musl-gcc exists); returns make's output."""
    p = harness.build()
    if p.returncode:
        pytest.fail(f"`make userland` failed (exit {p.returncode}):\n{p.stdout}{p.stderr}", pytrace=False)
    return p.stdout + p.stderr
