"""Kernel unit tests: qkernel modules compiled by qkc and called under unicorn (toolchain.emucall)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kernel_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("kunit-cache")


@pytest.fixture
def kmachine(kernel_cache):
    """kmachine("qkernel.mm.frames", ...) -> a fresh Machine with those modules linked."""
    from toolchain.driver import build_modules
    from toolchain.emucall import Machine

    def make(*modules: str) -> Machine:
        return Machine(build_modules(list(modules), kernel_cache).elf)
    return make
