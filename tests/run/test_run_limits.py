"""How a sandbox run ends at its limits: --timeout (status 124 and one line, as timeout(1)), guest
memory exhausted (137 and an "out of memory" line, as the OOM killer logs; a program's own
exit(137) prints nothing), and the default guest memory: large enough for a 300 MB program,
mapped on demand so that an idle sandbox's host RSS does not grow with it. No timings are
asserted."""

from __future__ import annotations

import os
import subprocess

import pytest

from qvisor.memory import MiB, default_guest_memory
from run_helpers import PLATFORMS, ROOT, build_c, qvisor_cmd

SPIN = "int main(void){ for (volatile unsigned long i = 0;; i++) ; }"
EATMEM = ('#include <stdlib.h>\n#include <string.h>\nint main(void){ for(;;){ char *p = malloc(1<<20);'
          ' if(!p) return 3; memset(p, 1, 1<<20);} }')
EXIT137 = "int main(void){ return 137; }"
BIG = ('#include <stdlib.h>\nint main(void){ size_t n = 300u << 20; volatile char *p = malloc(n);'
       ' if (!p) return 3; for (size_t i = 0; i < n; i += 4096) p[i] = 1; return 0; }')
HELLO = "int main(void){ return 0; }"


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("limit-programs")
    return {name: build_c(d, name, src) for name, src in
            (("spin", SPIN), ("eatmem", EATMEM), ("exit137", EXIT137), ("big", BIG), ("hello", HELLO))}


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_timeout_is_124_with_one_line(kernel, progs, platform):
    cmd = qvisor_cmd(kernel, platform, str(progs["spin"]))
    cmd[cmd.index("run") + 1: cmd.index("run") + 1] = ["--timeout", "1"]
    r = run(cmd)
    assert r.returncode == 124, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "timed out" in lines[0] and "1 s" in lines[0], r.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
def test_out_of_memory_is_137_with_one_line(kernel, progs, platform):
    r = run(qvisor_cmd(kernel, platform, str(progs["eatmem"]), memory="64M"))
    assert r.returncode == 137, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "out of memory" in lines[0] and "eatmem" in lines[0], r.stderr


def test_exit_137_of_its_own_prints_nothing(kernel, progs):
    r = run(qvisor_cmd(kernel, PLATFORMS[0], str(progs["exit137"]), memory="64M"))
    assert (r.returncode, r.stderr) == (137, "")


def test_default_memory_runs_a_300_mb_program(kernel, progs):
    if default_guest_memory() < 512 * MiB:
        pytest.skip(f"this host's RAM bounds the default guest memory to {default_guest_memory() >> 20} MiB")
    r = run(qvisor_cmd(kernel, PLATFORMS[0], str(progs["big"])))
    assert r.returncode == 0, r.stderr


def _max_rss_kib(cmd: list[str]) -> int:
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        p.returncode = 0          # reaped by wait4
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss


@pytest.mark.parametrize("platform", PLATFORMS)
def test_idle_host_rss_does_not_grow_with_the_default_memory(kernel, progs, platform):
    small = _max_rss_kib(qvisor_cmd(kernel, platform, str(progs["hello"]), memory="64M"))
    default = _max_rss_kib(qvisor_cmd(kernel, platform, str(progs["hello"])))
    assert default < small + 32 * 1024, (small, default)  # KiB; the default maps far more than 32 MiB
