from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
@struct
class P:
    x: u64
def f(p: P) -> u64:
    return 0
