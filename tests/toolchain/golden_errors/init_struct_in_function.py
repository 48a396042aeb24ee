from qkernel.dialect import NULL, Final, array, fn, kfmt, ptr, struct, u8, u16, u32, u64, i64
from qkernel.lib.fmt import Line

@struct
class Ops:
    read: fn[[u64], u64]
    name: ptr[u8]
    mode: u8


def rd(x: u64) -> u64:
    return x


def f() -> u64:
    o = Ops(rd, NULL, 1)
    return o.mode
