"""<linux/futex.h>: futex operations, flags and the robust list."""

from __future__ import annotations

from qkernel.dialect import Final, struct, u64

FUTEX_WAIT: Final = 0
FUTEX_WAKE: Final = 1
FUTEX_FD: Final = 2
FUTEX_REQUEUE: Final = 3
FUTEX_CMP_REQUEUE: Final = 4
FUTEX_WAKE_OP: Final = 5
FUTEX_LOCK_PI: Final = 6
FUTEX_UNLOCK_PI: Final = 7
FUTEX_TRYLOCK_PI: Final = 8
FUTEX_WAIT_BITSET: Final = 9
FUTEX_WAKE_BITSET: Final = 10
FUTEX_WAIT_REQUEUE_PI: Final = 11
FUTEX_CMP_REQUEUE_PI: Final = 12
FUTEX_LOCK_PI2: Final = 13
FUTEX_PRIVATE_FLAG: Final = 128
FUTEX_CLOCK_REALTIME: Final = 256
FUTEX_CMD_MASK: Final = 0xFFFF_FE7F     # ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME), of the 32-bit op
FUTEX_BITSET_MATCH_ANY: Final = 0xFFFF_FFFF

FUTEX_OP_SET: Final = 0
FUTEX_OP_ADD: Final = 1
FUTEX_OP_OR: Final = 2
FUTEX_OP_ANDN: Final = 3
FUTEX_OP_XOR: Final = 4
FUTEX_OP_OPARG_SHIFT: Final = 8
FUTEX_OP_CMP_EQ: Final = 0
FUTEX_OP_CMP_NE: Final = 1
FUTEX_OP_CMP_LT: Final = 2
FUTEX_OP_CMP_LE: Final = 3
FUTEX_OP_CMP_GT: Final = 4
FUTEX_OP_CMP_GE: Final = 5

FUTEX_WAITERS: Final = 0x8000_0000
FUTEX_OWNER_DIED: Final = 0x4000_0000
FUTEX_TID_MASK: Final = 0x3FFF_FFFF
ROBUST_LIST_LIMIT: Final = 2048


@struct
class RobustListHead:
    """struct robust_list_head: the list (a pointer to the next entry's list field), the offset
    of the futex word from an entry, and the entry being locked or unlocked."""
    next: u64
    futex_offset: u64
    list_op_pending: u64
