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


# ---------------------------------------------------------------- tables as data (corpus/tables.py)

TABLES = Path(__file__).parent / "corpus" / "tables.py"


@pytest.fixture(scope="module")
def tables():
    """(cpython_module, jit) for the struct-initialiser / character-constant / kfmt corpus."""
    from toolchain.jit import Jit
    spec = importlib.util.spec_from_file_location("diffcorpus_tables", TABLES)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod, Jit([TABLES])


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, 2**64 - 1))
def test_struct_initialisers_match_cpython(tables, x):
    mod, jit = tables
    for i in range(4):
        assert jit.function("tables.entry_value")(i, x) == int(mod.entry_value(d.u64(i), d.u64(x))), i
    assert jit.function("tables.default_value")(x) == int(mod.default_value(d.u64(x)))


def test_character_constants_match_cpython(tables):
    mod, jit = tables
    for c in range(256):
        assert jit.function("tables.classify")(c) == int(mod.classify(d.u8(c))), c


def _line_call(jit, mod, fname: str, *args):
    """Runs fname(lp, *args) compiled (on a zeroed Line in host memory) and under CPython;
    returns both (text, len) pairs."""
    import ctypes
    buf = ctypes.create_string_buffer(d.sizeof(mod.Line))
    got_len = jit.function(f"tables.{fname}")(ctypes.addressof(buf), *[int(a) for a in args])
    got = (buf.raw[:got_len], got_len)
    line = mod.Line()
    want_len = getattr(mod, fname)(line, *args)
    return got, (bytes(line.data[:line.len]), int(want_len))


@settings(max_examples=60, deadline=None)
@given(rip=st.integers(0, 2**64 - 1), cr2=st.integers(0, 2**64 - 1), err=st.integers(-2**31, 2**31 - 1),
       c=st.integers(0, 255))
def test_kfmt_matches_cpython(tables, rip, cr2, err, c):
    mod, jit = tables
    got, want = _line_call(jit, mod, "fmt_regs", d.u64(rip), d.u64(cr2), d.i32(err), d.u8(c))
    assert got == want


@pytest.mark.parametrize("n", [0, 1, 10, 70, 100])
def test_kfmt_truncates_like_cpython(tables, n):
    mod, jit = tables
    got, want = _line_call(jit, mod, "fmt_overflow", d.u64(n))
    assert got == want and got[1] <= 240


def test_kfmt_entry_text(tables):
    """%s/%u/%d from a table, and %x of a function pointer (compiled only: its address)."""
    import ctypes
    mod, jit = tables
    buf = ctypes.create_string_buffer(d.sizeof(mod.Line))
    n = jit.function("tables.fmt_entry")(ctypes.addressof(buf), 1, -42)
    text = buf.raw[:n]
    assert text.startswith(b"write(1) -> -42; x0x") and int(text[len(b"write(1) -> -42; x"):], 16) != 0
