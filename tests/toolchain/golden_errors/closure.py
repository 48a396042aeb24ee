from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def outer(x: u64) -> u64:
    def inner() -> u64:
        return x
    return inner()
