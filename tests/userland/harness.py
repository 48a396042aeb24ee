"""The userland differential harness: owns reading userland_tests/manifest.toml, building the corpus,
running one program natively or under `qvisor run`, and comparing two runs.

  run_native(path, args, env, stdin)            -> Result(stdout, stderr, status)
  run_sandbox(path, args, env, stdin, platform) -> Result(stdout, stderr, status)
  compare(native, sandbox)                      -> list of differences, empty when they agree

A Result is a tuple (stdout, stderr, status): text decoded as UTF-8 (undecodable bytes as \\x..
escapes), and the status as a shell reports it: the exit code, or 128+N for a process killed by
signal N. Natively the environment is exactly `env` (nothing inherited), stdin is a pipe holding
`stdin` and then closed, stdout and stderr are pipes, no other descriptor is open, core dumps are
off and the stack limit is at most 8 MiB. The sandbox run is
`python -m qvisor.cli run --platform P --clear-env --env K=V ... -- PATH ARGS` from the repository
root, with the same stdin, and qvisor's exit status taken as the guest's.

Run from the command line it prints, per case, the native result against the manifest and, with
--sandbox PLATFORM, the sandbox's against the native run, with the kernel features each
failing case waits for:

  python tests/userland/harness.py [--no-build] [--sandbox auto|pvm|kvm|emu [--kernel ELF]] [CASE ...]
"""

from __future__ import annotations

import argparse
import difflib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "userland_tests" / "manifest.toml"
BUILD = ROOT / "build" / "userland"
LIBCS = ("glibc", "musl", "glibc-dyn")   # glibc-dyn: the dynamically linked PIE build
SANDBOX_SKIP_REASON = "qvisor run is not implemented yet (issue: static binaries)"
SANDBOX_FORCE_ENV = "PYQUARK_USERLAND_SANDBOX"  # =1: run the sandbox tests even while the manifest says sandbox = false


class Result(NamedTuple):
    stdout: str
    stderr: str
    status: int


@dataclass(frozen=True)
class Case:
    """One manifest entry: a corpus program (built per libc) or an executable (busybox) with
    its arguments, environment, stdin and the expected status and stdout."""
    name: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    stdin: str
    status: int
    stdout: str
    needs: tuple[str, ...]
    program: str | None = None  # userland_tests/PROGRAM.c, built per libc
    exe: str | None = None  # an executable outside the corpus, e.g. /bin/busybox
    why: str = ""
    libcs: tuple[str, ...] = ()  # the builds a corpus program is run as (default: all of LIBCS)

    @property
    def variants(self) -> tuple[str, ...]:
        """LIBCS for corpus programs, the executable's basename otherwise."""
        if not self.program:
            return (Path(self.exe or "").name,)
        return self.libcs or LIBCS

    def path(self, variant: str) -> Path:
        if self.program:
            return BUILD / variant / self.program
        return Path(self.exe or "")

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass
class Manifest:
    cases: list[Case]
    features: dict[str, str]  # feature name -> what it covers
    kernel_features: set[str] = field(default_factory=set)  # what the guest kernel has today
    sandbox: bool = False  # whether `qvisor run` runs the corpus yet (enables test_sandbox.py)

    def by_name(self, name: str) -> Case:
        for c in self.cases:
            if c.name == name:
                return c
        raise KeyError(name)

    def missing(self, case: Case, platform: str | None = None) -> list[str]:
        """The features `case` needs that the kernel does not have yet (or, on `platform`,
        that the platform cannot give: platform_lacks)."""
        lacks = platform_lacks(platform) if platform else set()
        return sorted((set(case.needs) - self.kernel_features) | (set(case.needs) & lacks))


def platform_lacks(platform: str) -> set[str]:
    """Manifest features a platform cannot give, from its boot capabilities (qkernel/abi.py
    CAP_*): "tick" under CAP_NO_PROGRAM_TICK (no preemption of a program that makes no system
    call)."""
    from qkernel.abi import CAP_NO_PROGRAM_TICK
    if platform == "emu":
        from qvisor.platform.emu import EmuPlatform
        caps = EmuPlatform.boot_caps
    elif platform == "pvm":
        from qvisor.platform.pvm import PvmPlatform
        caps = PvmPlatform.boot_caps
    elif platform == "kvm":
        from qvisor.platform.kvm import KvmPlatform
        caps = KvmPlatform.boot_caps
    else:
        return set()
    return {"tick"} if caps & CAP_NO_PROGRAM_TICK else set()


