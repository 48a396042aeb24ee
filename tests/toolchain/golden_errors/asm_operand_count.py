from qkernel.dialect import u8, u32, u64, i64, ptr, struct, cast, NULL, asm, export
def f(n: u64) -> u64:
    return asm("nop", "=r,r,r", n)
