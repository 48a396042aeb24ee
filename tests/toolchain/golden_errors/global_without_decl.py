from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
counter: u64
def f() -> None:
    counter = 5