def load_manifest(path: Path = MANIFEST) -> Manifest:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    known = {"name", "program", "exe", "args", "env", "stdin", "status", "stdout", "needs", "why", "libcs"}
    cases = []
    for raw in data.get("case", []):
        extra = set(raw) - known
        if extra:
            raise ValueError(f"{path}: case {raw.get('name')!r}: unknown keys {sorted(extra)}")
        if ("program" in raw) == ("exe" in raw):
            raise ValueError(f"{path}: case {raw.get('name')!r}: give exactly one of program, exe")
        cases.append(Case(
            name=raw["name"],
            program=raw.get("program"),
            exe=raw.get("exe"),
            args=tuple(raw.get("args", ())),
            env=tuple((str(k), str(v)) for k, v in raw.get("env", {}).items()),
            stdin=raw.get("stdin", ""),
            status=int(raw.get("status", 0)),
            stdout=raw.get("stdout", ""),
            needs=tuple(raw.get("needs", ())),
            why=raw.get("why", ""),
            libcs=tuple(raw.get("libcs", ())),
        ))
        if set(cases[-1].libcs) - set(LIBCS):
            raise ValueError(f"{path}: case {raw.get('name')!r}: libcs must be among {LIBCS}")
    return Manifest(cases=cases, features=dict(data.get("features", {})),
                    kernel_features=set(data.get("kernel_features", ())), sandbox=bool(data.get("sandbox", False)))


# ---------------------------------------------------------------------------------------------
# building

def musl_available() -> bool:
    return shutil.which("musl-gcc") is not None


def build(jobs: int | None = None) -> subprocess.CompletedProcess[str]:
    """`make userland` at the repository root (installs missing Debian packages first, as the
    Makefile does everywhere), with make's variables from any enclosing make removed."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    jobs = jobs or os.cpu_count() or 1
    return subprocess.run(["make", f"-j{jobs}", "--no-print-directory", "userland"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------------------------------------
# running

def status_from_returncode(rc: int) -> int:
    """subprocess's returncode as a shell's status: -N (killed by signal N) becomes 128+N."""
    return 128 - rc if rc < 0 else rc


def _decode(b: bytes) -> str:
    return b.decode("utf-8", errors="backslashreplace")


def _stdin_bytes(stdin: str | bytes | None) -> bytes:
    if stdin is None:
        return b""
    return stdin.encode() if isinstance(stdin, str) else stdin


STACK_LIMIT = 8 << 20  # Linux's usual default; traps-stack recurses until it hits this


def _native_limits() -> None:
    """In the child before exec: no core dumps, and a finite stack (an unlimited one would let
    the stack-overflow case eat memory for a long time before it faults)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft > STACK_LIMIT:
        resource.setrlimit(resource.RLIMIT_STACK, (STACK_LIMIT, hard))


def run_native(path: str | Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
               stdin: str | bytes | None = "", timeout: float = 60) -> Result:
    """Runs PATH ARGS directly on the host: argv[0] is PATH as given, the environment exactly
    `env`, stdin a pipe with `stdin` in it then closed."""
    p = subprocess.run([str(path), *args], env=dict(env or {}), input=_stdin_bytes(stdin),
                       capture_output=True, timeout=timeout, preexec_fn=_native_limits)
    return Result(_decode(p.stdout), _decode(p.stderr), status_from_returncode(p.returncode))


def sandbox_command(path: str | Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                    platform: str = "auto", kernel: str | Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "qvisor.cli", "run", "--platform", platform, "--clear-env"]
    if kernel is not None:
        cmd += ["--kernel", str(kernel)]
    for k, v in (env or {}).items():
        cmd += ["--env", f"{k}={v}"]
    return [*cmd, "--", str(path), *args]


def run_sandbox(path: str | Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                stdin: str | bytes | None = "", platform: str = "auto", timeout: float = 300,
                kernel: str | Path | None = None) -> Result:
    """Runs PATH ARGS under `qvisor run` on PLATFORM (with KERNEL, or qvisor's default
    build/kernel.elf); the status is qvisor's exit status, which is the guest's (128+N when the
    guest was killed by signal N)."""
    host_env = dict(os.environ)
    host_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), host_env.get("PYTHONPATH")]))
    p = subprocess.run(sandbox_command(path, args, env, platform, kernel), env=host_env, cwd=ROOT,
                       input=_stdin_bytes(stdin), capture_output=True, timeout=timeout)
    return Result(_decode(p.stdout), _decode(p.stderr), status_from_returncode(p.returncode))


