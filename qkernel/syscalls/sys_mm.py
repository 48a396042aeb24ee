"""Memory system calls: brk, mmap (anonymous), munmap, mprotect, mremap, madvise — thin wrappers
over qkernel/mm/vma.py on the current address space."""

from __future__ import annotations

from qkernel.dialect import Final, i64, u64
from qkernel.mm import vma
from qkernel.syscalls import sys_io
from qkernel.syscalls.errno import EBADF, EINVAL, ENODEV

PAGE_MASK_LOW: Final = 0xFFF


def sys_brk(new: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return i64(vma.brk(vma.current, new))


def sys_mmap(addr: u64, length: u64, prot: u64, flags: u64, fd: u64, offset: u64) -> i64:
    """Anonymous mappings; file mappings arrive with the VFS (-ENODEV until then)."""
    if offset & PAGE_MASK_LOW != 0:
        return -EINVAL
    if flags & vma.MAP_ANONYMOUS == 0:
        return -ENODEV if fd < 3 and sys_io.stdio_open >> fd & 1 != 0 else -EBADF
    return i64(vma.mmap_anon(vma.current, addr, length, prot, flags))


def sys_munmap(addr: u64, length: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return vma.munmap(vma.current, addr, length)


def sys_mprotect(addr: u64, length: u64, prot: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return vma.mprotect(vma.current, addr, length, prot)


def sys_mremap(old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64, a5: u64) -> i64:
    return i64(vma.mremap(vma.current, old, old_len, new_len, flags, new_addr))


def sys_madvise(addr: u64, length: u64, advice: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return vma.madvise(vma.current, addr, length, advice)
