"""File mappings: what mmap(2) of a descriptor maps, and the page reads behind file-backed VMAs.

The mm layer (qkernel/mm/mmap.py, fault.py, vma.py) keeps a file-backed VMA as (File, offset)
and knows nothing of files; this module is its VFS side: `fill` reads a page for a fault
(fault.file_fill), `get`/`put` are the references an address space holds on the Files it maps
(vma.file_get/file_put), and `mmap` checks a descriptor's mapping as Linux's do_mmap does and
makes it. Each file kind says what a mapping of it is through FileOps.mmap (node.MAP_PAGES:
its pages, read with kread at their first touch; node.MAP_ZERO: anonymous memory, /dev/zero);
a kind without the entry cannot be mapped (-ENODEV: pipes, sockets, directories, the console).

Semantics, and what differs from Linux: a private mapping (MAP_PRIVATE) gets a copy of each
file page at its first touch, so a write(2) to the file after that is not seen through the
mapping (Linux may show it until the page is written: POSIX leaves it unspecified). A shared
mapping of a file (MAP_SHARED) is read-only for now: its pages are copies as above, PROT_WRITE
gives -ENODEV at mmap and -EACCES at mprotect, so nothing written through a mapping is ever
lost silently; writable shared mappings need pages shared with the page cache and write-back.
Pages wholly past the end of the file read as zeros (Linux: SIGBUS).
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, cast, i64, ptr, u8, u64
from qkernel.fs import node
from qkernel.fs.node import MAP_ZERO, File
from qkernel.linux.errno import EACCES, EBADF, ENODEV
from qkernel.linux.fcntl import O_ACCMODE, O_APPEND, O_PATH, O_RDWR, O_WRONLY
from qkernel.linux.mman import MAP_ANONYMOUS, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_WRITE
from qkernel.mm import mmap
from qkernel.mm.addr import va
from qkernel.task import task
from qkernel.task.task import Task


def fill(file: u64, offset: u64, frame: u64) -> i64:
    """fault.file_fill: the page of `file` at `offset` into `frame`: the bytes read (the fault
    zeroes the rest) or -errno."""
    f = cast(ptr[File], file)
    return f.ops.kread(task.current, f, cast(ptr[u8], va(frame)), PAGE_SIZE, offset)


def get(file: u64) -> None:
    """vma.file_get: an address space holds a File it maps."""
    node.fget(cast(ptr[File], file))


def put(file: u64) -> None:
    """vma.file_put: an address space lets go of a File it mapped."""
    node.fput(cast(ptr[File], file))


def is_shared(flags: u64) -> bool:
    t = flags & MAP_TYPE
    return t == MAP_SHARED or t == MAP_SHARED_VALIDATE


def do_mmap(t: ptr[Task], f: ptr[File], addr: u64, length: u64, prot: u64, flags: u64,
            offset: u64) -> i64:
    """mmap(addr, length, prot, flags, fd, offset) of the open file f (flags without
    MAP_ANONYMOUS, offset page-aligned): the address or -errno. -EBADF for an O_PATH
    descriptor, -EACCES when f is not open for reading (or, shared and writable, not open
    read-write or open for appending), -ENODEV for a kind that cannot be
    mapped and for PROT_WRITE on a shared file mapping (see the module docstring); the
    mm layer's errors otherwise."""
    if f.flags & O_PATH != 0:
        return -EBADF
    if f.ops.mmap == NULL:
        return -ENODEV
    if f.flags & O_ACCMODE == O_WRONLY:
        return -EACCES
    kind = f.ops.mmap(t, f)
    if kind < 0:
        return kind
    mm = t.process.mm
    if kind == MAP_ZERO:
        return i64(mmap.mmap_anon(mm, addr, length, prot, flags | MAP_ANONYMOUS))
    if is_shared(flags) and prot & PROT_WRITE != 0:
        if f.flags & O_ACCMODE != O_RDWR or f.flags & O_APPEND != 0:
            return -EACCES
        return -ENODEV
    return i64(mmap.mmap_file(mm, addr, length, prot, flags, u64(f), offset))
