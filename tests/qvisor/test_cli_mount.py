"""`qvisor run --mount HOST:GUEST[:ro|rw]`: parsed, checked (exit 2 with a message for a bad
spec) and passed to the VMM as Program.mounts (HostFiles' binds)."""

from __future__ import annotations

import os

import pytest

from qvisor import cli


def test_parse_mount(tmp_path, monkeypatch):
    d = str(tmp_path)
    assert cli.parse_mount(f"{d}:/data") == (d, "/data", False)
    assert cli.parse_mount(f"{d}:/data//x/:rw") == (d, "/data/x", True)
    assert cli.parse_mount(f"{d}:/data:ro") == (d, "/data", False)
    monkeypatch.chdir(tmp_path)
    assert cli.parse_mount(".:/here") == (d, "/here", False)
    for spec, why in ((f"{d}", "HOST:GUEST"), (f"{d}:/a:rx", "HOST:GUEST"), (f"{d}:/a:rw:x", "HOST:GUEST"),
                      (":/a", "no host"), (f"{d}/missing:/a", "not a directory"), (f"{d}:rel", "absolute"),
                      (f"{d}:/", "root itself"), (f"{d}:/a/../b", "'..'")):
        with pytest.raises(ValueError, match=why):
            cli.parse_mount(spec)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    (r / "prog").write_bytes(b"\x7fELF")
    os.chmod(r / "prog", 0o755)
    return r


@pytest.mark.parametrize("spec", ["nocolon", "/nonexistent-dir-xyz:/a", "{tmp}:relative", "{tmp}:/", "{tmp}:/a:bad"])
def test_a_bad_mount_is_a_usage_error(root, tmp_path, capsys, monkeypatch, spec):
    import qvisor.vmm
    monkeypatch.setattr(qvisor.vmm, "run_kernel", lambda *a, **k: pytest.fail("ran"))
    rc = cli._main(["run", "--root", str(root), "--mount", spec.format(tmp=tmp_path), "--", "/prog"])
    assert rc == cli.EXIT_USAGE
    assert "qvisor run:" in capsys.readouterr().err


def test_mounts_reach_the_program(root, tmp_path, monkeypatch, capsys):
    import qvisor.vmm
    seen = {}

    def fake_run(*_a, program=None, **_k):
        seen["mounts"] = program.mounts
        return qvisor.vmm.RunResult(0, "emu")
    monkeypatch.setattr(qvisor.vmm, "run_kernel", fake_run)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rc = cli._main(["run", "--root", str(root), "--mount", f"{tmp_path / 'a'}:/mnt/a",
                    "--mount", f"{tmp_path / 'b'}:/data/:rw", "--", "/prog"])
    assert rc == 0
    assert seen["mounts"] == [(str(tmp_path / "a"), "/mnt/a", False), (str(tmp_path / "b"), "/data", True)]
    rc = cli._main(["run", "--root", str(root), "--mount", f"{tmp_path / 'a'}:/x",
                    "--mount", f"{tmp_path / 'b'}:/x/:rw", "--", "/prog"])
    assert rc == cli.EXIT_USAGE and "same guest path" in capsys.readouterr().err


def test_a_tree_that_cannot_be_served_is_a_usage_error(root, tmp_path, monkeypatch, capsys):
    import qvisor.vmm
    from qvisor.fs import HostFiles

    def fake_run(*_a, program=None, **_k):
        HostFiles(program.root, program.mounts)
        pytest.fail("served")
    monkeypatch.setattr(qvisor.vmm, "run_kernel", fake_run)
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this host")
    rc = cli._main(["run", "--root", str(root), "--mount", "/proc:/hostproc", "--", "/prog"])
    assert rc == cli.EXIT_USAGE and "proc" in capsys.readouterr().err
