"""Codegen benchmark kernels in kernel Python; bench/codegen/kernels.c is the same code in C.

Owned by bench/codegen: each function here has a twin of the same name in kernels.c, written as
the same algorithm over the same data, statement for statement, so that timing the two measures
the compilers (qkc through the host JIT vs gcc -O2) and not the algorithms. Keep them in step:
tests/bench/test_bench_smoke.py asserts that every pair gives equal results.

Each `*_rounds` entry point loops inside (the benchmark calls it once per sample, so the ctypes
call overhead is negligible). The inputs change from round to round (length or start offset
derived from the round number) so neither compiler may hoist a round out of the loop.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, ptr, struct, u8, u16, u32, u64

ALL_ONES: Final[u64] = 0xFFFFFFFFFFFFFFFF
NOT_FOUND: Final[u64] = 0xFFFFFFFFFFFFFFFF
ADLER_MOD: Final[u32] = 65521
ADLER_NMAX: Final[u64] = 5552  # the most bytes before the 32-bit sums can overflow (zlib)
FNV_OFFSET: Final[u64] = 0xCBF29CE484222325
FNV_PRIME: Final[u64] = 0x100000001B3


# --------------------------------------------------------------------------- checksums


def inet_checksum(p: ptr[u8], n: u64) -> u16:
    """RFC 1071 Internet checksum: ones-complement sum of big-endian 16-bit words."""
    total: u64 = 0
    i: u64 = 0
    while i + 1 < n:
        total += (u64(p[i]) << 8) | u64(p[i + 1])
        i += 2
    if (n & 1) != 0:
        total += u64(p[n - 1]) << 8
    while (total >> 16) != 0:
        total = (total & 0xFFFF) + (total >> 16)
    return u16(~total)


def inet_checksum_rounds(p: ptr[u8], n: u64, rounds: u64) -> u64:
    acc: u64 = 0
    for r in range(rounds):
        acc += inet_checksum(p, n - (r & 7))
    return acc


def adler32(p: ptr[u8], n: u64) -> u32:
    """Adler-32 (RFC 1950), the modulo deferred over blocks of NMAX bytes as zlib does."""
    a: u32 = 1
    b: u32 = 0
    while n > 0:
        block = n if n < ADLER_NMAX else ADLER_NMAX
        n -= block
        for i in range(block):
            a += p[i]
            b += a
        p = p + block
        a %= ADLER_MOD
        b %= ADLER_MOD
    return (b << 16) | a


def adler32_rounds(p: ptr[u8], n: u64, rounds: u64) -> u64:
    acc: u64 = 0
    for r in range(rounds):
        acc += adler32(p, n - (r & 7))
    return acc


def fnv1a(p: ptr[u8], n: u64) -> u64:
    """64-bit FNV-1a hash."""
    h: u64 = FNV_OFFSET
    for i in range(n):
        h ^= p[i]
        h *= FNV_PRIME
    return h


def fnv1a_rounds(p: ptr[u8], n: u64, rounds: u64) -> u64:
    acc: u64 = 0
    for r in range(rounds):
        acc ^= fnv1a(p, n - (r & 7))
    return acc


# --------------------------------------------------------------------------- bitmap search


def find_first_zero(bm: ptr[u64], nwords: u64) -> u64:
    """Index of the first clear bit of an nwords-word bitmap, or NOT_FOUND (a frame allocator)."""
    for i in range(nwords):
        w = bm[i]
        if w != ALL_ONES:
            bit: u64 = 0
            while (w & 1) != 0:
                w >>= 1
                bit += 1
            return i * 64 + bit
    return NOT_FOUND


def bitmap_alloc(bm: ptr[u64], nwords: u64, count: u64) -> u64:
    """Allocates `count` frames first-fit (find the first clear bit, set it); sums their numbers."""
    total: u64 = 0
    for k in range(count):
        idx = find_first_zero(bm, nwords)
        if idx == NOT_FOUND:
            break
        bm[idx >> 6] |= u64(1) << (idx & 63)
        total += idx
    return total


# --------------------------------------------------------------------------- pointer chasing


@struct
class Node:
    value: u64
    next: ptr[Node]


def list_sum(head: ptr[Node]) -> u64:
    total: u64 = 0
    node = head
    while node != NULL:
        total += node.value
        node = node.next
    return total


def list_sum_rounds(head: ptr[Node], rounds: u64) -> u64:
    acc: u64 = 0
    node = head
    for r in range(rounds):
        acc += list_sum(node) ^ r
        node = node.next  # start one node later each round: no round is the same call twice
    return acc
