"""A kernel-Python program: `qkc run examples/fib.py fib 30`."""

from qkernel.dialect import u64


def fib(n: u64) -> u64:
    a: u64 = 0
    b: u64 = 1
    for _ in range(n):
        t = a + b
        a = b
        b = t
    return a
