from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(a: u64) -> u64:
    if (b := a) > 1:
        return b
    return 0
