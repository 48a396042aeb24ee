from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f() -> u64:
    x = 1.5
    return 0
