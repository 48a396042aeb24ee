"""Blocking host operations park the task, not the vCPU: a console read whose input comes late
and a nanosleep go through the asynchronous qcall ring (qkernel/task/hostio.py), the idle task
waits in the host for the completion (QCALL_RING_WAIT), and the program sees what it would
natively. Runs on this host's KVM platform and on emu."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from qkernel import abi as K

BUSYBOX = "/bin/busybox"


def _platforms() -> list:
    from qvisor.platform.select import detect
    name, _ = detect()
    return ["emu"] if name == "emu" else [name, "emu"]


pytestmark = pytest.mark.skipif(not Path(BUSYBOX).exists() or shutil.which("gcc") is None,
                                reason="needs Debian's busybox-static")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> Path:
    from toolchain.driver import build_kernel
    out = tmp_path_factory.mktemp("hostio-kernel") / "kernel.elf"
    build_kernel(out, out.parent / "cache")
    return out


def run(kernel: Path, platform: str, argv: list[str], stdin: int, stdout: int):
    from qvisor.vmm import Program, run_kernel
    return run_kernel(kernel, platform=platform, stdin=stdin, stdout=stdout, timeout=60,
                      program=Program(BUSYBOX, argv, []), mem_size=256 << 20)


@pytest.mark.parametrize("platform", _platforms())
def test_a_read_waiting_for_input_parks_the_task(kernel, platform, tmp_path):
    r_fd, w_fd = os.pipe()
    out = tmp_path / "out"

    def late_writer():
        # once the program has started (its first line is out), it soon parks in read(0)
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_bytes().startswith(b"ready\n")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        os.write(w_fd, b"late line\n")
        os.close(w_fd)

    writer = threading.Thread(target=late_writer)
    writer.start()
    with open(out, "wb") as f:
        res = run(kernel, platform, ["sh", "-c", "echo ready; read line; echo \"$line\""], r_fd, f.fileno())
    writer.join()
    os.close(r_fd)
    assert res.status == 0, res.log
    assert out.read_bytes() == b"ready\nlate line\n"
    assert res.qcalls.get(K.QCALL_RING_SETUP) == 1
    assert K.QCALL_CONSOLE_READ not in res.qcalls       # served on the ring, not by an exit
    assert res.qcalls.get(K.QCALL_RING_WAIT, 0) >= 1   # the idle task waited for it


@pytest.mark.parametrize("platform", _platforms())
def test_nanosleep_parks_the_task_and_sleeps_long_enough(kernel, platform, tmp_path):
    with open(os.devnull, "rb") as null_in, open(tmp_path / "out", "wb") as f:
        t0 = time.monotonic()
        res = run(kernel, platform, ["sleep", "0.2"], null_in.fileno(), f.fileno())
        elapsed = time.monotonic() - t0
    assert res.status == 0, res.log
    assert elapsed >= 0.2                                # never shorter than asked (not a timing bound)
    assert K.QCALL_NANOSLEEP not in res.qcalls
    assert res.qcalls.get(K.QCALL_RING_WAIT, 0) >= 1
