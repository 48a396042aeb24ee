from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def g(a: u64) -> u64:
    return a
def f() -> u64:
    return g(1, 2)
