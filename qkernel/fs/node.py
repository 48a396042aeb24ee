"""The VFS's objects, as data: Inode (a file's identity and Linux stat), Dentry (a name in a
directory, cached, negative when the name does not exist), Mount (one filesystem instance at
one place of the tree), File (an open file description: offset and status flags shared across
dup) and the two ops tables a file kind fills (InodeOps for names and attributes, FileOps for
I/O), as xv6's inode/file and gVisor's vfs.FileDescriptionImpl.

Adding a file kind is one InodeOps and one FileOps table (struct initialisers, so a missing
operation is NULL: the VFS answers the Linux error for it) and the functions they name.

Lifetimes: objects come from kalloc pools (exhaustion: NULL, the caller answers -ENOMEM).
A File holds a reference on its Dentry and Inode; a Dentry holds one on its Inode and its parent.
Dentries of in-memory files (tmpfs, the overlay's upper layer, whiteouts) are pinned by their
directory for as long as the name exists; cached names of host files could be dropped when
unreferenced (no eviction yet: the cache grows with the names looked up, bounded by guest RAM).
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, fn, i64, memcpy, ptr, sizeof, struct, u8, u32, u64
from qkernel.linux.errno import EINVAL
from qkernel.linux.fcntl import SEEK_CUR, SEEK_END, SEEK_SET
from qkernel.linux.stat import Stat
from qkernel.mm import kalloc
from qkernel.task.task import Task

NAME_LEN: Final = 256          # NAME_MAX + NUL

# Dentry.flags
D_WHITEOUT: Final = 1          # overlay: the name is deleted over the lower layer (negative, pinned)
D_OPAQUE: Final = 2            # overlay: a directory that hides the lower one (made after a delete)
D_PINNED: Final = 4            # an in-memory name: kept for as long as it exists
D_LOOKED: Final = 8            # the lookup ran (inode NULL: a negative entry)
D_NEWNAME: Final = 16          # created in memory where the lower layer has no such name (listed
#                                from the cache, not from the host)

D_VOLATILE: Final = 32         # looked up again at every walk (procfs: names come and go)

# Inode.iflags
I_LOWER: Final = 1             # its data and names are the host's (a lower-layer file or directory)
I_UPPER: Final = 2             # its data lives in memory (tmpfs, or copied up from the host)
I_MAPPED: Final = 4            # its page-cache frames may be mapped shared: kept until it goes
I_SEALS: Final = 8             # a memfd: Inode.seals are its file seals (F_ADD_SEALS)

# Mount.flags
MNT_RDONLY: Final = 1
MNT_NOSUID: Final = 2
MNT_NODEV: Final = 4
MNT_NOEXEC: Final = 8


@struct
class FileOps:
    """I/O of one file kind; NULL entries give the Linux error (read/write: -EINVAL, getdents:
    -ENOTDIR, ioctl: -ENOTTY, llseek: -ESPIPE). `pos` is the File's offset or pread's."""
    read: fn[[ptr[Task], ptr[File], u64, u64, ptr[u64]], i64]      # (t, f, user buf, count, pos)
    write: fn[[ptr[Task], ptr[File], u64, u64, ptr[u64]], i64]
    getdents: fn[[ptr[Task], ptr[File], u64, u64], i64]            # (t, f, user buf, count)
    ioctl: fn[[ptr[Task], ptr[File], u64, u64], i64]               # (t, f, request, arg)
    poll: fn[[ptr[Task], ptr[File]], u64]                          # ready POLL* events now
    release: fn[[ptr[File]], None]                                 # the last reference went
    llseek: fn[[ptr[File], i64, u64], i64]                         # (f, offset, whence)
    fstat: fn[[ptr[File], ptr[Stat]], i64]                         # NULL: the inode's stat
    kread: fn[[ptr[Task], ptr[File], ptr[u8], u64, u64], i64]      # (t, f, kernel buf, count, offset):
                                                                   # execve's reads; NULL: cannot run
    mmap: fn[[ptr[Task], ptr[File]], i64]                          # what mmap of f maps: MAP_PAGES,
                                                                   # MAP_CACHE or MAP_ZERO; NULL: -ENODEV
    reopen: fn[[ptr[Task], ptr[File], u64], ptr[File]]             # (t, f, flags): a new open of f's
    #    file through /proc/PID/fd/N (a pipe end, a console stream); NULL: the inode's (vfs.reopen)


@struct
class InodeOps:
    """Names and attributes of one file kind. Directory operations get the task, the
    directory's inode and the dentry of the name (negative for create/mkdir/symlink/link; the
    VFS has checked types, existence and a read-only mount first). NULL: -EPERM for changes,
    -ENOTDIR for lookup, -EINVAL for readlink."""
    lookup: fn[[ptr[Task], ptr[Inode], ptr[Dentry]], i64]          # sets d.inode, NULL: absent
    create: fn[[ptr[Task], ptr[Inode], ptr[Dentry], u64], i64]     # mode with its S_IF* type
    mkdir: fn[[ptr[Task], ptr[Inode], ptr[Dentry], u64], i64]
    symlink: fn[[ptr[Task], ptr[Inode], ptr[Dentry], ptr[u8], u64], i64]
    link: fn[[ptr[Task], ptr[Inode], ptr[Dentry], ptr[Dentry]], i64]  # (dir, new name, old name)
    unlink: fn[[ptr[Task], ptr[Inode], ptr[Dentry]], i64]
    rmdir: fn[[ptr[Task], ptr[Inode], ptr[Dentry]], i64]
    rename: fn[[ptr[Task], ptr[Dentry], ptr[Dentry]], i64]          # (old name, new name)
    readlink: fn[[ptr[Task], ptr[Inode], ptr[u8], u64], i64]        # into a kernel buffer
    truncate: fn[[ptr[Task], ptr[Inode], u64], i64]
    prepare_write: fn[[ptr[Task], ptr[Inode]], i64]                 # before data or attributes change
    setattr: fn[[ptr[Task], ptr[Inode], u64, u64, u64], i64]        # (what SETATTR_*, a, b) where the
    #                                                                 host keeps them; NULL: st only
    open: fn[[ptr[Task], ptr[File]], i64]                           # per-open setup (fifo, procfs)
    # a magic link (/proc/PID/fd/N): the File it stands for (no reference taken; 0: an ordinary
    # link, read with readlink). The path walk goes on from that File's path, or ends on it.
    get_file: fn[[ptr[Task], ptr[Inode]], u64]
    fallocate: fn[[ptr[Task], ptr[Inode], u64, u64, u64], i64]      # (mode, offset, len), checked by
    #                                                                 the caller; NULL: -EOPNOTSUPP


@struct
class Inode:
    refs: u64
    st: Stat                   # Linux stat semantics: st_dev, st_ino, mode, nlink, times (ns)
    mnt: ptr[Mount]
    iops: ptr[InodeOps]
    fops: ptr[FileOps]
    host: u64                  # host handle + 1 (0: none open)
    pages: ptr[u64]            # page cache / tmpfs data: phys of page i (0: not present)
    npages: u64                # capacity of `pages` (entries)
    link: ptr[u8]              # a symlink's target (NUL-terminated), once known
    link_len: u64
    priv: u64                  # the kind's own (a pipe, a procfs node, a host tree)
    priv2: u64
    opens: u64                 # open Files on it
    iflags: u64                # I_*
    lru_next: ptr[Inode]       # inodes holding a host handle (hostio's cap on open handles)
    wake_in: u64               # readiness changes toward reading / writing (poll.notify_inode):
    wake_out: u64              # edge-triggered epoll reports an item again when one moves
    seals: u64                 # F_SEAL_* of a memfd (I_SEALS); 0 for every other file
    locks: u64                 # its advisory locks (qkernel/fs/locks.py FileLock list; 0: none)


@struct
class Dentry:
    refs: u64
    inode: ptr[Inode]          # NULL: a negative entry (or a whiteout)
    parent: ptr[Dentry]        # itself at a mount's root
    mnt: ptr[Mount]
    mounted: ptr[Mount]        # a mount on top of this name
    first_child: ptr[Dentry]
    next_sibling: ptr[Dentry]
    hash_next: ptr[Dentry]
    last_child: ptr[Dentry]
    hash: u64
    seq: u64                   # order of entry into its directory (getdents positions)
    flags: u64                 # D_*
    name_len: u64
    name: array[u8, 256]


@struct
class Mount:
    parent: ptr[Mount]         # NULL for the root mount
    mountpoint: ptr[Dentry]    # in the parent mount
    root: ptr[Dentry]
    next: ptr[Mount]           # the mount table, in mount order (/proc/self/mounts)
    dev: u64                   # st_dev of its in-memory inodes
    flags: u64                 # MNT_*
    tree: u64                  # host tree (qcalls) of a host-backed mount
    next_ino: u64
    root_iops: ptr[InodeOps]
    fstype: ptr[u8]
    magic: u64                 # statfs f_type (qkernel/linux/stat.py *_MAGIC)
    source: array[u8, 256]
    opts: ptr[u8]


@struct
class File:
    refs: u64
    flags: u64                 # access mode and status flags (O_APPEND, O_NONBLOCK, ...)
    pos: u64
    ops: ptr[FileOps]
    inode: ptr[Inode]
    dentry: ptr[Dentry]        # NULL for anonymous files (pipes, the console)
    mnt: ptr[Mount]
    priv: u64
    priv2: u64
    epitems: u64               # the epoll items watching this file (qkernel/fs/epoll.py)


# FileOps.mmap results (qkernel/fs/filemap.py)
MAP_PAGES: Final = 0           # the file's own pages, read with kread at their first touch
MAP_ZERO: Final = 1            # anonymous memory (/dev/zero)
MAP_CACHE: Final = 2           # as MAP_PAGES, and its page-cache frames can be mapped shared


def map_pages(t: ptr[Task], f: ptr[File]) -> i64:
    """FileOps.mmap of regular files."""
    return MAP_PAGES


def map_cache(t: ptr[Task], f: ptr[File]) -> i64:
    """FileOps.mmap of files whose data the page cache holds (memfs: tmpfs, the overlay)."""
    return MAP_CACHE


def map_zero(t: ptr[Task], f: ptr[File]) -> i64:
    """FileOps.mmap of /dev/zero."""
    return MAP_ZERO


mount_list: ptr[Mount] = NULL  # the mount table, in mount order (vfs.attach; /proc/self/mounts)
inode_pool: kalloc.Pool = kalloc.Pool()
dentry_pool: kalloc.Pool = kalloc.Pool()
mount_pool: kalloc.Pool = kalloc.Pool()
file_pool: kalloc.Pool = kalloc.Pool()
MAX_FILES: Final = 65536       # open file descriptions in the sandbox (ENFILE beyond)


def init() -> None:
    kalloc.init(addr_of(inode_pool), sizeof(Inode), 0, True)
    kalloc.init(addr_of(dentry_pool), sizeof(Dentry), 0, True)
    kalloc.init(addr_of(mount_pool), sizeof(Mount), 64, True)
    kalloc.init(addr_of(file_pool), sizeof(File), MAX_FILES, True)


def new_inode(m: ptr[Mount], mode: u64, iops: ptr[InodeOps], fops: ptr[FileOps]) -> ptr[Inode]:
    """A fresh in-memory inode of mount m (its next inode number, nlink 1, root-owned)."""
    i = cast(ptr[Inode], kalloc.alloc(addr_of(inode_pool)))
    if i == NULL:
        return NULL
    i.mnt = m
    i.iops = iops
    i.fops = fops
    i.st.st_mode = u32(mode)
    i.st.st_nlink = 1
    i.st.st_blksize = 4096
    if m != NULL:
        i.st.st_dev = m.dev
        m.next_ino += 1
        i.st.st_ino = m.next_ino
    return i


def iget(i: ptr[Inode]) -> ptr[Inode]:
    if i != NULL:
        i.refs += 1
    return i


def iput(i: ptr[Inode]) -> None:
    """Drops a reference; the last one frees an inode no name links any more (nlink 0)."""
    if i == NULL:
        return
    i.refs -= 1
    if i.refs == 0 and i.st.st_nlink == 0 and i.opens == 0:
        free_inode(i)


free_hook: fn[[ptr[Inode]], None] = NULL   # the page cache's release (vfs installs it)
watch_hook: fn[[ptr[File]], None] = NULL   # epoll forgets a file that goes (epoll installs it)
lock_hook: fn[[ptr[File]], None] = NULL    # its OFD and flock locks go (locks installs it)


def free_inode(i: ptr[Inode]) -> None:
    if free_hook != NULL:
        free_hook(i)
    kalloc.free(addr_of(inode_pool), cast(ptr[None], i))


def name_hash(parent: ptr[Dentry], name: ptr[u8], n: u64) -> u64:
    """FNV-1a of the name, mixed with the parent's address."""
    h: u64 = 0xCBF29CE484222325 ^ u64(parent)
    for k in range(n):
        h = (h ^ u64(name[k])) * 0x100000001B3
    return h


