"""Golden tests: each rejected construct gives its exact message at its exact location.

tests/toolchain/golden_errors/NAME.py is compiled with `qkc check`; its stderr (with the directory
stripped) must equal NAME.expected. Regenerate after an intended change with
`QKC_REGEN_GOLDEN=1 python -m pytest tests/toolchain/test_golden_errors.py` and review the diff.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "golden_errors"
CASES = sorted(p.stem for p in HERE.glob("*.py"))


def run_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolchain.cli", "check", path.name], cwd=path.parent,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


@pytest.mark.parametrize("case", CASES)
def test_golden_error(case: str) -> None:
    proc = run_check(HERE / f"{case}.py")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    expected = HERE / f"{case}.expected"
    if os.environ.get("QKC_REGEN_GOLDEN"):
        expected.write_text(proc.stderr)
    assert proc.stderr == expected.read_text()
