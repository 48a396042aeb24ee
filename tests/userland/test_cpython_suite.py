"""A short piece of CPython's own regression suite in the sandbox (the long list runs with
`make compat`: tests/userland/cpython_suite.py): every test that passes natively passes in the
sandbox too, test by test, on this host's KVM platform."""

from __future__ import annotations

import cpython_suite
import pytest
from test_sandbox import PLATFORMS, sandbox_kernel  # noqa: F401 - the fixture

SHORT = ["test_glob", "test_json", "test_select"]
# test id -> why it does not pass in the sandbox yet (each also in docs/compatibility.md)
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("module", SHORT)
def test_module_passes_as_natively(sandbox_kernel, module):  # noqa: F811
    why = cpython_suite.available()
    if why:
        pytest.skip(why)
    platform = PLATFORMS[0]
    native = cpython_suite.run_module(module, None)
    assert native.passed(), f"natively nothing passed: {native.tail[-1500:]}"
    got = cpython_suite.run_module(module, platform, kernel=sandbox_kernel)
    lost = [(k, v) for k, v in cpython_suite.regressions(native, got) if k not in KNOWN]
    assert not lost, f"{len(lost)} pass natively, not on {platform}:\n" + "\n".join(
        f"  {k}: {v}" for k, v in lost[:30]) + f"\n{got.tail[-1500:]}"
