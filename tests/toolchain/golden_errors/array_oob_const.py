from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
buf: array[u8, 4]
def f() -> u8:
    return buf[4]
