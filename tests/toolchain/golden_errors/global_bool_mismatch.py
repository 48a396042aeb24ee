from qkernel.dialect import u8, u32, u64, i64, ptr, struct, cast, NULL, asm, export
flag: bool = 5
