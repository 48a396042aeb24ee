"""Stop signals to `qvisor run`: SIGINT, SIGTERM and SIGHUP stop the sandbox and qvisor exits
128 + N, as a shell reports a child killed by signal N, with no Python traceback; for a guest
spinning without system calls (which no exit brings back to the host by itself) and for one
blocked in a console read. On pvm through the C run loop and its pure-Python fallback, and on
emu. No timings are asserted: the waits are bounded only to avoid a hang."""

from __future__ import annotations

import os
import select
import signal
import subprocess

import pytest

from run_helpers import PLATFORMS, ROOT, build_c, qvisor_cmd

SPIN = ('#include <unistd.h>\nint main(void){ write(1, "ready\\n", 6);'
        ' for (volatile unsigned long i = 0;; i++) ; }')
READ = ('#include <unistd.h>\nint main(void){ char c; write(1, "ready\\n", 6);'
        ' return read(0, &c, 1) == 1 ? 0 : 5; }')
WAIT_S = 20

VARIANTS = [pytest.param(p, None, id=p) for p in PLATFORMS if p != "pvm"]
if "pvm" in PLATFORMS:
    VARIANTS[:0] = [pytest.param("pvm", None, id="pvm-c-loop"),
                    pytest.param("pvm", "1", id="pvm-python-loop")]


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("signal-programs")
    return {"spin": build_c(d, "spin", SPIN), "read": build_c(d, "read", READ)}


def _run_until_signalled(kernel, platform, pure, exe, sig):
    env = dict(os.environ)
    env.pop("QVISOR_PURE_PYTHON", None)
    if pure:
        env["QVISOR_PURE_PYTHON"] = pure
    p = subprocess.Popen(qvisor_cmd(kernel, platform, str(exe)), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        ready, _, _ = select.select([p.stdout], [], [], WAIT_S)
        line = p.stdout.readline() if ready else b""
        assert line == b"ready\n", (line, p.poll())
        p.send_signal(sig)
        _, err = p.communicate(timeout=WAIT_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("platform, pure", VARIANTS)
def test_signal_stops_a_spinning_guest(kernel, progs, platform, pure, sig):
    status, err = _run_until_signalled(kernel, platform, pure, progs["spin"], sig)
    assert status == 128 + sig, err
    assert "Traceback" not in err and "crashed" not in err, err


@pytest.mark.parametrize("platform, pure", VARIANTS)
def test_sigint_stops_a_guest_waiting_for_input(kernel, progs, platform, pure):
    status, err = _run_until_signalled(kernel, platform, pure, progs["read"], signal.SIGINT)
    assert status == 130, err
    assert "Traceback" not in err and "crashed" not in err, err
