from qkernel.dialect import NULL, Final, array, fn, kfmt, ptr, struct, u8, u16, u32, u64, i64
from qkernel.lib.fmt import Line

LAST: Final = b"ab"[2]
