"""Kernel build times: clean build, no-op rebuild, and rebuilds after one qkernel module changed.

Owns the build benchmark (group "codegen"). It works on a snapshot of qkernel/ and boot/ copied into a
temporary root (so it can edit a module without touching the working tree, and so the tree other
people are editing cannot change under a measurement), and calls
`toolchain.driver.build_kernel(output, cache_dir, root=snapshot)`:

  clean build     a fresh, empty cache dir and no output each time
  no-op rebuild   the same call again: same cache, same output (the manifest check skips it)
  edit, comment   one module gets a new comment line: the manifest is stale, but the module's
                  IR, hence every object, is unchanged (all cached, 0 compiled)
  edit, code      one module gets a new function: that module's object is rebuilt

If the kernel does not link yet (boot/ referring to symbols qkernel/ does not define, while the
tree is being written), the benchmark times `compile_objects` (everything but the link) instead
and says so in its notes.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import Config, Result, Row, Stats, benchmark

MARK = "# bench/build.py edit"


def snapshot(dest: Path) -> Path:
    """Copies qkernel/ and boot/ under dest; returns the new root."""
    from toolchain.driver import KERNEL_PACKAGE, PROJECT_ROOT
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PROJECT_ROOT / KERNEL_PACKAGE, dest / KERNEL_PACKAGE, ignore=ignore)
    shutil.copytree(PROJECT_ROOT / "boot", dest / "boot", ignore=ignore)
    return dest


def pick_module(root: Path) -> Path:
    """The module to edit: the largest kernel module file (a leaf-ish, typical one)."""
    files = [p for p in (root / "qkernel").rglob("*.py") if p.name != "dialect.py"]
    return max(files, key=lambda p: (p.stat().st_size, str(p)))


class Builder:
    """build_kernel on the snapshot, or compile_objects when the kernel does not link yet."""

    def __init__(self, root: Path) -> None:
        from toolchain.driver import Sources
        from toolchain.link import LinkError
        self.root = root
        self.sources = Sources.kernel(root)
        self.link_error: str | None = None
        with tempfile.TemporaryDirectory(prefix="qk-bench-probe-") as d:
            try:
                self._build_kernel(Path(d) / "kernel.elf", Path(d) / "cache")
            except LinkError as e:  # the tree is work in progress: time what can be built
                self.link_error = str(e).replace("\n", " ")

    @property
    def mode(self) -> str:
        return "compile_objects" if self.link_error else "build_kernel"

    def _build_kernel(self, out: Path, cache: Path):  # noqa: ANN202
        from toolchain.driver import build_kernel
        return build_kernel(out, cache, root=self.root)

    def build(self, out: Path, cache: Path):  # noqa: ANN201
        """One build; returns (seconds, BuildStats)."""
        from toolchain.driver import BuildStats, compile_objects
        t0 = time.perf_counter()
        if self.link_error is None:
            stats = self._build_kernel(out, cache)
        else:
            stats = BuildStats()
            compile_objects(self.sources, cache, boot_dir=self.root / "boot", stats=stats)
        return time.perf_counter() - t0, stats



def describe(stats) -> str:  # noqa: ANN001
    if stats.skipped:
        return "skipped (up to date)"
    return f"{stats.compiled}/{stats.modules} modules compiled"


def counts(all_stats: list) -> str:  # noqa: ANN001
    texts = sorted({describe(s) for s in all_stats})
    return " / ".join(texts)


@benchmark("build", group="codegen")
def run_build(cfg: Config) -> Result:
    """qkc kernel build: clean, no-op, one module changed."""
    reps = 3 if cfg.quick else max(cfg.reps, 7)
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qk-bench-build-") as tmp:
        tmpd = Path(tmp)
        root = snapshot(tmpd / "root")
        b = Builder(root)
        nfiles = len(list((root / "qkernel").rglob("*.py")))
        nlines = sum(len(p.read_text().splitlines()) for p in (root / "qkernel").rglob("*.py"))
        notes.append(f"tree: snapshot of qkernel/ ({nfiles} files, {nlines} lines) "
                     f"+ boot/ + the qkcrt runtime; {reps} builds per scenario, "
                     f"median (min–max), in a warm process (compiler imported, LLVM initialised)")
        if b.link_error:
            notes.append(f"the kernel does not link yet ({b.link_error[:200]}); times are "
                         f"`compile_objects(boot_dir=...)`, i.e. everything up to the link, and "
                         f"the no-op row is an all-cached compile (the manifest is written only "
                         f"after a successful link)")

        # clean: a fresh cache and output every time
        clean, clean_stats = [], []
        for i in range(reps):
            secs, st = b.build(tmpd / f"clean{i}" / "kernel.elf", tmpd / f"clean{i}" / "cache")
            clean.append(secs)
            clean_stats.append(st)
        # no-op: again with the last clean build's cache and output
        out, cache = tmpd / f"clean{reps - 1}" / "kernel.elf", tmpd / f"clean{reps - 1}" / "cache"
        noop, noop_stats = [], []
        for _ in range(reps):
            secs, st = b.build(out, cache)
            noop.append(secs)
            noop_stats.append(st)
        # edits: one module, a new comment / a new function each time (never seen by the cache)
        target = pick_module(root)
        original = target.read_text()
        edits = {"comment": lambda i: f"\n{MARK} {i}\n",
                 "code": lambda i: f"\n\ndef _bench_edit_{i}() -> None:\n    return\n"}
        edit_results = {}
        for kind, text in edits.items():
            times, stats = [], []
            for i in range(reps):
                target.write_text(original + text(i))
                secs, st = b.build(out, cache)
                times.append(secs)
                stats.append(st)
            target.write_text(original)
            edit_results[kind] = (times, stats)

    mod = target.relative_to(root).as_posix()
    rows.append(Row("kernel build, clean cache", "—",
                    "—", f"{Stats(clean).fmt()}, {counts(clean_stats)}"))
    rows.append(Row("kernel rebuild, nothing changed", "—", "—",
                    f"{Stats(noop).fmt()}, {counts(noop_stats)}"))
    for kind, label in (("comment", "a comment added"), ("code", "a function added")):
        times, stats = edit_results[kind]
        rows.append(Row(f"kernel rebuild, {label} to {mod}", "—", "—",
                        f"{Stats(times).fmt()}, {counts(stats)}"))
    stage = {k: statistics.median(s.timings.get(k, 0.0) for s in clean_stats)
             for k in ("frontend", "lower", "backend")}
    notes.append(f"build mode: `{b.mode}`; clean-build stages (median): "
                 + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in stage.items())
                 + " (the rest: link + write)")
    return Result(rows, notes)
