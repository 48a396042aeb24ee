"""CPython's own regression tests (Debian package libpython3.11-testsuite) natively and in the
sandbox, with the outcome of every test case compared.

Each module runs as `python3 -m unittest -v test.MODULE` in a fresh temporary directory (the
tests write there), natively and under `qvisor run` with the same environment; the verbose
report gives one outcome per test id (ok, FAIL, ERROR, skipped, expected failure, unexpected
success). A module that cannot even be loaded reports one pseudo-test `MODULE (load)` with the
first line of the error.

As a command (what `make compat` runs):
    python tests/userland/cpython_suite.py [--platform pvm] [--out FILE] [MODULE ...]
prints, per module, the counts on each side and every test that passes natively but not in the
sandbox; --out writes that report as markdown.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

PYTHON = "/usr/bin/python3"
TESTS_DIR = Path("/usr/lib/python3.11/test")
PACKAGE = "libpython3.11-testsuite"
# The list: the modules a container's Python programs lean on (test_sqlite3 too, but
# Debian's libpython3.11-testsuite does not ship it; sqlite3 itself runs in test_debian.py).
MODULES = ["test_os", "test_posix", "test_stat", "test_fcntl", "test_select", "test_signal",
           "test_subprocess", "test_threading", "test_mmap", "test_tempfile", "test_shutil",
           "test_pathlib", "test_glob", "test_io", "test_time", "test_datetime", "test_json"]
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/tmp", "TZ": "UTC",
       "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}

_RESULT = re.compile(r"^(?P<name>\w+) \((?P<where>[\w.]+)\)(?:\n(?!\w+ \([\w.]+\)).*)*? \.\.\. "
                     r"(?P<outcome>ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$", re.M)
_SECTION = re.compile(r"^={70}\n(?:FAIL|ERROR): \w+ \((?P<where>[\w.]+)\)\n(?:.*\n)*?-{70}\n"
                      r"(?P<body>(?:(?!={70}$|-{70}$).*\n)*)", re.M)
_LOAD = re.compile(r"^(?:ImportError|ModuleNotFoundError|OSError|[A-Za-z]+Error): .*$", re.M)


def outcome_class(outcome: str) -> str:
    if outcome == "ok" or outcome == "expected failure":
        return "pass"
    if outcome.startswith("skipped"):
        return "skip"
    return "fail"


@dataclass
class ModuleRun:
    module: str
    outcomes: dict[str, str]   # test id -> outcome text
    status: int
    seconds: float
    tail: str                  # the end of the report (for a module that did not load)

    def passed(self) -> set[str]:
        return {k for k, v in self.outcomes.items() if outcome_class(v) == "pass"}


def parse(module: str, report: str) -> dict[str, str]:
    out = {f"{m['where']}": m["outcome"] for m in _RESULT.finditer(report)}
    for m in _SECTION.finditer(report):          # a failure's last traceback line says why
        body = [ln for ln in m["body"].splitlines() if ln.strip()]
        if m["where"] in out and body:
            out[m["where"]] += ": " + body[-1].strip()[:200]
    if not out:
        err = _LOAD.findall(report)
        out[f"{module} (load)"] = "ERROR " + (err[-1][:160] if err else "no test ran")
    return out


def available() -> str | None:
    """None when the suite can run here; else why not."""
    if not (TESTS_DIR / "test_json").exists() and not (TESTS_DIR / "test_json.py").exists():
        return f"CPython's test suite is not installed (Debian package {PACKAGE})"
    if not os.path.exists(PYTHON):
        return f"{PYTHON} is missing"
    return None


def run_module(module: str, platform: str | None, timeout: float = 300,
               kernel: str | Path | None = None) -> ModuleRun:
    """One module natively (platform None) or in the sandbox on `platform`."""
    work = Path(tempfile.mkdtemp(prefix=f"pyquark-cpython-{module}-"))
    env = dict(ENV, TMPDIR=str(work))
    args = ["-c", f"import os, sys; os.chdir({str(work)!r}); sys.argv[0] = 'python3 -m unittest'; "
                  f"import unittest; unittest.main(module=None, argv=['x', '-v', 'test.{module}'])"]
    t0 = time.monotonic()
    try:
        if platform is None:
            r = harness.run_native(PYTHON, args, env, timeout=timeout)
        else:
            r = harness.run_sandbox(PYTHON, args, env, platform=platform, timeout=timeout, kernel=kernel)
    except Exception as e:  # noqa: BLE001 - a timeout is an outcome here
        return ModuleRun(module, {f"{module} (load)": f"ERROR {type(e).__name__}: {e}"[:200]}, -1,
                         time.monotonic() - t0, "")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = r.stderr + r.stdout
    return ModuleRun(module, parse(module, report), r.status, time.monotonic() - t0, report[-3000:])


def regressions(native: ModuleRun, sandbox: ModuleRun) -> list[tuple[str, str]]:
    """(test id, sandbox outcome) for each test that passes natively but not in the sandbox."""
    return sorted((k, sandbox.outcomes.get(k, "missing (the run ended before it)"))
                  for k in native.passed() - sandbox.passed())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--platform", default="pvm")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per module and side")
    ap.add_argument("modules", nargs="*", default=MODULES)
    a = ap.parse_args(argv)
    why = available()
    if why:
        print(why, file=sys.stderr)
        return 2
    lines = [f"# CPython's regression tests natively and in the sandbox ({a.platform})", "",
             "| module | native pass/skip/fail | sandbox pass/skip/fail | native s | sandbox s |",
             "|---|---|---|---|---|"]
    details: list[str] = []
    for m in a.modules:
        n = run_module(m, None, a.timeout)
        s = run_module(m, a.platform, a.timeout)

        def counts(r: ModuleRun) -> str:
            c = [outcome_class(v) for v in r.outcomes.values()]
            return f"{c.count('pass')}/{c.count('skip')}/{c.count('fail')}"
        lines.append(f"| {m} | {counts(n)} | {counts(s)} | {n.seconds:.1f} | {s.seconds:.1f} |")
        reg = regressions(n, s)
        if reg:
            details += [f"## {m}: {len(reg)} pass natively, not in the sandbox", ""]
            details += [f"- `{k}`: {v}" for k, v in reg] + [""]
        print(lines[-1], flush=True)
    text = "\n".join(lines + [""] + details) + "\n"
    if a.out:
        a.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
