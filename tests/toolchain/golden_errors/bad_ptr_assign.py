from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(p: ptr[u64], q: ptr[u8]) -> None:
    p = q
