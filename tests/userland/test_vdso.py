"""The vDSO's clock needs no kernel entry: `vdso loop` (userland_tests/vdso.c) reads
CLOCK_MONOTONIC, CLOCK_REALTIME, gettimeofday and time 1000 times each through libc, and
`qvisor run --strace` shows none of those system calls, for every libc build (glibc and musl
static, the glibc PIE) on each platform. The differential case `vdso` in the manifest checks what
the functions return."""

from __future__ import annotations

import os
import subprocess
import sys

import harness
import pytest
from test_sandbox import PLATFORMS, sandbox_kernel  # noqa: F401 - the fixture

CLOCK_CALLS = ("clock_gettime(", "gettimeofday(", "time(", "clock_getres(")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("libc", harness.LIBCS)
def test_clock_reads_make_no_system_call(userland_build, sandbox_kernel, platform, libc):  # noqa: F811
    exe = harness.BUILD / libc / "vdso"
    if not exe.exists():
        pytest.skip(f"{exe} was not built (musl-gcc missing?)")
    env = dict(os.environ, PYTHONPATH=str(harness.ROOT))
    cmd = [sys.executable, "-m", "qvisor.cli", "run", "--platform", platform, "--clear-env", "--strace",
           "--kernel", str(sandbox_kernel), "--", str(exe), "loop"]
    p = subprocess.run(cmd, cwd=harness.ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and p.stdout == "done 1\n", p.stderr[-2000:]
    trace = [ln for ln in p.stderr.splitlines() if "(" in ln]
    assert any(ln.startswith(("write(", "writev(")) for ln in trace), "no strace output: " + p.stderr[-500:]
    clock = [ln for ln in trace if any(c in ln for c in CLOCK_CALLS)]
    assert not clock, "clock system calls made: " + "\n".join(clock[:5])
