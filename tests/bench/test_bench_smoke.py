"""Smoke test of bench/codegen: every kernel once on small inputs, ours (qkc JIT) == gcc -O2.

Correctness only: the two builds of bench/codegen/kernels.{py,c} must compute the same thing
(and what the Python references compute), or the timings compare different work. No timing is
asserted here; `python -m bench` measures.
"""

from __future__ import annotations

import ctypes
import shutil
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="gcc not found on PATH: the C peer of bench/codegen "
                                       "(kernels.c) cannot be built")

from bench import codegen  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    p = codegen.load_pair()
    yield p
    p.tmp.cleanup()


@pytest.mark.parametrize("w", codegen.WORKLOADS, ids=lambda w: w.name)
def test_workload_small_ours_equals_gcc(pair, w):
    case = w.case("small", reference=True)
    assert case.expected is not None
    assert codegen.check(pair, w, case) == case.expected


def both(pair, name: str, *args: int) -> int:
    ours, peer = pair.get(name)
    a, b = ours(*args), peer(*args)
    assert a == b, f"{name}{args}: ours={a:#x} gcc={b:#x}"
    return a


@pytest.mark.parametrize("n", [0, 1, 2, 3, 64, 1001, 5552, 5553, 12000])
def test_byte_kernels_edge_lengths(pair, n):
    buf = codegen.byte_buffer(max(n, 1), seed=n)
    data, p = buf.raw[:n], ctypes.addressof(buf)
    assert both(pair, "inet_checksum", p, n) == codegen.ref_inet_checksum(data)
    assert both(pair, "adler32", p, n) == zlib.adler32(data)
    assert both(pair, "fnv1a", p, n) == codegen.ref_fnv1a(data)


def test_find_first_zero_edges(pair):
    words = (ctypes.c_uint64 * 4)(*([2**64 - 1] * 4))
    p = ctypes.addressof(words)
    assert both(pair, "find_first_zero", p, 4) == 2**64 - 1  # full: NOT_FOUND
    assert both(pair, "find_first_zero", p, 0) == 2**64 - 1
    words[3] = 2**64 - 1 - (1 << 63)
    assert both(pair, "find_first_zero", p, 4) == 3 * 64 + 63
    words[1] = 0
    assert both(pair, "find_first_zero", p, 4) == 64
    # bitmap_alloc modifies its bitmap: each build gets its own copy of the same one
    ones = 2**64 - 1
    start = [ones, ones ^ (1 << 5), ones, ones ^ (1 << 63)]  # frames 69 and 255 free
    results = []
    for build in pair.get("bitmap_alloc"):
        bm = (ctypes.c_uint64 * 4)(*start)
        results.append((build(ctypes.addressof(bm), 4, 5), list(bm)))  # 5 asked, 2 free
    assert results[0] == results[1] == (69 + 255, [ones] * 4)


def test_list_sum_empty_and_single(pair):
    assert both(pair, "list_sum", 0) == 0
    node = (ctypes.c_uint64 * 2)(12345, 0)
    assert both(pair, "list_sum", ctypes.addressof(node)) == 12345
