"""The sandbox root as an overlay: a program changes files and directories of its host root
(append, truncate, chmod, unlink, rename, rmdir, mkdir over a removed name, symlinks) and sees
every change, while the host's tree stays exactly as it was, and a second run starts from the
host's tree again (what a sandbox writes vanishes when it ends)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from run_helpers import PLATFORMS, ROOT, qvisor_cmd

SRC = ROOT / "userland_tests" / "overlay.c"


@pytest.fixture(scope="module")
def overlay_exe(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("overlay-bin") / "overlay"
    subprocess.run(["gcc", "-static", "-O1", "-I", str(SRC.parent), "-o", str(out), str(SRC)], check=True)
    return out


def make_root(base, exe):
    root = base / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(exe, root / "bin" / "overlay")
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "empty").mkdir()
    (data / "file").write_text("lower\n")
    (data / "sub" / "a").write_text("a\n")
    (data / "sub" / "b").write_text("b\n")
    os.symlink("file", data / "link")
    (base / "outside").write_text("SENTINEL\n")
    return root


def snapshot(top):
    """Every name under top: kind, mode, size, mtime, content or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            s = os.lstat(p)
            extra = os.readlink(p) if os.path.islink(p) else (
                open(p, "rb").read() if os.path.isfile(p) else None)
            out[os.path.relpath(p, top)] = (s.st_mode, s.st_size, s.st_mtime_ns, s.st_ino, extra)
    return out


def native_expected(exe, tmp_path):
    """The program's output on a copy of the tree on the host (everything writable there)."""
    work = tmp_path / "native"
    shutil.copytree(make_root(tmp_path / "n", exe) / "data", work, symlinks=True)
    r = subprocess.run([str(exe), str(work)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.parametrize("platform", PLATFORMS)
def test_changes_stay_in_the_sandbox(kernel, overlay_exe, tmp_path, platform):
    root = make_root(tmp_path / "sb", overlay_exe)
    before = snapshot(tmp_path / "sb")
    want = native_expected(overlay_exe, tmp_path / "cmp")
    for attempt in range(2):
        cmd = qvisor_cmd(kernel, platform, "/bin/overlay", "/data")
        at = cmd.index("--clear-env")
        cmd[at:at] = ["--root", str(root)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"run {attempt}: {r.stdout}{r.stderr}"
        assert r.stdout == want, f"run {attempt}"
        assert snapshot(tmp_path / "sb") == before, f"run {attempt} changed the host's files"
