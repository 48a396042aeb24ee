from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
def f(a: u64) -> u64:
    match a:
        case 1:
            return 1
    return 0
