"""Differential testing: pure-integer functions give identical results in CPython (with the
dialect's CPython definitions of u8..i64) and compiled by qkc, wrap-around included.

Compiled code runs natively through the JIT (toolchain/jit.py), with a sample also under unicorn.
Excluded inputs, by design: division by zero and INT_MIN // -1, which trap (#DE) in compiled code.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qkernel import dialect as d

CORPUS = Path(__file__).parent / "corpus" / "algorithms.py"
TYPES = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"]
OPS = {"add": "+", "sub": "-", "mul": "*", "div": "//", "mod": "%", "and": "&", "or": "|",
       "xor": "^", "shl": "<<", "shr": ">>"}


def generated_source() -> str:
    """One function per (type, operator), per mixed-width pair, and per unary operator."""
    lines = ["from __future__ import annotations",
             "from qkernel.dialect import " + ", ".join(TYPES), ""]
    for t in TYPES:
        for name, op in OPS.items():
            lines += [f"def {name}_{t}(a: {t}, b: {t}) -> {t}:", f"    return a {op} b", ""]
        lines += [f"def unary_{t}(a: {t}) -> {t}:", "    return (-a) ^ (~a) + (a * 3 - 7)", ""]
        lines += [f"def cmp_{t}(a: {t}, b: {t}) -> u8:",
                  "    return u8(a < b) + u8(a <= b) * 2 + u8(a == b) * 4 + u8(a > b) * 8", ""]
    for small, big in [("u8", "u32"), ("u16", "u64"), ("i8", "i32"), ("i16", "i64"), ("u32", "u64")]:
        lines += [f"def widen_{small}_{big}(a: {small}, b: {big}) -> {big}:",
                  "    return (a + b) * a - (b // (a | 1))", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """(cpython_module, jit) for the generated corpus and the algorithms corpus."""
    from toolchain.jit import Jit
    tmp = tmp_path_factory.mktemp("diff")
    gen = tmp / "intops.py"
    gen.write_text(generated_source())
    out = {}
    for path in (gen, CORPUS):
        spec = importlib.util.spec_from_file_location(f"diffcorpus_{path.stem}", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        out[path.stem] = (mod, Jit([path]), path)
    return out


def typed(tname: str, value: int):
    return getattr(d, tname)(value)


def as_type(tname: str, value: int) -> int:
    t = getattr(d, tname)
    return int(t(value))


def check_same(modules, corpus: str, fname: str, args: list[int]) -> None:
    mod, jit, _ = modules[corpus]
    f = getattr(mod, fname)
    sig = inspect.signature(f)
    hints = {k: v.annotation for k, v in sig.parameters.items()}
    typed_args = [typed(h if isinstance(h, str) else h.__name__, a) for h, a in zip(hints.values(), args)]
    expected = f(*typed_args)
    ret = sig.return_annotation
    ret = ret if isinstance(ret, str) else ret.__name__
    got = jit.function(f"{corpus}.{fname}")(*[int(a) for a in typed_args])
    assert as_type(ret, got) == int(expected), (fname, args)


ints = st.integers(min_value=-(2**64), max_value=2**64)


@settings(max_examples=40, deadline=None)
@given(a=ints, b=ints)
@pytest.mark.parametrize("tname", TYPES)
@pytest.mark.parametrize("op", list(OPS))
def test_binary_ops_match_cpython(modules, tname, op, a, b):
    ta, tb = typed(tname, a), typed(tname, b)
    if op in ("div", "mod"):
        assume(int(tb) != 0)
        t = getattr(d, tname)
        assume(not (t.SIGNED and int(tb) == -1 and int(ta) == -(1 << (t.BITS - 1))))
    check_same(modules, "intops", f"{op}_{tname}", [int(ta), int(tb)])


@settings(max_examples=60, deadline=None)
@given(a=ints, b=ints)
@pytest.mark.parametrize("tname", TYPES)
def test_unary_and_compare_match_cpython(modules, tname, a, b):
    check_same(modules, "intops", f"unary_{tname}", [a])
    check_same(modules, "intops", f"cmp_{tname}", [a, b])


@settings(max_examples=60, deadline=None)
@given(a=ints, b=ints)
@pytest.mark.parametrize("pair", [("u8", "u32"), ("u16", "u64"), ("i8", "i32"), ("i16", "i64"), ("u32", "u64")])
def test_mixed_width_matches_cpython(modules, pair, a, b):
    small, big = pair
    check_same(modules, "intops", f"widen_{small}_{big}", [as_type(small, a), as_type(big, b)])


ALGOS = {
    "gcd": 2, "popcount": 1, "bit_reverse32": 1, "isqrt": 1, "mix8": 2, "signed_mix": 2,
    "sign_extend": 1, "truncations": 1, "fnv1a_step": 2, "clamp_sub": 2, "ternary_chain": 3,
}


@settings(max_examples=80, deadline=None)
@given(args=st.lists(ints, min_size=3, max_size=3))
@pytest.mark.parametrize("fname", sorted(ALGOS))
def test_algorithms_match_cpython(modules, fname, args):
    check_same(modules, "algorithms", fname, args[:ALGOS[fname]])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 10**6), lo=st.integers(-300, 300), span=st.integers(0, 400))
def test_loops_match_cpython(modules, n, lo, span):
    check_same(modules, "algorithms", "collatz_steps", [n, 500])
    check_same(modules, "algorithms", "sum_range", [lo, lo + span])


def test_sample_under_unicorn_matches_cpython(modules):
    """The same compiled code, run under unicorn at the kernel's higher-half address."""
    from toolchain.driver import build_files
    from toolchain.emucall import Machine
    mod, _, path = modules["algorithms"]
    m = Machine(build_files([path]).elf)
    for args in [(12, 18), (2**64 - 1, 3), (0, 5)]:
        assert m.call("algorithms.gcd", *args) == int(mod.gcd(d.u64(args[0]), d.u64(args[1])))
    assert m.call("algorithms.isqrt", 10**18) == 10**9
    assert m.call("algorithms.sign_extend", 0x80) == as_type("u64", int(mod.sign_extend(d.i8(-128))))
