from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(a: u8) -> u8:
    return a + 300
