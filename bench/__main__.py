"""`python -m bench [--filter NAME] [--quick] [--no-save]`: runs the registered benchmarks.

Owns the command line only: imports the benchmark modules (bench.MODULES), runs those whose name
contains --filter, prints one markdown table per group and writes it to
bench/results/<date>-<group>.md (e.g. 2026-11-26-codegen.md; a later run the same day replaces
it). The file's header records the machine, the commit and the options, so a --quick or filtered
run is never mistaken for a full one.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench` / `python -m bench` from elsewhere
    sys.path.insert(0, str(ROOT))

import bench  # noqa: E402
from bench import REGISTRY, Config, Result, markdown_table  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        # what the numbers depend on: the compiler, the kernel tree, the benchmarks themselves (not
        # the results this run is writing)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "toolchain", "qkernel", "boot", "bench", ":!bench/results"],
                               capture_output=True, text=True).stdout
        return rev + (" (+ uncommitted changes to toolchain/qkernel/boot/bench)"
                      if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header(group: str, args: argparse.Namespace, when: datetime.datetime) -> str:
    import os
    opts = " ".join(a for a in (f"--filter {args.filter}" if args.filter else "",
                                "--quick" if args.quick else "") if a) or "(full run)"
    return "\n".join([
        f"# Benchmarks: {group}, {when:%Y-%m-%d %H:%M}",
        "",
        f"- command: `python -m bench {opts}`".replace(" (full run)`", "` (full run)"),
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        f"- python {platform.python_version()}, commit {git_commit()}",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--filter", metavar="NAME", help="run only benchmarks whose name contains NAME")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, smaller inputs")
    p.add_argument("--no-save", action="store_true", help="print only; write no results file")
    p.add_argument("--list", action="store_true", help="list the registered benchmarks")
    args = p.parse_args(argv)

    for mod in bench.MODULES:
        importlib.import_module(mod)
    if args.list:
        for b in REGISTRY.values():
            print(f"{b.name:12s} [{b.group}] {b.doc}")
        return 0
    chosen = [b for b in REGISTRY.values() if not args.filter or args.filter in b.name]
    if not chosen:
        print(f"no benchmark matches {args.filter!r}; have: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    cfg = Config(quick=args.quick, reps=3 if args.quick else 15, warmup=1 if args.quick else 3)
    when = datetime.datetime.now()
    groups: dict[str, list[Result]] = {}
    for b in chosen:
        print(f"running {b.name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        groups.setdefault(b.group, []).append(b.func(cfg))
        print(f"  {b.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    for group, results in groups.items():
        rows = [r for res in results for r in res.rows]
        notes = [n for res in results for n in res.notes]
        text = header(group, args, when) + "\n" + markdown_table(rows) + "\n\n" \
            + "\n".join(f"- {n}" for n in notes) + "\n"
        print(text)
        if not args.no_save:
            RESULTS_DIR.mkdir(exist_ok=True)
            path = RESULTS_DIR / f"{when:%Y-%m-%d}-{group}.md"
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
