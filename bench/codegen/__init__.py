"""Generated-code quality: the kernels of kernels.py (qkc, host JIT) against kernels.c (gcc -O2).

Owns the codegen benchmark: building both sides, the workloads (inputs, per-call sizes), the
result check, and the interleaved timing. Both sides are called through ctypes with the same
prototypes and the same buffers; every timed call loops inside the kernel long enough (several
milliseconds) that the ctypes call overhead (~1 us) is negligible.

  ours: toolchain.jit.Jit: the same optimised IR qkc puts into kernel.elf, JIT-compiled in this
        process by LLVM MCJIT for generic x86-64 (gcc's default -march too)
  peer: gcc -O2 -shared -fPIC, built into a temporary directory, loaded with ctypes.CDLL
        (-fPIC makes the exported kernels interposable, so gcc calls the per-round kernel through
        the PLT instead of inlining it: once per round, i.e. per 32 KiB or per list walk, which
        is noise at these sizes)

tests/bench/test_bench_smoke.py uses `load_pair` and `WORKLOADS` with small inputs.
"""

from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from bench import Config, Result, Row, benchmark, interleaved

HERE = Path(__file__).resolve().parent
KERNELS_PY = HERE / "kernels.py"
KERNELS_C = HERE / "kernels.c"
GCC_FLAGS = ["-O2", "-shared", "-fPIC"]
MODULE = "kernels"  # the kernel-Python module name the JIT gives kernels.py


class GccMissing(RuntimeError):
    pass


def gcc_path() -> str | None:
    return shutil.which("gcc")


def gcc_version() -> str:
    gcc = gcc_path()
    if gcc is None:
        return "gcc: not found"
    return subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


@dataclass
class Pair:
    """The two builds of the kernels: `ours(name)` and `gcc(name)` give same-prototype callables."""

    jit: object
    lib: ctypes.CDLL
    tmp: tempfile.TemporaryDirectory
    _cache: dict[str, tuple[Callable, Callable]] = field(default_factory=dict)

    def get(self, name: str) -> tuple[Callable, Callable]:
        if name not in self._cache:
            ours = self.jit.function(f"{MODULE}.{name}")  # type: ignore[attr-defined]
            peer = self.lib[name]
            peer.argtypes = ours.argtypes
            peer.restype = ours.restype
            self._cache[name] = (ours, peer)
        return self._cache[name]

    def ours(self, name: str) -> Callable:
        return self.get(name)[0]

    def gcc(self, name: str) -> Callable:
        return self.get(name)[1]


def build_gcc(out_dir: Path) -> ctypes.CDLL:
    gcc = gcc_path()
    if gcc is None:
        raise GccMissing("gcc is not installed (the C peer of the codegen benchmark)")
    so = out_dir / "kernels_gcc.so"
    subprocess.run([gcc, *GCC_FLAGS, str(KERNELS_C), "-o", str(so)], check=True)
    return ctypes.CDLL(str(so))


def load_pair() -> Pair:
    from toolchain.jit import Jit
    tmp = tempfile.TemporaryDirectory(prefix="qk-bench-gcc-")
    lib = build_gcc(Path(tmp.name))
    jit = Jit([KERNELS_PY])
    return Pair(jit, lib, tmp)


# --------------------------------------------------------------------------- inputs


@dataclass
class Case:
    """One call's arguments. `reset` restores inputs the call modifies; `keep` holds buffers."""

    args: tuple[int, ...]
    describe: str
    reset: Callable[[], None] | None = None
    expected: int | None = None  # a pure-Python reference result, when cheap enough to compute
    keep: list[object] = field(default_factory=list)


def byte_buffer(n: int, seed: int) -> ctypes.Array:
    data = random.Random(seed).randbytes(n)
    return ctypes.create_string_buffer(data, n)


