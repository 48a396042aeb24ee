"""Pure-integer kernel-Python functions for the differential test (CPython vs compiled)."""

from __future__ import annotations

from qkernel.dialect import i8, i16, i32, i64, u8, u16, u32, u64


def gcd(a: u64, b: u64) -> u64:
    while b != 0:
        t = a % b
        a = b
        b = t
    return a


def popcount(x: u64) -> u64:
    n: u64 = 0
    while x != 0:
        x = x & (x - 1)
        n += 1
    return n


def bit_reverse32(x: u32) -> u32:
    r: u32 = 0
    for _ in range(32):
        r = (r << 1) | (x & 1)
        x = x >> 1
    return r


def isqrt(n: u64) -> u64:
    if n < 2:
        return n
    lo: u64 = 1
    hi: u64 = 4294967295 if n > 4294967295 else n
    while lo < hi:
        mid = lo + (hi - lo + 1) // 2
        if mid * mid <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


def collatz_steps(n: u64, limit: u64) -> u64:
    steps: u64 = 0
    while n > 1 and steps < limit:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def mix8(a: u8, b: u8) -> u8:
    return (a * 31 + b) ^ (a >> 3) ^ u8(b << 5)


def signed_mix(a: i32, b: i16) -> i32:
    return (a - b) * 7 // 3 + (a % 5) - (~b)


def sign_extend(a: i8) -> i64:
    return i64(a) * 1000 + i64(u8(a))


def truncations(x: u64) -> u64:
    return u64(u8(x)) + u64(u16(x)) * 3 + u64(u32(x)) * 5 + u64(i8(x) < 0) * 7


def fnv1a_step(h: u32, byte: u8) -> u32:
    return (h ^ byte) * 16777619


def sum_range(lo: i64, hi: i64) -> i64:
    total: i64 = 0
    for i in range(lo, hi):
        total += i * i
    return total


def clamp_sub(a: i16, b: i16) -> i16:
    return a - b if a > b else b - a


def ternary_chain(a: u32, b: u32, c: u32) -> u32:
    if a < b < c:
        return 1
    if a == b or b == c:
        return 2
    return 3 if not (a > c) else 4
