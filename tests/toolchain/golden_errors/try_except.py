from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f() -> u64:
    try:
        return 1
    except Exception:
        return 2
