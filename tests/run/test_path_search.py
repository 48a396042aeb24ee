"""`qvisor run NAME`: a name without a slash is found along the PATH of the sandbox's own
environment, in the guest (qkernel/exec.py), as a shell finds it: the first regular file with
an execute bit wins (a directory or a file without one earlier in PATH is passed over), the
program's AT_EXECFN is the path found, a relative name with a slash is the working directory's,
and a name found only without an execute bit is "Permission denied" (126)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from run_helpers import ROOT

EXECFN = r'''
#include <stdio.h>
#include <sys/auxv.h>
int main(int argc, char **argv) { printf("%s %s\n", (char *)getauxval(AT_EXECFN), argv[0]); return 0; }
'''


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("pathsearch")
    for sub in ("a", "b", "c"):
        (d / sub).mkdir()
    src = d / "execfn.c"
    src.write_text(EXECFN)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "b" / "prog"), str(src)], check=True)
    (d / "a" / "prog").write_text("not executable\n")          # no execute bit: passed over
    (d / "c" / "prog").mkdir()                                   # a directory: passed over
    (d / "a" / "onlyhere").write_text("#!/bin/sh\n")             # found, but not executable
    return d


def qrun(kernel: Path, *argv: str, path: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "qvisor.cli", "run", "--platform", "emu", "--kernel", str(kernel),
                           "--clear-env", "--env", f"PATH={path}", "--", *argv],
                          capture_output=True, text=True, timeout=300, cwd=cwd or ROOT, env=env)


def test_first_executable_along_path_and_its_execfn(kernel, dirs):
    r = qrun(kernel, "prog", path=f"{dirs}/c:{dirs}/a:{dirs}/b")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{dirs}/b/prog prog\n"


def test_relative_name_is_the_working_directorys(kernel, dirs):
    r = qrun(kernel, "./b/prog", path="/nowhere", cwd=dirs)
    assert (r.returncode, r.stdout) == (0, "./b/prog ./b/prog\n"), r.stderr


def test_found_only_without_execute_bit_is_permission_denied(kernel, dirs):
    r = qrun(kernel, "onlyhere", path=f"{dirs}/a")
    assert r.returncode == 126 and "onlyhere: Permission denied" in r.stderr


def test_not_along_path_is_command_not_found(kernel, dirs):
    r = qrun(kernel, "prog", path=f"{dirs}/a:{dirs}/c")
    assert r.returncode == 126 and "Permission denied" in r.stderr     # a/prog is a file, no x bit
    r = qrun(kernel, "prog", path=f"{dirs}/c")
    assert r.returncode == 127 and "prog: command not found" in r.stderr
