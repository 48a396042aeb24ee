"""Kernel objects: fixed-size pools over the frame allocator (a minimal slab).

A Pool hands out objects of one size: `alloc` takes one from the pool's free list, carving a
fresh slab from the frame allocator when the list is empty (one frame for objects up to a page,
else the object's size in contiguous frames); `free` puts it back. Objects of a `zeroed` pool
are zeroed on alloc (others, such as stacks and buffers, are not: on kvm_pvm CPL 0 code runs in
the hypervisor's emulator, where clearing 64 KiB costs milliseconds). Exhaustion returns NULL
(callers answer -ENOMEM), never a panic. Slabs are not given back to the frame allocator (a
pool keeps its high-water mark).

Pools are module-level kernel state shared by all tasks; allocation is not preemptible (one
vCPU, and the kernel does not switch tasks inside alloc/free). A second vCPU needs a lock here.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, cast, memset, ptr, struct, u64
from qkernel.mm import frames
from qkernel.mm.addr import va


@struct
class FreeObj:
    next: ptr[FreeObj]


@struct
class Pool:
    size: u64          # bytes per object (a multiple of 16, at least 16)
    free: ptr[FreeObj]  # the free list
    in_use: u64        # objects handed out and not freed
    slabs: u64         # slabs carved so far
    limit: u64         # most objects this pool may have in use (0: no limit but memory)
    zeroed: bool       # alloc() clears the object


def init(pool: ptr[Pool], size: u64, limit: u64, zeroed: bool) -> None:
    pool.size = (size + 15) & ~u64(15)
    if pool.size < 16:
        pool.size = 16
    pool.free = NULL
    pool.in_use = 0
    pool.slabs = 0
    pool.limit = limit
    pool.zeroed = zeroed


def _grow(pool: ptr[Pool]) -> bool:
    npages = (pool.size + PAGE_SIZE - 1) // PAGE_SIZE
    phys = frames.alloc_contig(npages)
    if phys == 0:
        return False
    base = va(phys)
    count = (npages * PAGE_SIZE) // pool.size
    for i in range(count):
        obj = cast(ptr[FreeObj], base + (count - 1 - i) * pool.size)
        obj.next = pool.free
        pool.free = obj
    pool.slabs += 1
    return True


def alloc(pool: ptr[Pool]) -> ptr[None]:
    """An object of the pool's size (zeroed if the pool says so), or NULL when the pool's limit
    or memory is exhausted."""
    if pool.limit != 0 and pool.in_use >= pool.limit:
        return NULL
    if pool.free == NULL and not _grow(pool):
        return NULL
    obj = pool.free
    pool.free = obj.next
    pool.in_use += 1
    if pool.zeroed:
        memset(cast(ptr[None], obj), 0, pool.size)
    return cast(ptr[None], obj)


def free(pool: ptr[Pool], p: ptr[None]) -> None:
    """Returns an object alloc() gave out (NULL is ignored)."""
    if p == NULL:
        return
    obj = cast(ptr[FreeObj], p)
    obj.next = pool.free
    pool.free = obj
    pool.in_use -= 1
