"""pyquark beside its peers (group "peers"): native, qemu-user, gVisor (runsc) and `qvisor run`.

Every per-op workload is a static binary built from bench/programs/ (gcc -static -O2) into a temp dir
(the start-to-exit rows also run Debian's own dynamic python3, bash and ls from the host root) and
run, in one process of the benchmark, on each side in turn, interleaved (A B C ..., then the
reverse order, ...) after a warm-up round:

  native     the binary itself
  qemu-user  `qemu-x86_64 BINARY ...` (Debian qemu-user; no binfmt_misc for x86-64 on an x86-64
             host, so a program it execs runs natively: see the notes)
  gVisor     `runsc --rootless --network=none do BINARY ...` (Debian runsc; the ptrace platform,
             its default: the kvm platform hangs on this PVM host)
  pyquark    `python -m qvisor.cli run --platform P --clear-env -- BINARY ...` for every platform
             `qvisor.platform.select.detect()` finds, plus emu

Per-op workloads time themselves (the program prints ns per op, from CLOCK_MONOTONIC inside the
sandbox); hello world and the busybox shell loop are timed outside, start to exit. Loop counts are
scaled per side so every run takes ~0.1-0.3 s (per-op figures stay comparable; the counts are in
the notes). A side that cannot run a workload (non-zero exit, or output that is not one number)
shows "n/a (first line of its stderr)"; a peer that is not installed shows "n/a (not installed)".
Nothing here is tuned to a workload.

`Config.quick` divides loop counts by 5 and runs 2 rounds. The chart of ratios to native is
written next to the results file by bench/chart.py.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench import Config, Result, Row, Stats, benchmark

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"
RESULTS = Path(__file__).resolve().parent / "results"

BUSYBOX = "/bin/busybox"
BUSYBOX_LOOP = ("i=0; while [ $i -lt 200 ]; do echo x | /bin/busybox cat >/dev/null; "
                "i=$((i+1)); done")
RUNSC_FLAGS = ["--rootless", "--network=none"]
TIMEOUT_S = 120


@dataclass(frozen=True)
class Workload:
    name: str  # row label
    program: str | None  # bench/programs/NAME.c, or None: run `command` (programs of the host root)
    counts: dict[str, int] = field(default_factory=dict)  # loop count per side class
    unit: str = "ns"  # "ns": per-op figure printed by the program; "s": whole process timed outside
    bandwidth_bytes: int = 0  # >0: the per-op figure is the time to move this many bytes
    command: tuple[str, ...] = ()  # argv when program is None (dynamic programs of the host)
    emu: bool = True  # False: not run on emu (too slow for the rounds of a start-to-exit row)


# Loop counts per side class ("pvm" covers every VM-backed platform; "emu" the emulator). They
# follow each side's measured per-op cost so that one run lasts about 0.1-0.3 s.
WORKLOADS = [
    Workload("null syscall: getppid() (per call)", "getppid",
             {"native": 200000, "qemu": 200000, "runsc": 10000, "pvm": 500, "emu": 2000}),
    Workload("open+read+close of a small cached file (per file)", "openread",
             {"native": 20000, "qemu": 20000, "runsc": 2000, "pvm": 5000, "emu": 500}),
    Workload("stat(2) of a file (per call)", "stat",
             {"native": 50000, "qemu": 50000, "runsc": 5000, "pvm": 15000, "emu": 1000}),
    Workload("getdents of a 1000-entry directory (per listing)", "getdents",
             {"native": 500, "qemu": 500, "runsc": 100, "pvm": 50, "emu": 5}),
    Workload("sequential read of a 64 MiB file, warm (per pass)", "readbig",
             {"native": 20, "qemu": 10, "runsc": 5, "pvm": 5, "emu": 1}, bandwidth_bytes=64 << 20),
    Workload("writing 64 MiB to a new file in /tmp (per file)", "writetmp",
             {"native": 10, "qemu": 5, "runsc": 3, "pvm": 2, "emu": 1}, bandwidth_bytes=64 << 20),
    Workload("page fault: touch fresh pages of an mmap (per 4 KiB page)", "pagefault",
             {"native": 20000, "qemu": 20000, "runsc": 20000, "pvm": 1000, "emu": 2000}),
    Workload("mmap+munmap of 64 KiB, untouched (per pair)", "mmap",
             {"native": 20000, "qemu": 20000, "runsc": 2000, "pvm": 100, "emu": 1000}),
    Workload("pipe latency: 1-byte round trip between two processes", "pipelat",
             {"native": 20000, "qemu": 20000, "runsc": 1000, "pvm": 1000, "emu": 200}),
    Workload("pipe bandwidth: 64 KiB writes to a reading child", "pipebw",
             {"native": 5000, "qemu": 5000, "runsc": 2000, "pvm": 1000, "emu": 50}, bandwidth_bytes=65536),
    Workload("fork+exit+wait (per child)", "fork",
             {"native": 1000, "qemu": 100, "runsc": 100, "pvm": 100, "emu": 3}),
    Workload("fork+exec+wait of a static binary (per child)", "forkexec",
             {"native": 300, "qemu": 100, "runsc": 30, "pvm": 30, "emu": 2}),
    Workload("thread create+join (per thread)", "threadjoin",
             {"native": 5000, "qemu": 1000, "runsc": 200, "pvm": 1000, "emu": 20}),
    Workload("futex ping-pong between two threads (per round trip)", "futexpp",
             {"native": 20000, "qemu": 5000, "runsc": 1000, "pvm": 3000, "emu": 200}),
    Workload("hello world, process start to exit", "hello", unit="s"),
    Workload("clock_gettime(CLOCK_MONOTONIC) through libc (per call)", "clockgettime",
             {"native": 200000, "qemu": 200000, "runsc": 50000, "pvm": 200000, "emu": 20000}),
    Workload("busybox sh: 200 x (echo x | busybox cat)", None, unit="s",
             command=(BUSYBOX, "sh", "-c", BUSYBOX_LOOP)),
    Workload("python3 -c pass, start to exit", None, unit="s", command=("/usr/bin/python3", "-c", "pass"),
             emu=False),
    Workload("python3 -c 'import json, subprocess, sqlite3', start to exit", None, unit="s",
             command=("/usr/bin/python3", "-c", "import json, subprocess, sqlite3"), emu=False),
    Workload("bash -c: 100 x /bin/true, start to exit", None, unit="s",
             command=("/bin/bash", "-c", "for i in $(seq 100); do /bin/true; done"), emu=False),
    Workload("ls -la /usr/lib, start to exit", None, unit="s", command=("/bin/ls", "-la", "/usr/lib"),
             emu=False),
]


class NotAvailable(Exception):
    """A side cannot produce a figure; the message is the reason shown as n/a (...)."""


@dataclass
class Run:
    wall_s: float
    stdout: str
    stderr: str
    returncode: int
    maxrss_kb: int


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> Run:
    """Runs argv to completion; wall time from spawn to reap, and the child's peak RSS (wait4's
    ru_maxrss: the largest single process among the child and the descendants it reaped)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   proc.returncode, ru.ru_maxrss)


