from qkernel.dialect import u8, u32, u64, i64, ptr, struct, cast, NULL, asm, export
def f() -> u64:
    return asm("mov $$1, $0; mov $$2, $1", "=r,=r")
