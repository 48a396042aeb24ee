"""Memory system calls: brk, mmap (anonymous and of files), munmap, mprotect, mremap, madvise,
msync, mincore — thin wrappers over qkernel/mm/mmap.py (file mappings: qkernel/fs/filemap.py)
on the calling process's address space."""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, addr_of, i64, ptr, u64
from qkernel.linux.errno import EBADF, EFAULT, EINVAL
from qkernel.mm.uaccess import copy_to_user
from qkernel.linux.mman import MAP_ANONYMOUS
from qkernel.mm import mmap
from qkernel.syscalls.table import SyscallArgs
from qkernel.fs import fdtable, filemap
from qkernel.task.task import Task

PAGE_MASK_LOW: Final = 0xFFF
SCRATCH_CHUNK: Final = 4096      # mincore bytes gathered per copy


def sys_brk(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(mmap.brk(t.process.mm, a.a0))


def sys_mmap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Anonymous mappings, and file mappings through qkernel/fs/filemap.py."""
    if a.a5 & PAGE_MASK_LOW != 0:
        return -EINVAL
    if a.a3 & MAP_ANONYMOUS == 0:
        f = fdtable.get(t.process, a.a4)
        if f == NULL:
            return -EBADF
        return filemap.do_mmap(t, f, a.a0, a.a1, a.a2, a.a3, a.a5)
    if filemap.is_shared(a.a3):
        return filemap.shared_anon(t, a.a0, a.a1, a.a2, a.a3)
    return i64(mmap.mmap_anon(t.process.mm, a.a0, a.a1, a.a2, a.a3))


def sys_munmap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.munmap(t.process.mm, a.a0, a.a1)


def sys_mprotect(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.mprotect(t.process.mm, a.a0, a.a1, a.a2)


def sys_mremap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(mmap.mremap(t.process.mm, a.a0, a.a1, a.a2, a.a3, a.a4))


def sys_madvise(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.madvise(t.process.mm, a.a0, a.a1, a.a2)


def sys_msync(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.msync(t.process.mm, a.a0, a.a1, a.a2)


def sys_mincore(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """One byte per page into vec (a.a2): 1 for a page with a frame, 0 for one not touched yet."""
    mm = t.process.mm
    end: u64 = 0
    r = mmap.mapped_range(mm, a.a0, a.a1, addr_of(end))
    if r < 0:
        return r
    buf = t.scratch
    page = a.a0
    out = a.a2
    while page < end:
        n: u64 = 0
        while page < end and n < SCRATCH_CHUNK:
            buf[n] = mmap.mincore_page(mm, page)
            n += 1
            page += PAGE_SIZE
        if copy_to_user(out, buf, n) < 0:
            return -EFAULT
        out += n
    return 0