def ref_inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data = data + b"\0"
    total = sum((data[i] << 8) | data[i + 1] for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ref_fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _rounds_ref(f: Callable[[bytes], int], data: bytes, rounds: int, xor: bool = False) -> int:
    acc = 0
    for r in range(rounds):
        v = f(data[:len(data) - (r & 7)])
        acc = (acc ^ v) if xor else (acc + v) & 0xFFFFFFFFFFFFFFFF
    return acc


def byte_case(kind: str, size: int, rounds: int, *, reference: bool) -> Case:
    buf = byte_buffer(size, seed=0x5EED + size)
    expected = None
    if reference:
        data = buf.raw
        f = {"inet": ref_inet_checksum, "adler": zlib.adler32, "fnv": ref_fnv1a}[kind]
        expected = _rounds_ref(f, data, rounds, xor=kind == "fnv")
    return Case((ctypes.addressof(buf), size, rounds),
                f"{size // 1024 if size >= 1024 else size}{' KiB' if size >= 1024 else ' B'} "
                f"random bytes x {rounds} rounds (length n - (round & 7))",
                expected=expected, keep=[buf])


def bitmap_case(nwords: int, nfree: int, count: int, *, reference: bool) -> Case:
    """A mostly-full bitmap: all ones but `nfree` random clear bits; `count` allocations."""
    rng = random.Random(0xB17 + nwords)
    free = sorted(rng.sample(range(nwords * 64), nfree))
    words = [0xFFFFFFFFFFFFFFFF] * nwords
    for b in free:
        words[b >> 6] &= ~(1 << (b & 63)) & 0xFFFFFFFFFFFFFFFF
    template = (ctypes.c_uint64 * nwords)(*words)
    buf = (ctypes.c_uint64 * nwords)(*words)
    size = ctypes.sizeof(buf)

    def reset() -> None:
        ctypes.memmove(buf, template, size)

    expected = sum(free[:count]) if reference else None
    return Case((ctypes.addressof(buf), nwords, count),
                f"{nwords} words ({nwords * 8 // 1024} KiB), {nfree} clear bits at random, "
                f"{count} first-fit allocations per call, bitmap restored between calls",
                reset=reset, expected=expected, keep=[buf, template])


def list_case(nnodes: int, rounds: int, *, reference: bool) -> Case:
    """Nodes {value, next} in one buffer, linked in a shuffled order: each step is a dependent load
    to an unpredictable address. Round r walks from the r-th node to the end."""
    rng = random.Random(0x115 + nnodes)
    order = list(range(nnodes))
    rng.shuffle(order)
    values = [rng.getrandbits(32) for _ in range(nnodes)]
    buf = (ctypes.c_uint64 * (2 * nnodes))()
    base = ctypes.addressof(buf)
    flat = [0] * (2 * nnodes)
    for k, slot in enumerate(order):
        flat[2 * slot] = values[k]
        flat[2 * slot + 1] = base + 16 * order[k + 1] if k + 1 < nnodes else 0
    buf[:] = flat
    expected = None
    if reference:
        suffix = [0] * (nnodes + 1)
        for k in range(nnodes - 1, -1, -1):
            suffix[k] = suffix[k + 1] + values[k]
        expected = sum(suffix[r] ^ r for r in range(rounds)) & 0xFFFFFFFFFFFFFFFF
    return Case((base + 16 * order[0], rounds),
                f"{nnodes} nodes ({nnodes * 16 // 1024} KiB) in shuffled order, {rounds} walks "
                f"(round r starts at node r)", expected=expected, keep=[buf])


@dataclass(frozen=True)
class Workload:
    name: str  # the benchmark row
    func: str  # the kernel called in both builds
    what: str
    build: Callable[..., Case]  # build(*sizes[size], reference=...) -> Case
    sizes: dict[str, tuple[int, ...]]

    def case(self, size: str, reference: bool = False) -> Case:
        return self.build(*self.sizes[size], reference=reference)


# Sizes: "full" is what `python -m bench` reports (each call 5-20 ms on a ~3 GHz x86-64),
# "quick" checks that everything runs, "small" is the smoke test's correctness check (odd
# lengths, a bitmap that runs out, a short list).
WORKLOADS: list[Workload] = [
    Workload("inet_checksum", "inet_checksum_rounds",
             "RFC 1071 ones-complement sum of 16-bit big-endian words",
             partial(byte_case, "inet"),
             {"full": (32768, 1000), "quick": (32768, 100), "small": (1001, 9)}),
    Workload("adler32", "adler32_rounds",
             "Adler-32, modulo deferred over 5552-byte blocks (zlib's NMAX)",
             partial(byte_case, "adler"),
             {"full": (32768, 800), "quick": (32768, 80), "small": (12001, 9)}),
    Workload("fnv1a", "fnv1a_rounds",
             "64-bit FNV-1a hash (a serial xor/multiply chain per byte)",
             partial(byte_case, "fnv"),
             {"full": (32768, 300), "quick": (32768, 30), "small": (1001, 9)}),
    Workload("bitmap_first_zero", "bitmap_alloc",
             "frame allocator: find the first clear bit of a mostly-full bitmap, set it, repeat",
             bitmap_case,
             {"full": (16384, 2048, 2048), "quick": (8192, 512, 512), "small": (64, 40, 42)}),
    Workload("linked_list_walk", "list_sum_rounds",
             "sum over @struct Node {value: u64, next: ptr[Node]} (pointer chasing)",
             list_case,
             {"full": (65536, 32), "quick": (16384, 8), "small": (257, 11)}),
]


def check(pair: Pair, w: Workload, case: Case) -> int:
    """Runs both builds once on `case`; raises AssertionError unless they agree (and match the
    Python reference where the case has one). Returns the common result."""
    ours, peer = pair.get(w.func)
    if case.reset:
        case.reset()
    a = ours(*case.args)
    if case.reset:
        case.reset()
    b = peer(*case.args)
    if a != b:
        raise AssertionError(f"{w.name}: ours={a:#x} gcc={b:#x} on {case.describe}")
    if case.expected is not None and a != case.expected:
        raise AssertionError(f"{w.name}: both builds give {a:#x}, the Python reference "
                             f"{case.expected:#x}, on {case.describe}")
    return a


@benchmark("codegen", group="codegen")
def run_codegen(cfg: Config) -> Result:
    """qkc (JIT) vs gcc -O2 on the same algorithms and buffers."""
    import llvmlite.binding as llvm
    pair = load_pair()
    notes = [
        f"peer: `{gcc_version()}`, `gcc {' '.join(GCC_FLAGS)} kernels.c`, loaded with ctypes; "
        f"ours: qkc's -O2 IR through llvmlite MCJIT (LLVM "
        f"{'.'.join(map(str, llvm.llvm_version_info))}); both generic x86-64 code",
        f"timing: {cfg.warmup} warm-up + {cfg.reps} timed calls per side, interleaved "
        f"(ours/gcc and gcc/ours alternating), median (min–max) wall time per call; "
        f"ratio = ours median / gcc median",
    ]
    rows = []
    for w in WORKLOADS:
        case = w.case("quick" if cfg.quick else "full")
        result = check(pair, w, case)
        ours, peer = pair.get(w.func)
        args = case.args
        st = interleaved({"ours": lambda: ours(*args), "gcc": lambda: peer(*args)},
                         reps=cfg.reps, warmup=cfg.warmup, before=case.reset)
        o, g = st["ours"], st["gcc"]
        rows.append(Row(w.name, "gcc -O2", g.fmt(), o.fmt(), o.median / g.median))
        notes.append(f"{w.name} (`{w.func}`): {w.what}; {case.describe}; both results "
                     f"{result:#x}; ratio of the fastest calls {o.lo / g.lo:.2f}x")
    return Result(rows, notes)
