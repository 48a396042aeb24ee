"""`qvisor run --mount HOST:GUEST[:ro|rw]`: a rw bind is the host's directory itself (the
program's changes land on the host exactly as they do natively), a ro bind refuses every
change with EROFS and leaves the host's files as they were; both show in /proc/mounts."""

from __future__ import annotations

import os
import subprocess

import pytest
from run_helpers import PLATFORMS, ROOT, qvisor_cmd
from test_overlay import overlay_exe, snapshot  # noqa: F401 - the fixture is used by name

BUSYBOX = "/bin/busybox"


def tree(top):
    (top / "sub").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "file").write_text("lower\n")
    (top / "sub" / "a").write_text("a\n")
    (top / "sub" / "b").write_text("b\n")
    os.symlink("file", top / "link")
    return top


def run(kernel, platform, binds, *argv):
    cmd = qvisor_cmd(kernel, platform, *argv)
    at = cmd.index("--clear-env")
    for b in binds:
        cmd[at:at] = ["--mount", b]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rw_bind_changes_the_host_as_natively(kernel, overlay_exe, tmp_path, platform):  # noqa: F811
    native, shared = tree(tmp_path / "native"), tree(tmp_path / "shared")
    want = subprocess.run([str(overlay_exe), str(native)], capture_output=True, text=True, timeout=60)
    assert want.returncode == 0, want.stdout
    r = run(kernel, platform, [f"{shared}:/data:rw"], str(overlay_exe), "/data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == want.stdout
    assert sorted(os.listdir(shared)) == sorted(os.listdir(native)) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ro_bind_refuses_changes(kernel, tmp_path, platform):
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox is not installed (Debian package busybox-static)")
    ro = tree(tmp_path / "ro")
    before = snapshot(ro)
    script = ("read l < /srv/x/file; echo got $l; echo new > /srv/x/file; echo new > /srv/x/other; "
              "while read m; do case $m in *' /srv/x '*) echo $m;; esac; done < /proc/mounts")
    r = run(kernel, platform, [f"{ro}:/srv/x"], BUSYBOX, "sh", "-c", script)
    assert "got lower" in r.stdout
    assert r.stderr.count("Read-only file system") == 2, r.stderr
    assert "/srv/x /srv/x bind ro" in r.stdout
    assert snapshot(ro) == before
