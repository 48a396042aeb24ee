from qkernel.dialect import NULL, Final, array, fn, kfmt, ptr, struct, u8, u16, u32, u64, i64
from qkernel.lib.fmt import Line

def f(lp: ptr[Line], n: i64) -> None:
    kfmt(lp, b"n=%x", n)
