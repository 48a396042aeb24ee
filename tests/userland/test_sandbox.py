"""Sandbox runs of the userland corpus: owns the differential test - every case of
userland_tests/manifest.toml (glibc and musl builds, busybox applets) run natively and under
`qvisor run`, with stdout and exit status compared (harness.compare).

The module skips, with the reason "qvisor run is not implemented yet (issue: static binaries)",
while `python -m qvisor.cli run --help` fails or the manifest says `sandbox = false` (the CLI
landed before the kernel could load programs); PYQUARK_USERLAND_SANDBOX=1 runs it regardless.
Once it runs, a case whose `needs` lists a feature missing from the manifest's `kernel_features`
is an xfail whose reason names the missing features, so the report says which cases wait for
which kernel feature; an XPASS says a feature is there and kernel_features should list it. Cases
needing nothing missing must agree with the host.

The kernel is built afresh for the session (toolchain.driver.build_kernel), not taken from a
possibly stale build/kernel.elf. Platforms: $PYQUARK_USERLAND_PLATFORMS (comma-separated, e.g.
"pvm,emu"), default "auto" (qvisor's choice: pvm or kvm where /dev/kvm works, emu otherwise).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import harness
import subprocess

import pytest

MANIFEST = harness.load_manifest()
def _default_platforms() -> str:
    """This host's KVM platform (pvm or kvm) when /dev/kvm works, and always emu."""
    from qvisor.platform.select import detect
    name, _ = detect()
    return "emu" if name == "emu" else f"{name},emu"


PLATFORMS = [p.strip() for p in os.environ.get("PYQUARK_USERLAND_PLATFORMS", _default_platforms()).split(",")
             if p.strip()]


def _why_skipped() -> str | None:
    if not harness.qvisor_run_available():
        return harness.SANDBOX_SKIP_REASON
    if not MANIFEST.sandbox and os.environ.get(harness.SANDBOX_FORCE_ENV) != "1":
        return (f"{harness.SANDBOX_SKIP_REASON}: its CLI exists but the manifest says sandbox = false "
                f"(set it in userland_tests/manifest.toml, or {harness.SANDBOX_FORCE_ENV}=1)")
    return None


_SKIP = _why_skipped()
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")


def _params():
    out = []
    for platform in PLATFORMS:
        for case in MANIFEST.cases:
            missing = MANIFEST.missing(case, platform)
            marks = [pytest.mark.xfail(reason=f"waits for kernel feature(s): {', '.join(missing)}", strict=False)] \
                if missing else []
            for v in case.variants:
                out.append(pytest.param(case, v, platform, id=f"{platform}-{case.name}[{v}]", marks=marks))
    return out


@pytest.fixture(scope="session")
def sandbox_kernel(tmp_path_factory) -> Path:
    from toolchain.driver import build_kernel
    out = tmp_path_factory.mktemp("userland-kernel") / "kernel.elf"
    build_kernel(out, out.parent / "cache")
    return out


@functools.lru_cache(maxsize=None)
def _native(case: harness.Case, variant: str) -> harness.Result:
    return harness.run_native(case.path(variant), case.args, case.env_dict(), case.stdin)


@pytest.mark.parametrize("case, variant, platform", _params())
def test_sandbox_matches_native(userland_build, sandbox_kernel, case: harness.Case, variant: str, platform: str):
    path = case.path(variant)
    if variant == "musl" and not harness.musl_available():
        pytest.skip("musl-gcc is not installed here (Debian package musl-tools)")
    if not Path(path).exists():
        pytest.skip(f"{path} is not installed here")
    native = _native(case, variant)
    # a case waiting for a kernel feature may block forever (pause() without timers): bound it
    timeout = 20 if MANIFEST.missing(case, platform) else 300
    try:
        sandbox = harness.run_sandbox(path, case.args, case.env_dict(), case.stdin, platform,
                                      kernel=sandbox_kernel, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.name}[{variant}] on {platform}: still running after {timeout} s")
    diffs = harness.compare(native, sandbox)
    detail = f"\nqvisor stderr:\n{sandbox.stderr.rstrip()}" if diffs and sandbox.stderr else ""
    assert not diffs, f"{case.name}[{variant}] on {platform}:\n" + "\n".join(diffs) + detail
