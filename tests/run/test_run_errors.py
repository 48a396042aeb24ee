"""`qvisor run` on bad input: each gives the status and message a shell would, the host unharmed.

Cases: a missing file (127), a directory, a file without execute permission, a text file, a
truncated or corrupt ELF (126 each, with the reason), a dynamically linked binary whose ELF
interpreter is missing (127, bash's words and the interpreter's path), a program that
exhausts guest memory (killed like the OOM killer would, 137) and one that writes through a wild
pointer (SIGSEGV, 139). Runs on this host's KVM platform and on emu.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from run_helpers import PLATFORMS, ROOT


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> Path:
    """Static test programs and broken executables in one directory."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("run-programs")
    srcs = {
        "hello": 'int main(void){ return 7; }',
        "eatmem": '#include <stdlib.h>\n#include <string.h>\nint main(void){ for(;;){ char *p = malloc(1<<20);'
                  ' if(!p) return 3; memset(p, 1, 1<<20);} }',
        "wild": 'int main(void){ *(volatile int *)0x12345678 = 1; return 0; }',
    }
    for name, src in srcs.items():
        (d / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-static", "-O1", "-o", str(d / name), str(d / f"{name}.c")], check=True)
    elf = (d / "hello").read_bytes()
    (d / "truncated").write_bytes(elf[:100])
    (d / "corrupt").write_bytes(elf[:18] + b"\x03\x00" + elf[20:])  # e_machine = i386
    (d / "text.sh").write_text("echo not an ELF\n")
    (d / "noexec").write_bytes(elf)
    for name in ("truncated", "corrupt", "text.sh"):
        os.chmod(d / name, 0o755)
    os.chmod(d / "noexec", 0o644)
    (d / "adir").mkdir()
    dyn = d / "dynamic"
    subprocess.run(["gcc", "-O1", "-o", str(dyn), str(d / "hello.c")], check=True)
    data = dyn.read_bytes()
    interp = b"/lib64/ld-linux-x86-64.so.2"
    assert interp in data
    (d / "nointerp").write_bytes(data.replace(interp, b"/lib64/ld-nothere-x86-64.so"))
    os.chmod(d / "nointerp", 0o755)
    return d


def qrun(kernel: Path, platform: str, *argv: str, memory: str = "256M", verbose: bool = False
         ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qvisor.cli", "run", "--platform", platform, "--memory", memory,
                           "--kernel", str(kernel), "--clear-env", *(["-v"] if verbose else []), "--", *argv],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_exit_status_passes_through(kernel, programs, platform):
    r = qrun(kernel, platform, str(programs / "hello"))
    assert r.returncode == 7, r.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name, status, message", [
    ("missing", 127, "No such file or directory"),
    ("adir", 126, "Is a directory"),
    ("noexec", 126, "Permission denied"),
    ("text.sh", 126, "not an ELF executable"),
    ("truncated", 126, ""),
    ("corrupt", 126, "x86-64"),
    ("nointerp", 127, "cannot execute: required file not found (ELF interpreter /lib64/ld-nothere-x86-64.so)"),
])
def test_bad_executables(kernel, programs, platform, name, status, message):
    r = qrun(kernel, platform, str(programs / name))
    assert r.returncode == status, r.stderr
    assert f"pyquark: {programs / name}: " in r.stderr and message in r.stderr
    assert "Traceback" not in r.stderr and "crashed" not in r.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
def test_dynamically_linked_program_runs_through_its_loader(kernel, programs, platform):
    r = qrun(kernel, platform, str(programs / "dynamic"))
    assert r.returncode == 7, r.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
def test_wild_pointer_is_sigsegv(kernel, programs, platform):
    r = qrun(kernel, platform, str(programs / "wild"))
    assert r.returncode == 139, r.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
def test_memory_exhaustion_kills_the_program_not_the_host(kernel, programs, platform):
    r = qrun(kernel, platform, str(programs / "eatmem"), memory="64M")
    assert r.returncode in (137, 3), r.stderr  # killed like the OOM killer, or malloc failed
    assert "crashed" not in r.stderr


def test_command_not_found_in_path(kernel):
    r = qrun(kernel, "emu", "no-such-command-xyz")
    assert r.returncode == 127 and "command not found" in r.stderr


def test_unknown_syscall_is_enosys_and_logged_once(kernel, programs, tmp_path):
    src = tmp_path / "nosys.c"
    src.write_text('#include <unistd.h>\n#include <sys/syscall.h>\n#include <stdio.h>\n#include <errno.h>\n'
                   'int main(void){ long a = syscall(400); int e1 = errno; long b = syscall(400);'
                   ' printf("%ld %d %ld %d\\n", a, e1, b, errno); return 0; }')
    exe = tmp_path / "nosys"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)], check=True)
    r = qrun(kernel, "emu", str(exe), verbose=True)
    assert r.returncode == 0 and r.stdout == "-1 38 -1 38\n"
    assert r.stderr.count("unsupported system call 400") == 1  # the kernel log, shown by -v


@pytest.mark.skipif("pvm" not in PLATFORMS, reason="flat and split mode both exist only on kvm_pvm hosts; "
                    "this machine's /dev/kvm is not kvm_pvm")
@pytest.mark.parametrize("mode", ["split", "flat"])
def test_both_privilege_modes_on_pvm(kernel, programs, mode):
    r = subprocess.run([sys.executable, "-m", "qvisor.cli", "run", "--platform", "pvm", "--mode", mode,
                        "--kernel", str(kernel), "--", "/bin/busybox", "expr", "6", "*", "7"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr
    r = qrun(kernel, "pvm", str(programs / "wild"))
    assert r.returncode == 139


def test_flat_mode_is_refused_off_pvm(kernel, programs):
    r = subprocess.run([sys.executable, "-m", "qvisor.cli", "run", "--platform", "emu", "--mode", "flat",
                        "--kernel", str(kernel), "--", str(programs / "hello")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "flat mode needs the pvm platform" in r.stderr
