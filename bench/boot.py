"""Boot time: `qvisor boot` from process start to exit, per platform (group "runtime").

Each run is a whole `qvisor boot` process (interpreter start, imports, VM setup, the kernel's
self-test with three timer ticks, banner, exit), interleaved with the floor every Python tool
pays: `python -c pass` from the same venv. The in-process figure (`run_kernel` alone, VM
creation to exit) separates what QVisor and the guest cost from interpreter start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import Config, Result, Row, Stats, benchmark, interleaved

ROOT = Path(__file__).resolve().parent.parent


def _kernel() -> Path:
    from toolchain.driver import build_kernel
    out = ROOT / "build" / "kernel.elf"
    build_kernel(out)
    return out


def _platforms() -> list[str]:
    from qvisor.platform.select import detect
    name, _ = detect()
    return [name, "emu"] if name != "emu" else ["emu"]


@benchmark("boot", "runtime")
def boot_time(cfg: Config) -> Result:
    """qvisor boot, process start to exit, on each platform; beside `python -c pass`."""
    kernel = _kernel()
    reps = 5 if cfg.quick else max(cfg.reps // 2, 7)
    devnull = subprocess.DEVNULL
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    sides = {"python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)}
    for p in _platforms():
        sides[p] = (lambda p=p: subprocess.run(
            [sys.executable, "-m", "qvisor.cli", "boot", "--platform", p, "--kernel", str(kernel)],
            check=True, stdout=devnull, env=env, cwd=ROOT))
    stats = interleaved(sides, reps=reps, warmup=1)
    floor = stats.pop("python -c pass")
    rows = []
    for p, st in stats.items():
        rows.append(Row(f"qvisor boot --platform {p} (process start to exit)", "python -c pass",
                        floor.fmt("ms"), st.fmt("ms"), st.median / floor.median))
    from qkernel import abi as K
    from qvisor.vmm import run_kernel
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for p in _platforms():
            inproc = Stats([run_kernel(kernel, platform=p, flags=K.BOOT_SELFTEST, stdout=null).seconds
                            for _ in range(reps)])
            rows.append(Row(f"run_kernel on {p} (VM setup + guest, in process)", "—", "—",
                            inproc.fmt("ms")))
    finally:
        os.close(null)
    notes = [f"{reps} runs per side, interleaved, median (min–max); the self-test waits for three "
             "x2APIC timer ticks of ~1 ms; target: under 100 ms end to end on pvm"]
    return Result(rows, notes)