def qvisor_run_available() -> bool:
    """Whether this checkout's qvisor has a `run` command (its --help exits 0)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        p = subprocess.run([sys.executable, "-m", "qvisor.cli", "run", "--help"], cwd=ROOT, env=env,
                           capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


# ---------------------------------------------------------------------------------------------
# comparing

def describe_status(status: int) -> str:
    if status > 128:
        try:
            return f"{status} (killed by {signal.Signals(status - 128).name})"
        except ValueError:
            pass
    return str(status)


def compare(expected: Result, actual: Result, *, stderr: bool = False,
            labels: tuple[str, str] = ("native", "sandbox")) -> list[str]:
    """The ways `actual` differs from `expected` (status, stdout as a unified diff, and stderr
    when asked), each a readable paragraph; empty when they agree. stderr is left out by
    default: qvisor may add its own diagnostics there."""
    a, b = labels
    out = []
    if expected.status != actual.status:
        out.append(f"status: {a} {describe_status(expected.status)}, {b} {describe_status(actual.status)}")
    pairs = [("stdout", expected.stdout, actual.stdout)]
    if stderr:
        pairs.append(("stderr", expected.stderr, actual.stderr))
    for what, x, y in pairs:
        if x != y:
            diff = difflib.unified_diff(x.splitlines(keepends=True), y.splitlines(keepends=True),
                                        f"{a} {what}", f"{b} {what}")
            out.append(f"{what} differs:\n" + "".join(d if d.endswith("\n") else d + "\n" for d in diff).rstrip())
    return out


def expected_result(case: Case) -> Result:
    return Result(case.stdout, "", case.status)


def check_native(case: Case, variant: str) -> list[str]:
    """Runs the case natively; its differences from the manifest (stderr must be empty for corpus
    programs, whose checks print to stdout)."""
    got = run_native(case.path(variant), case.args, case.env_dict(), case.stdin)
    diffs = compare(expected_result(case), got, stderr=case.program is not None, labels=("manifest", "native"))
    if diffs and got.stderr and case.program is None:
        diffs.append("stderr:\n" + got.stderr.rstrip())
    return diffs


# ---------------------------------------------------------------------------------------------
# command line

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    ap.add_argument("--no-build", action="store_true", help="do not run `make userland` first")
    ap.add_argument("--sandbox", metavar="PLATFORM", help="also run each case under qvisor run")
    ap.add_argument("--kernel", help="kernel.elf for qvisor run (default: build/kernel.elf, `make kernel`)")
    opts = ap.parse_args(argv)
    m = load_manifest()
    if not opts.no_build:
        b = build()
        if b.returncode:
            print(b.stdout + b.stderr, file=sys.stderr)
            return 1
    cases = [m.by_name(n) for n in opts.cases] if opts.cases else m.cases
    if opts.sandbox and not qvisor_run_available():
        print(f"sandbox: {SANDBOX_SKIP_REASON}", file=sys.stderr)
        opts.sandbox = None
    bad = 0
    waiting: dict[str, list[str]] = {}
    for case in cases:
        for v in case.variants:
            label = f"{case.name}[{v}]"
            if not case.path(v).exists():
                print(f"{label:32} not built ({case.path(v)} missing)")
                continue
            diffs = check_native(case, v)
            bad += bool(diffs)
            line = f"{label:32} native {'ok' if not diffs else 'DIFFERS from the manifest'}"
            if opts.sandbox:
                native = run_native(case.path(v), case.args, case.env_dict(), case.stdin)
                sand = run_sandbox(case.path(v), case.args, case.env_dict(), case.stdin, opts.sandbox,
                                   kernel=opts.kernel)
                sd = compare(native, sand)
                missing = m.missing(case, opts.sandbox)
                line += "; sandbox " + ("agrees" if not sd else "differs")
                if sd and missing:
                    line += f" (waits for {', '.join(missing)})"
                    for f in missing:
                        waiting.setdefault(f, []).append(label)
                elif sd:
                    bad += 1
                diffs += sd
            print(line)
            for d in diffs:
                print("    " + d.replace("\n", "\n    "))
    for f, labels in sorted(waiting.items()):
        print(f"waiting for {f}: {', '.join(labels)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
