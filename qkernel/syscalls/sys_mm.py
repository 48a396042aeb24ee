"""Memory system calls: brk, mmap (anonymous), munmap, mprotect, mremap, madvise — thin wrappers
over qkernel/mm/mmap.py on the calling process's address space."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, i64, ptr
from qkernel.linux.errno import EBADF, EINVAL, ENODEV
from qkernel.linux.mman import MAP_ANONYMOUS
from qkernel.mm import mmap
from qkernel.syscalls.table import SyscallArgs
from qkernel.fs import fdtable
from qkernel.task.task import Task

PAGE_MASK_LOW: Final = 0xFFF


def sys_brk(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(mmap.brk(t.process.mm, a.a0))


def sys_mmap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Anonymous mappings; file mappings arrive with the VFS (-ENODEV until then)."""
    if a.a5 & PAGE_MASK_LOW != 0:
        return -EINVAL
    if a.a3 & MAP_ANONYMOUS == 0:
        return -ENODEV if fdtable.get(t.process, a.a4) != NULL else -EBADF
    return i64(mmap.mmap_anon(t.process.mm, a.a0, a.a1, a.a2, a.a3))


def sys_munmap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.munmap(t.process.mm, a.a0, a.a1)


def sys_mprotect(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.mprotect(t.process.mm, a.a0, a.a1, a.a2)


def sys_mremap(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(mmap.mremap(t.process.mm, a.a0, a.a1, a.a2, a.a3, a.a4))


def sys_madvise(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return mmap.madvise(t.process.mm, a.a0, a.a1, a.a2)
