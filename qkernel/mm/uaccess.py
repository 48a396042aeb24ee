"""Access to user memory from the kernel, validated page by page.

Every user pointer a system call receives goes through these functions: each page of the range
must be mapped present and user-accessible (and writable, for copy_to_user) in the current page
tables, else the call fails with -EFAULT before touching anything beyond the checked pages.
Pages are reached through the direct map, so this works whatever the kernel's privilege level.

One exception, for the calls that move data between two files in the kernel (sendfile,
copy_file_range): the current task's own transfer buffer (Task.kio_base/kio_len, a kernel range
that no program can name, set only while such a call runs and switched with the task) is
accepted as a "user" range and copied with memcpy, so every file kind's read and write serve
those calls unchanged (Linux's old set_fs(KERNEL_DS), limited to one buffer of one task).
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, cast, fn, i64, memcpy, ptr, u8, u64
from qkernel.arch import priv
from qkernel.mm import fault, pagetable, vma
from qkernel.mm.pagetable import NO_PA, USER_TOP
from qkernel.mm.addr import va
from qkernel.linux.errno import EFAULT


kernel_buffer: fn[[u64, u64], bool] = NULL   # task.in_kio: inside the current task's transfer buffer


def kernel_io(addr: u64, n: u64) -> bool:
    """True when [addr, addr + n) is the current task's transfer buffer (never a user range)."""
    return addr >= USER_TOP and kernel_buffer != NULL and kernel_buffer(addr, n)


def user_page_pa(addr: u64, write: bool) -> u64:
    """Physical address of the byte at user address `addr`, or NO_PA when no access is
    possible. A page the address space holds but has not populated yet (a fresh mmap, the stack
    below its populated top) is faulted in first, as the CPU's access would."""
    pa = walk(addr, write)
    if pa == NO_PA and vma.active != NULL and addr < USER_TOP:
        if fault.handle_fault(vma.active, addr, write, False) == 0:
            pa = walk(addr, write)
    return pa


def walk(addr: u64, write: bool) -> u64:
    """The page-table walk of user_page_pa on the loaded tables, without faulting anything in."""
    return pagetable.translate_user(priv.current_cr3(), addr, write)


def range_ok(addr: u64, n: u64, write: bool) -> bool:
    """True when every page of [addr, addr + n) is accessible (n == 0 is always fine)."""
    if n == 0:
        return True
    if addr >= USER_TOP:
        return kernel_io(addr, n)
    end = addr + n
    if end < addr or end > USER_TOP:
        return False
    page = addr & ~u64(PAGE_SIZE - 1)
    while page < end:
        if user_page_pa(page, write) == NO_PA:
            return False
        page += PAGE_SIZE
    return True


def _copy(user: u64, kbuf: ptr[u8], n: u64, to_user: bool) -> i64:
    """Copies n bytes between user address `user` and kernel buffer kbuf, page by page through
    the direct map; 0, or -EFAULT before anything is copied when the range is not accessible."""
    if user >= USER_TOP and kernel_io(user, n):
        if to_user:
            memcpy(cast(ptr[u8], user), kbuf, n)
        else:
            memcpy(kbuf, cast(ptr[u8], user), n)
        return 0
    if not range_ok(user, n, to_user):
        return -EFAULT
    done: u64 = 0
    while done < n:
        frame = cast(ptr[u8], va(user_page_pa(user + done, to_user)))
        chunk = PAGE_SIZE - ((user + done) & (PAGE_SIZE - 1))
        if chunk > n - done:
            chunk = n - done
        if to_user:
            memcpy(frame, kbuf + done, chunk)
        else:
            memcpy(kbuf + done, frame, chunk)
        done += chunk
    return 0


def copy_from_user(dst: ptr[u8], src: u64, n: u64) -> i64:
    """Copies n bytes from user address src; 0 or -EFAULT (then nothing was copied)."""
    return _copy(src, dst, n, False)


def copy_to_user(dst: u64, src: ptr[u8], n: u64) -> i64:
    """Copies n bytes to user address dst; 0 or -EFAULT (then nothing was written)."""
    return _copy(dst, src, n, True)


def strncpy_from_user(dst: ptr[u8], src: u64, size: u64) -> i64:
    """Copies a NUL-terminated user string into dst (size bytes, NUL included); returns its
    length, -EFAULT, or -1 when no NUL fits in size bytes (the caller picks the errno).
    One page walk per page, not per byte."""
    i: u64 = 0
    while i < size:
        pa = user_page_pa(src + i, False)
        if pa == NO_PA:
            return -EFAULT
        page = cast(ptr[u8], va(pa))
        chunk = PAGE_SIZE - ((src + i) & (PAGE_SIZE - 1))
        if chunk > size - i:
            chunk = size - i
        for j in range(chunk):
            c = page[j]
            dst[i + j] = c
            if c == 0:
                return i64(i + j)
        i += chunk
    return -1
