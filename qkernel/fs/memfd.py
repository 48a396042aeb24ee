"""memfd_create's files and file seals (F_ADD_SEALS, F_GET_SEALS), as Linux's mm/memfd.c.

A memfd is an in-memory regular file (memfs's inode operations and data: read, write,
ftruncate, fallocate, shared mappings of its page-cache frames) that no directory names: its
dentry "memfd:NAME" hangs off the root of an internal tmpfs mount that is in no mount table
(Linux's shm_mnt), so /proc/PID/fd/N reads "/memfd:NAME (deleted)". The inode has nlink 0 and
goes with its last File; the dentry is freed with it (MEMFD_OPS.release).

Seals live in Inode.seals of inodes marked I_SEALS (a memfd made with MFD_ALLOW_SEALING; without
it F_SEAL_SEAL is set from the start). memfs refuses what they forbid: writes and holes
(F_SEAL_WRITE, F_SEAL_FUTURE_WRITE), growth (F_SEAL_GROW), shrinking (F_SEAL_SHRINK) with -EPERM;
qkernel/fs/filemap.py refuses writable shared mappings of a write-sealed file. Other tmpfs files
report F_SEAL_SEAL and refuse new seals (-EPERM), every other kind -EINVAL, as on Linux.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i64, memcpy, ptr, u8, u64
from qkernel.fs import memfs, vfs
from qkernel.fs.node import (I_SEALS, I_UPPER, File, FileOps, Mount, dentry_pool, free_inode,
                             generic_llseek, map_cache, new_dentry, new_file)
from qkernel.linux.errno import EBUSY, EINVAL, ENFILE, ENOMEM, EPERM
from qkernel.linux.fcntl import (F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL,
                                 F_SEAL_SHRINK, F_SEAL_WRITE, O_ACCMODE, O_LARGEFILE, O_RDONLY, O_RDWR)
from qkernel.linux.stat import S_IFMT, S_IFREG, TMPFS_MAGIC
from qkernel.mm import kalloc
from qkernel.mm.vma import VM_MAYWRITE, VM_SHARED, AddressSpace
from qkernel.task import family
from qkernel.task.task import Task

F_ALL_SEALS: Final = (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE
                      | F_SEAL_EXEC)

mnt: ptr[Mount] = NULL          # the internal tmpfs of every memfd (made at the first one)


def release(f: ptr[File]) -> None:
    """The memfd's last File: its dentry (named by nothing else) goes now."""
    d = f.dentry
    if d != NULL:
        f.dentry = NULL
        d.inode = NULL
        kalloc.free(addr_of(dentry_pool), cast(ptr[None], d))


MEMFD_OPS: FileOps = FileOps(read=memfs.f_read, write=memfs.f_write, llseek=generic_llseek,
                             kread=memfs.f_kread, mmap=map_cache, release=release)


def create(t: ptr[Task], name: ptr[u8], n: u64, sealing: bool, out: ptr[ptr[File]]) -> i64:
    """A new memfd named "memfd:" + name (n bytes, already checked against MFD_NAME_MAX),
    open O_RDWR in out[0]; 0 or -ENOMEM / -ENFILE."""
    global mnt
    if mnt == NULL:
        m = vfs.new_mount(b"tmpfs", b"memfd", 0, 0, TMPFS_MAGIC)
        if m == NULL:
            return -ENOMEM
        r = memfs.make_root(t, m, m.root, False)
        if r < 0:
            return r
        mnt = m
    full: u64 = 6 + n
    label = t.scratch
    memcpy(label, b"memfd:", 6)
    memcpy(label + 6, name, n)
    d = new_dentry(mnt.root, mnt, label, full)
    if d == NULL:
        return -ENOMEM
    i = memfs.new_upper(t, mnt, S_IFREG | 0o777)
    if i == NULL:
        kalloc.free(addr_of(dentry_pool), cast(ptr[None], d))
        return -ENOMEM
    i.st.st_nlink = 0
    i.refs = 0
    i.fops = addr_of(MEMFD_OPS)
    i.iflags = I_UPPER | I_SEALS
    i.seals = 0 if sealing else F_SEAL_SEAL
    f = new_file(addr_of(MEMFD_OPS), i, O_RDWR | O_LARGEFILE)
    if f == NULL:
        kalloc.free(addr_of(dentry_pool), cast(ptr[None], d))
        free_inode(i)
        return -ENFILE
    d.inode = i
    d.refs = 1
    f.dentry = d
    f.mnt = mnt
    out[0] = f
    return 0


def sealable(f: ptr[File]) -> bool:
    """Files with seals: memfds and tmpfs's regular files (Linux's shmem files)."""
    i = f.inode
    if i == NULL or u64(i.st.st_mode) & S_IFMT != S_IFREG:
        return False
    if i.iflags & I_SEALS != 0:
        return True
    return (f.mnt != NULL and f.mnt.magic == TMPFS_MAGIC and i.iops == addr_of(memfs.MEM_IOPS)
            and i.iflags & I_UPPER != 0 and f.mnt.tree == 0)


def get_seals(f: ptr[File]) -> i64:
    if not sealable(f):
        return -EINVAL
    i = f.inode
    if i.iflags & I_SEALS == 0:
        return F_SEAL_SEAL
    return i64(i.seals)


def mapped_writable(f: ptr[File]) -> bool:
    """Some process maps f's inode shared and may write it (VM_SHARED with VM_MAYWRITE:
    Linux's i_mmap_writable)."""
    ino = f.inode
    p = family.init_process
    while p != NULL:
        mm = cast(ptr[AddressSpace], p.mm)
        if mm != NULL:
            for k in range(mm.count):
                v = addr_of(mm.vmas[k])
                if v.file != 0 and v.flags & VM_SHARED != 0 and v.flags & VM_MAYWRITE != 0:
                    if cast(ptr[File], v.file).inode == ino:
                        return True
        p = family.next_in_tree(p)
    return False


def add_seals(f: ptr[File], seals: u64) -> i64:
    """F_ADD_SEALS, as memfd_add_seals: -EINVAL for files without seals or unknown bits, -EPERM
    when not open for writing or already F_SEAL_SEAL'd, -EBUSY for F_SEAL_WRITE while a writable
    shared mapping exists."""
    if not sealable(f):
        return -EINVAL
    if f.flags & O_ACCMODE == O_RDONLY:
        return -EPERM
    if seals & ~u64(F_ALL_SEALS) != 0:
        return -EINVAL
    i = f.inode
    if i.iflags & I_SEALS == 0 or i.seals & F_SEAL_SEAL != 0:
        return -EPERM
    if seals & F_SEAL_WRITE != 0 and i.seals & F_SEAL_WRITE == 0 and mapped_writable(f):
        return -EBUSY
    if seals & F_SEAL_EXEC != 0 and u64(i.st.st_mode) & 0o111 != 0:
        seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE
    i.seals |= seals
    return 0
