from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
import os
def f() -> u64:
    return 0