def _reason(run: Run, what: str) -> str:
    lines = [ln.strip() for ln in run.stderr.splitlines() if ln.strip()]
    rc = run.returncode
    status = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
    if lines:
        return f"{lines[0][:90]}; {status}"
    return f"{what}: {status}, no stderr"


@dataclass
class Side:
    name: str  # column label: native, qemu-user, gVisor, pyquark/pvm, ...
    kind: str  # key into Workload.counts
    prefix: list[str]  # argv before the program
    missing: str | None = None  # why this side cannot run at all
    env: dict[str, str] | None = None


def _pyquark_platforms() -> list[str]:
    from qvisor.platform.select import detect
    name, _ = detect()
    return [name, "emu"] if name != "emu" else ["emu"]


def _check_runsc() -> str | None:
    """None when `runsc do` works here; else the reason (its exact error)."""
    exe = shutil.which("runsc")
    if exe is None:
        return "not installed: Debian package runsc (make bench installs it)"
    try:
        run = _run([exe, *RUNSC_FLAGS, "do", "/bin/true"], cwd=ROOT, timeout=60)
    except OSError as e:
        return f"runsc: {e}"
    if run.returncode != 0:
        return "runsc do /bin/true: " + _reason(run, "runsc")
    return None


def sides() -> list[Side]:
    out = [Side("native", "native", [])]
    qemu = shutil.which("qemu-x86_64")
    out.append(Side("qemu-user", "qemu", [qemu] if qemu else [],
                    None if qemu else "not installed: Debian package qemu-user (make bench installs it)"))
    runsc = shutil.which("runsc") or "runsc"
    out.append(Side("gVisor", "runsc", [runsc, *RUNSC_FLAGS, "do"], _check_runsc()))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for p in _pyquark_platforms():
        out.append(Side(f"pyquark/{p}", "emu" if p == "emu" else "pvm",
                        [sys.executable, "-m", "qvisor.cli", "run", "--platform", p, "--clear-env", "--"],
                        env=env))
    return out


