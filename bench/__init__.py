"""pyquark benchmarks: a registry of benchmark functions, interleaved timing, markdown results.

This package owns the benchmark framework only; each workload family lives in its own module and
registers itself with `@benchmark(name, group)`:

  bench/codegen/    qkc-generated code vs gcc -O2 on the same algorithms (group "codegen")
  bench/build.py    kernel build times: clean, no-op, one module changed (group "codegen")
  bench/boot.py     `qvisor boot` process start to exit per platform (group "runtime")
  bench/runtime.py  null syscall and hello world, native vs `qvisor run` (group "runtime")
  bench/qcall.py    host-side service time: sync `out` qcall vs the async ring (group "qcall")

(bench/kvm_exit.py is a standalone script, not part of this registry.)

A benchmark function takes a `Config` and returns a `Result` (rows and notes).
`python -m bench` (bench/__main__.py) runs the registered benchmarks, prints one markdown table
per group and writes it to bench/results/<date>-<group>.md. Later families (the runtime against
native, qemu-user and gVisor) add a module, register under their own group, and get their own
results file.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

# Modules whose import registers benchmarks; __main__ imports them in this order.
MODULES = ["bench.codegen", "bench.build", "bench.boot", "bench.runtime", "bench.peers", "bench.qcall"]


@dataclass(frozen=True)
class Config:
    quick: bool = False  # fewer repetitions, smaller inputs: a check that everything runs
    reps: int = 15  # timed repetitions per side (at least 7 for reported numbers)
    warmup: int = 3


@dataclass
class Stats:
    """Seconds of each repetition, and the summary the tables show."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def lo(self) -> float:
        return min(self.samples)

    @property
    def hi(self) -> float:
        return max(self.samples)

    def fmt(self, unit: str = "ms") -> str:
        """`median unit (min–max)`, to about three significant digits."""
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]

        def num(v: float) -> str:
            v *= scale
            return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
        if len(self.samples) == 1:
            return f"{num(self.median)} {unit}"
        return f"{num(self.median)} {unit} ({num(self.lo)}–{num(self.hi)})"


@dataclass
class Row:
    """One line of a results table. `ratio` is ours/peer (lower is better for times)."""

    workload: str
    peer: str
    peer_figure: str
    ours: str
    ratio: float | None = None


@dataclass
class Result:
    """What a benchmark function returns: table rows, and notes (setup, sizes, versions) that
    are printed under the table."""

    rows: list[Row]
    notes: list[str] = field(default_factory=list)


BenchFunc = Callable[[Config], Result]


@dataclass
class Benchmark:
    name: str
    group: str
    func: BenchFunc
    doc: str = ""


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, group: str) -> Callable[[BenchFunc], BenchFunc]:
    """Registers `func(config) -> Result` as benchmark `name`, reported under `group`."""
    def register(func: BenchFunc) -> BenchFunc:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        doc = (func.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Benchmark(name, group, func, doc[0] if doc else "")
        return func
    return register


def interleaved(sides: dict[str, Callable[[], object]], *, reps: int, warmup: int,
                before: Callable[[], None] | None = None) -> dict[str, Stats]:
    """Times each side `reps` times, interleaved (a, b, a, b, ...) after `warmup` untimed rounds.

    The order within a round alternates (a b, b a, a b, ...) so that neither side always runs
    right after the other's cache/frequency footprint. `before` runs untimed before every call
    (to restore inputs a call modifies).
    """
    names = list(sides)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(warmup + reps):
        order = names if rnd % 2 == 0 else names[::-1]
        for n in order:
            if before is not None:
                before()
            fn = sides[n]
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if rnd >= warmup:
                samples[n].append(dt)
    return {n: Stats(s) for n, s in samples.items()}


def markdown_table(rows: Iterable[Row]) -> str:
    lines = ["| workload | peer | peer figure | ours | ratio |", "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "—"
        lines.append(f"| {r.workload} | {r.peer} | {r.peer_figure} | {r.ours} | {ratio} |")
    return "\n".join(lines)
