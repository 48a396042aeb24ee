"""The runtime beside native (group "runtime"): a null-syscall loop and hello world start to exit.

Workloads are static binaries built from bench/programs/ (gcc -static -O2). Each runs natively and
under `qvisor run` on every available platform, interleaved; figures are medians. The null
syscall is getppid(2) through syscall(2), timed inside the program (ns per call); hello world is
the whole process, start to exit, as the caller sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import Config, Result, Row, Stats, benchmark, interleaved

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"


def _build(name: str, out_dir: Path) -> Path:
    out = out_dir / name
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(PROGRAMS / f"{name}.c")], check=True)
    return out


def _platforms() -> list[str]:
    from qvisor.platform.select import detect
    name, _ = detect()
    return [name, "emu"] if name != "emu" else ["emu"]


def _kernel() -> Path:
    from toolchain.driver import build_kernel
    out = ROOT / "build" / "kernel.elf"
    build_kernel(out)
    return out


def _sandbox(platform: str, kernel: Path, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "qvisor.cli", "run", "--platform", platform, "--kernel", str(kernel),
            "--clear-env", "--", *argv]


@benchmark("null-syscall", "runtime")
def null_syscall(cfg: Config) -> Result:
    """getppid() ns/call: native vs pyquark per platform."""
    kernel = _kernel()
    reps = 3 if cfg.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        exe = _build("getppid", Path(tmp))
        n = {"native": 200000}
        for p in _platforms():
            n[p] = 2000 if p == "pvm" else 20000
        samples: dict[str, list[float]] = {k: [] for k in n}
        for _ in range(reps):
            for side, count in n.items():
                cmd = [str(exe), str(count)] if side == "native" else _sandbox(side, kernel, [str(exe), str(count)])
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
                samples[side].append(float(out.strip()) * 1e-9)
    native = Stats(samples.pop("native"))
    rows = [Row(f"getppid() via syscall(2), pyquark on {p}", "native", native.fmt("us"), Stats(s).fmt("us"),
                Stats(s).median / native.median) for p, s in samples.items()]
    return Result(rows, [f"{reps} runs per side, timed inside the program; loop counts: {n}"])


@benchmark("hello", "runtime")
def hello(cfg: Config) -> Result:
    """Hello world, process start to exit: native vs `qvisor run` per platform."""
    kernel = _kernel()
    reps = 5 if cfg.quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        exe = _build("hello", Path(tmp))
        devnull = subprocess.DEVNULL
        sides = {"native": lambda: subprocess.run([str(exe)], check=True, stdout=devnull)}
        for p in _platforms():
            sides[p] = (lambda p=p: subprocess.run(_sandbox(p, kernel, [str(exe)]), check=True, stdout=devnull,
                                                   cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}))
        stats = interleaved(sides, reps=reps, warmup=1)
    native = stats.pop("native")
    rows = [Row(f"hello world start to exit, pyquark on {p}", "native", native.fmt("ms"), st.fmt("ms"),
                st.median / native.median) for p, st in stats.items()]
    return Result(rows, [f"{reps} runs per side, interleaved, median (min–max)"])


@benchmark("host-calls", "runtime")
def host_calls(cfg: Config) -> Result:
    """A synchronous qcall (fstat of stdin), an asynchronous one on the ring (1-byte read of
    stdin = /dev/zero) and no host call (getppid), ns per call from inside the program."""
    kernel = _kernel()
    reps = 3 if cfg.quick else 5
    kinds = ["fstat(0): synchronous qcall", "read(0, 1 byte): ring qcall, task parked",
             "getppid(): no host call"]
    with tempfile.TemporaryDirectory() as tmp:
        exe = _build("hostcalls", Path(tmp))
        n = {"native": 100000}
        for p in _platforms():
            n[p] = 500 if p == "pvm" else 2000
        samples: dict[str, list[list[float]]] = {k: [[], [], []] for k in n}
        for _ in range(reps):
            for side, count in n.items():
                cmd = [str(exe), str(count)] if side == "native" else _sandbox(side, kernel, [str(exe), str(count)])
                with open(os.devnull, "rb") as _, open("/dev/zero", "rb") as zero:
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                                         stdin=zero).stdout
                for i, v in enumerate(out.split()):
                    samples[side][i].append(float(v) * 1e-9)
    native = [Stats(s) for s in samples.pop("native")]
    rows = []
    for p, per_kind in samples.items():
        for i, kind in enumerate(kinds):
            st = Stats(per_kind[i])
            rows.append(Row(f"{kind}, pyquark on {p}", "native", native[i].fmt("us"), st.fmt("us"),
                            st.median / native[i].median))
    return Result(rows, [f"{reps} runs per side, timed inside the program; loop counts: {n}"])
