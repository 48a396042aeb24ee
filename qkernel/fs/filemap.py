"""File mappings: what mmap(2) of a descriptor maps, and the page reads behind file-backed VMAs.

The mm layer (qkernel/mm/mmap.py, fault.py, vma.py) keeps a file-backed VMA as (File, offset)
and knows nothing of files; this module is its VFS side: `fill` reads a page for a fault
(fault.file_fill), `get`/`put` are the references an address space holds on the Files it maps
(vma.file_get/file_put), and `mmap` checks a descriptor's mapping as Linux's do_mmap does and
makes it. Each file kind says what a mapping of it is through FileOps.mmap (node.MAP_PAGES:
its pages, read with kread at their first touch; node.MAP_CACHE: the same, and its page-cache
frames can be mapped shared; node.MAP_ZERO: anonymous memory, /dev/zero); a kind without the
entry cannot be mapped (-ENODEV: pipes, sockets, directories, the console).

Semantics, and what differs from Linux:
- A private mapping (MAP_PRIVATE) gets a copy of each file page at its first touch, so a
  write(2) to the file after that is not seen through the mapping (Linux may show it until the
  page is written: POSIX leaves it unspecified). Pages wholly past the end of the file read as
  zeros (Linux: SIGBUS).
- A shared mapping (MAP_SHARED) of an in-memory file (tmpfs, /dev/shm, a file of the root's
  overlay) maps the page cache's frames themselves (vma.VM_PAGES): writes through it are the
  file's data at once, for read(2), for other mappings and across fork, as on Linux. A file of
  the host root mapped shared and writable is copied into memory first (as before its first
  write(2)); mapped shared read-only it gets copies, as a private mapping. Touching a page past
  the end of the file is SIGSEGV (Linux: SIGBUS).
- Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, or of /dev/zero) is an unnamed in-memory
  file of the mapping's size mapped so (Linux's shmem): it stays shared across fork.
- A shared writable mapping of a read-write bind's host file (hostrw: nothing of it is cached)
  is -ENODEV.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, u8, u64
from qkernel.fs import memfs, node, pagecache
from qkernel.fs.anon import ANON_DEV
from qkernel.fs.node import I_UPPER, MAP_CACHE, MAP_ZERO, File
from qkernel.linux.errno import EACCES, EBADF, EFAULT, EINVAL, ENODEV, ENOMEM, EPERM
from qkernel.linux.fcntl import F_SEAL_FUTURE_WRITE, F_SEAL_WRITE, O_ACCMODE, O_APPEND, O_PATH, O_RDWR, O_WRONLY
from qkernel.linux.mman import MAP_ANONYMOUS, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_WRITE
from qkernel.linux.stat import S_IFREG
from qkernel.mm import mmap
from qkernel.mm.vma import VM_MAYWRITE, VM_PAGES
from qkernel.mm.addr import va
from qkernel.task import task
from qkernel.task.task import Task

MAX_SHM: Final = 1 << 40         # the largest shared anonymous mapping (the mm layer bounds it too)


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


def shared_page(file: u64, offset: u64) -> i64:
    """fault.file_page: the page-cache frame of `file` at `offset` (a VM_PAGES VMA: the file
    is in memory), or -EFAULT past the end of the file."""
    f = cast(ptr[File], file)
    i = f.inode
    if offset >= (u64(i.st.st_size) + PAGE_SIZE - 1) & ~u64(PAGE_SIZE - 1):
        return -EFAULT
    return pagecache.shared_page(i, offset // PAGE_SIZE)


def shared_anon(t: ptr[Task], addr: u64, length: u64, prot: u64, flags: u64) -> i64:
    """mmap of shared anonymous memory: an unnamed in-memory file of `length` bytes mapped
    shared (the space holds it; it goes with the last mapping's space)."""
    if length == 0 or length > MAX_SHM:
        return -EINVAL if length == 0 else -ENOMEM
    i = node.new_inode(NULL, S_IFREG | 0o600, NULL, addr_of(memfs.FILE_OPS))
    if i == NULL:
        return -ENOMEM
    i.iflags = I_UPPER
    i.st.st_nlink = 0
    i.st.st_dev = ANON_DEV
    i.st.st_size = (length + PAGE_SIZE - 1) & ~u64(PAGE_SIZE - 1)
    f = node.new_file(addr_of(memfs.FILE_OPS), i, O_RDWR)
    if f == NULL:
        node.free_inode(i)
        return -ENOMEM
    r = i64(mmap.mmap_file(t.process.mm, addr, length, prot, flags & ~u64(MAP_ANONYMOUS), u64(f), 0,
                           VM_PAGES | VM_MAYWRITE))
    node.fput(f)                   # the space holds it now (or nothing does: it goes)
    return r


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
    shared = is_shared(flags)
    if kind == MAP_ZERO:
        if shared:
            return shared_anon(t, addr, length, prot, flags)
        return i64(mmap.mmap_anon(mm, addr, length, prot, flags | MAP_ANONYMOUS))
    writable = f.flags & O_ACCMODE == O_RDWR and f.flags & O_APPEND == 0
    if shared and prot & PROT_WRITE != 0 and not writable:
        return -EACCES
    extra: u64 = 0
    if shared and kind == MAP_CACHE:
        i = f.inode
        if writable and i.iflags & I_UPPER == 0:
            r = pagecache.copy_up(t, i)
            if r < 0:
                return r
        if i.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0:
            if prot & PROT_WRITE != 0:
                return -EPERM          # a write-sealed memfd (qkernel/fs/memfd.py)
            writable = False
        if i.iflags & I_UPPER != 0:
            extra = VM_PAGES | (VM_MAYWRITE if writable else 0)
    if shared and prot & PROT_WRITE != 0 and extra == 0:
        return -ENODEV
    return i64(mmap.mmap_file(mm, addr, length, prot, flags, u64(f), offset, extra))
