from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(x: u64) -> u64:
    s = f"{x}"
    return 0
