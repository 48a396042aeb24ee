"""The per-process descriptor table: numbers to Files (Process.files, a FdTable).

Slots live in frames from the direct map, grown by doubling up to the process's RLIMIT_NOFILE
(at most FD_MAX). Slot n holds descriptor n's File with FD_CLOEXEC in bit 0. Every function
takes the Process; descriptors are u64 as they arrive in registers (a negative int is huge and
so -EBADF).
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, cast, i64, memcpy, ptr, u64
from qkernel.fs import locks
from qkernel.fs.node import File, fget, fput
from qkernel.linux.errno import EBADF, EMFILE, ENOMEM
from qkernel.linux.resource import RLIMIT_NOFILE
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.task.process import Process

FD_MAX: Final = 1 << 20          # Linux's default fs.nr_open
SLOTS_PER_PAGE: Final = PAGE_SIZE // 8
CLOEXEC_BIT: Final = 1


def limit(p: ptr[Process]) -> u64:
    n = p.rlimits[RLIMIT_NOFILE].rlim_cur
    return n if n < FD_MAX else FD_MAX


def get(p: ptr[Process], fd: u64) -> ptr[File]:
    """The File of descriptor fd (no new reference), NULL when fd is not open."""
    if fd >= p.files.cap:
        return NULL
    return cast(ptr[File], p.files.table[fd] & ~u64(CLOEXEC_BIT))


def cloexec(p: ptr[Process], fd: u64) -> bool:
    return fd < p.files.cap and p.files.table[fd] & CLOEXEC_BIT != 0


def set_cloexec(p: ptr[Process], fd: u64, on: bool) -> None:
    if fd < p.files.cap and p.files.table[fd] != 0:
        p.files.table[fd] = (p.files.table[fd] & ~u64(CLOEXEC_BIT)) | (1 if on else 0)


def grow(p: ptr[Process], need: u64) -> i64:
    """Makes slot `need` exist; 0 or -ENOMEM."""
    npages = p.files.npages if p.files.npages != 0 else 1
    while npages * SLOTS_PER_PAGE <= need:
        npages *= 2
    if npages == p.files.npages:
        return 0
    phys = frames.alloc_contig(npages)
    if phys == 0:
        return -ENOMEM
    table = cast(ptr[u64], va(phys))
    for k in range(npages):
        frames.zero(phys + k * PAGE_SIZE)     # the host's zeroing where CPL 0 is emulated
    if p.files.table != NULL:
        memcpy(table, p.files.table, p.files.cap * 8)
        release_table(p)
    p.files.table = table
    p.files.npages = npages
    p.files.cap = npages * SLOTS_PER_PAGE
    return 0


def release_table(p: ptr[Process]) -> None:
    """Frees the table's frames (its descriptors closed first); the table is empty after."""
    if p.files.table == NULL:
        return
    base = u64(p.files.table) - va(0)
    for k in range(p.files.npages):
        frames.free(base + k * PAGE_SIZE)
    p.files.table = NULL
    p.files.cap = 0
    p.files.npages = 0


def install_at(p: ptr[Process], fd: u64, f: ptr[File], close_on_exec: bool) -> i64:
    """Descriptor fd takes f (the caller's reference moves into the table); a File that was
    there is closed. fd or -EBADF (past the limit) / -ENOMEM."""
    if fd >= limit(p):
        return -EBADF
    if fd >= p.files.cap:
        r = grow(p, fd)
        if r < 0:
            return r
    old = get(p, fd)
    p.files.table[fd] = u64(f) | (1 if close_on_exec else 0)
    if old != NULL:
        locks.posix_close(u64(p), old.inode)
    fput(old)
    return i64(fd)


def alloc(p: ptr[Process], lowest: u64, f: ptr[File], close_on_exec: bool) -> i64:
    """The lowest free descriptor >= lowest takes f (the caller's reference); -EMFILE at
    RLIMIT_NOFILE (f is then not consumed)."""
    lim = limit(p)
    fd = lowest
    while fd < p.files.cap and p.files.table[fd] != 0:
        fd += 1
    if fd >= lim:
        return -EMFILE
    return install_at(p, fd, f, close_on_exec)


def close(p: ptr[Process], fd: u64) -> i64:
    f = get(p, fd)
    if f == NULL:
        return -EBADF
    p.files.table[fd] = 0
    locks.posix_close(u64(p), f.inode)   # closing any descriptor of a file drops its record locks
    fput(f)
    return 0


def close_on_exec(p: ptr[Process]) -> None:
    for fd in range(p.files.cap):
        if p.files.table[fd] & CLOEXEC_BIT != 0:
            close(p, fd)


def close_all(p: ptr[Process]) -> None:
    for fd in range(p.files.cap):
        if p.files.table[fd] != 0:
            close(p, fd)


def copy(dst: ptr[Process], src: ptr[Process]) -> i64:
    """fork: dst gets src's descriptors (shared Files, FD_CLOEXEC kept); 0 or -ENOMEM."""
    if src.files.cap == 0:
        return 0
    r = grow(dst, src.files.cap - 1)
    if r < 0:
        return r
    for fd in range(src.files.cap):
        e = src.files.table[fd]
        if e != 0:
            fget(cast(ptr[File], e & ~u64(CLOEXEC_BIT)))
            dst.files.table[fd] = e
    return 0


def count_open(p: ptr[Process]) -> u64:
    n: u64 = 0
    for fd in range(p.files.cap):
        if p.files.table[fd] != 0:
            n += 1
    return n


def fput_ref(f: ptr[File]) -> None:
    """Gives back a reference taken for a descriptor that could not be installed."""
    fput(f)
