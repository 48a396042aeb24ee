from qkernel.dialect import u8, u32, u64, i64, ptr, struct, cast, NULL, asm, export
@export("x1")
def a() -> u64:
    return 1
@export("x1")
def b() -> u64:
    return 2
