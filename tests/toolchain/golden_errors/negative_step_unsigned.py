from qkernel.dialect import u8, u32, u64, i64, ptr, struct, cast, NULL, asm, export
def f(n: u64) -> u64:
    t: u64 = 0
    for i in range(n, 0, -1):
        t += i
    return t
