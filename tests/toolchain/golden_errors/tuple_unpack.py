from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(a: u64, b: u64) -> u64:
    a, b = b, a
    return a