def new_dentry(parent: ptr[Dentry], m: ptr[Mount], name: ptr[u8], n: u64) -> ptr[Dentry]:
    """A dentry for `name` (n <= NAME_MAX bytes) under parent; not yet hashed or linked."""
    d = cast(ptr[Dentry], kalloc.alloc(addr_of(dentry_pool)))
    if d == NULL:
        return NULL
    d.parent = parent if parent != NULL else d
    d.mnt = m
    d.name_len = n
    memcpy(addr_of(d.name[0]), name, n)
    d.name[n] = 0
    d.hash = name_hash(parent, name, n)
    return d


def new_file(ops: ptr[FileOps], ino: ptr[Inode], flags: u64) -> ptr[File]:
    """An open file description with one reference (NULL: -ENFILE / -ENOMEM for the caller)."""
    f = cast(ptr[File], kalloc.alloc(addr_of(file_pool)))
    if f == NULL:
        return NULL
    f.refs = 1
    f.ops = ops
    f.inode = iget(ino)
    f.flags = flags
    if ino != NULL:
        ino.opens += 1
    return f


def fget(f: ptr[File]) -> ptr[File]:
    f.refs += 1
    return f


def fput(f: ptr[File]) -> None:
    """Drops a reference; the last one releases the file (the kind's release, then the inode
    and dentry references)."""
    if f == NULL:
        return
    f.refs -= 1
    if f.refs != 0:
        return
    if f.epitems != 0 and watch_hook != NULL:
        watch_hook(f)
    if f.inode != NULL and f.inode.locks != 0 and lock_hook != NULL:
        lock_hook(f)
    if f.ops != NULL and f.ops.release != NULL:
        f.ops.release(f)
    ino = f.inode
    if ino != NULL:
        ino.opens -= 1
    if f.dentry != NULL:
        f.dentry.refs -= 1
    iput(ino)
    kalloc.free(addr_of(file_pool), cast(ptr[None], f))


def generic_llseek(f: ptr[File], offset: i64, whence: u64) -> i64:
    """SEEK_SET/CUR/END over the inode's size; a negative result is -EINVAL."""
    base: i64 = 0
    if whence == SEEK_SET:
        base = 0
    elif whence == SEEK_CUR:
        base = i64(f.pos)
    elif whence == SEEK_END:
        base = i64(f.inode.st.st_size)
    else:
        return -EINVAL
    new = base + offset
    if (offset > 0 and new < base) or new < 0:
        return -EINVAL
    f.pos = u64(new)
    return new
