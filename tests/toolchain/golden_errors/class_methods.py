from qkernel.dialect import u8, u32, u64, i64, ptr, struct, array, fn, cast, NULL
@struct
class P:
    x: u64
    def norm(self) -> u64:
        return self.x
