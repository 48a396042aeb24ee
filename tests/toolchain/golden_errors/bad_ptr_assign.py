from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(p: ptr[u8], q: ptr[u64]) -> None:
    p = q
