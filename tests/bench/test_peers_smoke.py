"""Smoke test of bench/peers.py: every workload program builds (gcc -static -O2) and prints one
parseable, positive number of ns per op when run natively with a small loop count. No timing is
asserted; `python -m bench --filter peers` measures, beside qemu-user, gVisor and pyquark.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="gcc not found on PATH: the workload programs of bench/peers.py "
                                       "cannot be built")

from bench import peers  # noqa: E402

PER_OP = [w for w in peers.WORKLOADS if w.program and w.unit == "ns"]


@pytest.fixture(scope="module")
def exes(tmp_path_factory):
    out = tmp_path_factory.mktemp("peers")
    small = peers.inputs(out)
    return peers.build_all(out), small


@pytest.mark.parametrize("w", PER_OP, ids=[w.program for w in PER_OP])
def test_program_prints_ns_per_op(exes, w):
    built, small = exes
    n = max(1, w.counts["native"] // 100)
    r = subprocess.run([str(built[w.program]), str(n), str(small)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    value = float(r.stdout.strip())
    assert value > 0


def test_hello_prints_hello(exes):
    built, _ = exes
    r = subprocess.run([str(built["hello"])], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout == "hello, world\n"


def test_failing_side_is_na_with_reason(exes, tmp_path):
    """A side whose program fails shows the first line of its stderr, not an exception."""
    built, small = exes
    side = peers.Side("t", "native", [])
    with pytest.raises(peers.NotAvailable, match="open: No such file"):
        peers._measure(peers.WORKLOADS[1], side, [str(built["openread"]), "1", str(tmp_path / "missing")])
