"""Differential corpus for tables as data: struct initialisers, character constants and kfmt.

Runs under CPython (qkernel.dialect's struct constructors and kfmt model) and compiled (JIT);
tests/toolchain/test_differential.py compares the two. Every list initialiser is complete (under
CPython a shorter list is not padded to the array's length).
"""
from __future__ import annotations

from qkernel.dialect import NULL, Final, array, fn, i32, i64, kfmt, ptr, struct, u8, u16, u32, u64
from qkernel.lib.fmt import Line

handler_t = fn[[u64], u64]

SLASH: Final = ord(b"/")
DOT: Final[u8] = b"./"[0]
NR_ENTRIES: Final = 4


@struct
class Limits:
    lo: u16
    hi: u16


@struct
class Entry:
    nr: u32
    name: ptr[u8]
    handler: handler_t
    args: u8
    limits: Limits
    weights: array[u8, 3]
    enabled: bool


def plus_one(x: u64) -> u64:
    return x + 1


def twice(x: u64) -> u64:
    return x * 2


TABLE: array[Entry, NR_ENTRIES] = [
    Entry(0, b"read", plus_one, 3, Limits(1, 2), [1, 2, 3], True),
    Entry(nr=1, name=b"write", handler=twice, args=3, weights=[SLASH]),
    Entry(2, b"open", NULL, enabled=True, limits=Limits(hi=0xFFFF)),
    Entry(),
]
DEFAULT: Entry = Entry(99, b"none", twice, limits=Limits(DOT, ord(b"z")))
SEPARATORS: array[u8, 3] = [SLASH, DOT, b"-"[0]]


def entry_value(i: u64, x: u64) -> u64:
    e_nr: u64 = TABLE[i].nr
    total: u64 = e_nr * 1000000 + u64(TABLE[i].args) * 100000 + u64(TABLE[i].limits.hi) \
        + u64(TABLE[i].limits.lo) * 7
    for k in range(3):
        total += u64(TABLE[i].weights[k]) * u64(k + 1) * 10
    if TABLE[i].handler != NULL:
        total += TABLE[i].handler(x)
    if TABLE[i].enabled:
        total += 3
    if TABLE[i].name != NULL:
        total += u64(TABLE[i].name[0]) << 32
    return total


def default_value(x: u64) -> u64:
    return DEFAULT.nr + DEFAULT.handler(x) + u64(DEFAULT.limits.lo) * 1000 + u64(DEFAULT.limits.hi) * 100000


def classify(c: u8) -> u64:
    if c == SLASH:
        return 1
    if c == ord(b"."):
        return 2
    if c >= b"0"[0] and c <= ord(b"9"):
        return 3 + u64(c - ord(b"0"))
    if c == SEPARATORS[2]:
        return 20
    return 0


def fmt_regs(lp: ptr[Line], rip: u64, cr2: u64, err: i32, c: u8) -> u64:
    kfmt(lp, b"rip=%x cr2=%x err=%d c=%c %u%% [%s]", rip, cr2, err, c, u16(cr2), b"ok")
    return lp.len


def fmt_entry(lp: ptr[Line], i: u64, v: i64) -> u64:
    kfmt(lp, b"%s(%u) -> %d; ", TABLE[i].name, TABLE[i].nr, v)
    kfmt(lp, b"x")
    kfmt(lp, b"%x", TABLE[i].handler)
    return lp.len


def fmt_overflow(lp: ptr[Line], n: u64) -> u64:
    for i in range(n):
        kfmt(lp, b"%u,", i)
    return lp.len