def build(program: str, out_dir: Path) -> Path:
    out = out_dir / program
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(PROGRAMS / f"{program}.c")],
                   check=True, capture_output=True, text=True)
    return out


def build_all(out_dir: Path) -> dict[str, Path]:
    return {w.program: build(w.program, out_dir) for w in WORKLOADS if w.program}


@dataclass
class Cell:
    """One side's figures for one workload: seconds per op (or per process), or why not."""

    samples: list[float] = field(default_factory=list)
    na: str | None = None
    count: int | None = None
    maxrss_kb: list[int] = field(default_factory=list)

    @property
    def stats(self) -> Stats | None:
        return Stats(self.samples) if self.samples and self.na is None else None


def _argv(w: Workload, side: Side, exes: dict[str, Path], small: Path, divisor: int) -> tuple[list[str], int | None]:
    if w.program is None:
        return [*side.prefix, *w.command], None
    exe = str(exes[w.program])
    if w.unit == "s":
        return [*side.prefix, exe], None
    n = max(1, w.counts[side.kind] // divisor)
    return [*side.prefix, exe, str(n), str(small)], n


def _measure(w: Workload, side: Side, argv: list[str]) -> tuple[float, int]:
    run = _run(argv, cwd=ROOT, env=side.env)
    if run.returncode != 0:
        raise NotAvailable(_reason(run, side.name))
    if w.unit == "s":
        if w.program == "hello" and run.stdout.strip() != "hello, world":
            raise NotAvailable(f"wrong output {run.stdout.strip()[:40]!r}")
        return run.wall_s, run.maxrss_kb
    try:
        return float(run.stdout.strip()) * 1e-9, run.maxrss_kb
    except ValueError:
        raise NotAvailable(f"unparseable output {run.stdout.strip()[:40]!r}") from None


def inputs(d: Path) -> Path:
    """The files the per-op programs read, in d: the small file (its path is their argv[2]),
    and beside it dir1000/ (getdents) and big64 (readbig). Returns the small file's path."""
    small = d / "small.txt"
    small.write_text("a small file, read whole by the open+read+close loop\n")
    listed = d / "dir1000"
    listed.mkdir(exist_ok=True)
    for k in range(1000):
        (listed / f"entry-{k:04d}").touch()
    with open(d / "big64", "wb") as big:
        big.write(os.urandom(1 << 20) * 64)
    return small


def measure_all(cfg: Config, workloads: list[Workload] = WORKLOADS,
                progress: Callable[[str], None] | None = None) -> tuple[list[Side], dict[str, dict[str, Cell]]]:
    reps = 2 if cfg.quick else 7
    warmup = 1
    divisor = 5 if cfg.quick else 1
    all_sides = sides()
    table: dict[str, dict[str, Cell]] = {}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        exes = build_all(Path(tmp))
        small = inputs(Path(tmp))
        for w in workloads:
            if progress:
                progress(w.name)
            cells = {s.name: Cell(na=s.missing) for s in all_sides}
            if not w.emu:
                for s in all_sides:
                    if s.kind == "emu" and cells[s.name].na is None:
                        cells[s.name].na = "not run on emu (too slow for this row's rounds)"
            for rnd in range(warmup + reps):
                order = all_sides if rnd % 2 == 0 else all_sides[::-1]
                for s in order:
                    cell = cells[s.name]
                    if cell.na is not None:
                        continue
                    argv, cell.count = _argv(w, s, exes, small, divisor)
                    try:
                        v, rss = _measure(w, s, argv)
                    except NotAvailable as e:
                        cell.na = str(e)
                        continue
                    if rnd >= warmup:
                        cell.samples.append(v)
                        cell.maxrss_kb.append(rss)
            table[w.name] = cells
    return all_sides, table


def _fmt(w: Workload, cell: Cell) -> str:
    if cell.na is not None:
        return f"n/a ({cell.na})"
    st = cell.stats
    assert st is not None
    if w.bandwidth_bytes:
        def mib(v: float) -> str:
            return f"{w.bandwidth_bytes / v / 2**20:.0f}"
        # slower time = lower bandwidth: min time is max bandwidth
        return f"{mib(st.median)} MiB/s ({mib(st.hi)}–{mib(st.lo)})"
    if w.unit == "s":
        return st.fmt("ms")
    return st.fmt("us")


def _ratio(a: Cell, b: Cell) -> float | None:
    sa, sb = a.stats, b.stats
    return sa.median / sb.median if sa and sb else None


def rows_for(all_sides: list[Side], table: dict[str, dict[str, Cell]]) -> list[Row]:
    rows: list[Row] = []
    peers = [s.name for s in all_sides if not s.name.startswith("pyquark/")]
    ours = [s.name for s in all_sides if s.name.startswith("pyquark/")]
    for w in WORKLOADS:
        if w.name not in table:
            continue
        cells = table[w.name]
        native = cells["native"]
        # pyquark platforms that all failed the same way share one set of rows
        groups: list[list[str]] = []
        for o in ours:
            same = next((g for g in groups if cells[g[0]].na is not None and cells[g[0]].na == cells[o].na), None)
            if same is not None:
                same.append(o)
            else:
                groups.append([o])
        for g in groups:
            label = f"{w.name} — pyquark on {', '.join(x.split('/')[1] for x in g)}"
            ourcell = cells[g[0]]
            for p in peers:
                pc = cells[p]
                peer = "gVisor (runsc, ptrace)" if p == "gVisor" else p
                r = _ratio(pc, native)
                if p != "native" and r is not None:
                    peer += f", {r:.2f}x native"
                rows.append(Row(label, peer, _fmt(w, pc), _fmt(w, ourcell), _ratio(ourcell, pc)))
    return rows


def notes_for(all_sides: list[Side], table: dict[str, dict[str, Cell]], cfg: Config,
              rss: dict[str, str] | None = None) -> list[str]:
    reps = 2 if cfg.quick else 7
    notes = [
        f"{reps} timed runs per side after 1 warm-up run, sides interleaved (order reversed every other "
        "round); figures are medians (min–max). `ratio` = pyquark's median / the peer's (lower is better; "
        "for pipe bandwidth, the inverse of the throughput ratio). The peer column also gives the peer's own "
        "ratio to native.",
        "per-op figures are timed inside the program (CLOCK_MONOTONIC, the sandbox's own clock); the "
        "start-to-exit rows (hello world, the busybox loop, python3, bash, ls: the last four Debian's own "
        "dynamically linked programs from the host root) are timed outside, spawn to reap, and include "
        "each runtime's start-up (for pyquark: the Python interpreter, imports, VM creation, the kernel's boot).",
        "sides: native; qemu-user = `qemu-x86_64 PROG`; gVisor = `runsc " + " ".join(RUNSC_FLAGS)
        + " do PROG` (ptrace platform, as root in this container; runsc's kvm platform hangs on this PVM host); "
        "pyquark = `python -m qvisor.cli run --platform P --clear-env -- PROG` (guest RAM: the default, 1 GiB).",
        "qemu-user has no binfmt_misc entry for x86-64 on an x86-64 host, so a program it execs (fork+exec, "
        "the busybox loop's `cat`, the bash loop's `true`) runs natively: those qemu figures only emulate the parent.",
    ]
    counts = {}
    for w in WORKLOADS:
        if w.unit == "ns" and w.name in table:
            counts[w.program] = {s.name: table[w.name][s.name].count for s in all_sides
                                 if table[w.name][s.name].count is not None}
    notes.append("loop counts per run (scaled per side so a run lasts ~0.1–0.3 s; per-op figures stay comparable; "
                 "pyquark's are small because a syscall costs ~0.2 ms on pvm): "
                 + "; ".join(f"{prog} " + ", ".join(f"{k} {v}" for k, v in c.items()) for prog, c in counts.items()))
    if rss:
        notes.append("peak RSS, hello world (host side, `/usr/bin/time -f %M`: the largest single process of the "
                     "tree, not the sum; runsc's sandbox and gofer are separate processes): "
                     + ", ".join(f"{k} {v}" for k, v in rss.items())
                     + ". pyquark's guest RAM is the default `--memory` (1 GiB), host memory mapped on demand.")
    nas = sorted({(s.name, c.na) for cells in table.values() for s in all_sides
                  for c in [cells[s.name]] if c.na})
    if nas:
        notes.append("n/a: a side that exits non-zero or prints no number for a workload shows the first line of "
                     "its stderr; nothing is retried or tuned.")
    return notes


def peak_rss(all_sides: list[Side]) -> dict[str, str]:
    """Hello world's peak RSS per side, one untimed run each under /usr/bin/time -f %M (a small
    forking parent: the wait4 figure of a child forked from this Python process would include the
    parent's RSS, which Linux carries across exec)."""
    timebin = shutil.which("time", path="/usr/bin:/bin")
    if timebin is None:
        return {}
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="peers-rss-") as tmp:
        exe = build("hello", Path(tmp))
        for s in all_sides:
            if s.missing:
                out[s.name] = f"n/a ({s.missing})"
                continue
            fmt = Path(tmp) / "rss"
            run = _run([timebin, "-o", str(fmt), "-f", "%M", *s.prefix, str(exe)], cwd=ROOT, env=s.env)
            try:
                kb = int(fmt.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                out[s.name] = "n/a (" + _reason(run, s.name) + ")"
                continue
            out[s.name] = f"{kb / 1024:.1f} MiB" + ("" if run.returncode == 0 else f" (exit {run.returncode})")
    return out


def ratios_to_native(all_sides: list[Side], table: dict[str, dict[str, Cell]]
                     ) -> list[tuple[str, list[tuple[str, float | None]]]]:
    """For the chart: per workload, each non-native side's median / native's (None: n/a)."""
    out = []
    for w in WORKLOADS:
        if w.name in table:
            cells = table[w.name]
            out.append((w.name, [(s.name, _ratio(cells[s.name], cells["native"]))
                                 for s in all_sides if s.name != "native"]))
    return out


@benchmark("peers", "peers")
def peers(cfg: Config) -> Result:
    """Native, qemu-user, gVisor and pyquark per platform, on every workload of WORKLOADS."""
    def progress(name: str) -> None:
        print(f"  peers: {name}", file=sys.stderr, flush=True)
    all_sides, table = measure_all(cfg, progress=progress)
    rows = rows_for(all_sides, table)
    notes = notes_for(all_sides, table, cfg, peak_rss(all_sides))
    try:
        from bench.chart import write_ratio_chart
        png = RESULTS / f"{datetime.date.today():%Y-%m-%d}-peers.png"
        RESULTS.mkdir(exist_ok=True)
        write_ratio_chart(png, ratios_to_native(all_sides, table),
                          "median time / native's (log scale; lower is better)")
        notes.append(f"chart of the ratios to native: {png.name}")
    except ImportError:
        pass
    return Result(rows, notes)
