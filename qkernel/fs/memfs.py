"""In-memory files and directories, optionally over a lower host tree: tmpfs, and the sandbox
root (the host's tree read-only below, what the sandbox writes in memory above: an overlay).

One set of operations serves both. A directory with I_LOWER (and not I_UPPER) is a host
directory: a name not in the cache is looked up on the host (lower.py). A directory with
I_UPPER is in memory only (tmpfs, or made by mkdir): its names are its dentries, and one made
over a whiteout hides the lower directory of that name (opaque). Changes to a lower directory
live in its dentries: a created name is pinned (D_PINNED, D_NEWNAME when the host has no such
name), a removed lower name becomes a whiteout (D_WHITEOUT), so the host is never written.
A lower regular file is copied up (pagecache.copy_up) before it is written, truncated, linked
or renamed; a lower symlink's target is copied into memory before a rename; a lower directory
cannot be renamed (-EXDEV, as overlayfs without redirect_dir: mv falls back to copying).
What the sandbox writes vanishes when it ends.

getdents positions: 0 ".", 1 "..", then for a lower directory DOT_ENTRIES + the host's cookie
(its entries, whiteouts left out, names replaced in memory shown as they are now), then
UPPER_POS + the sequence number (dcache.add) of the last in-memory name listed: insertions and
removals during a listing neither repeat nor skip the other names.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, memcpy, ptr, u8, u16, u64
from qkernel.fs import dcache, lower, pagecache, pipe
from qkernel.lib import fmt
from qkernel.fs.namei import FS_BUF, LINK_BUF
from qkernel.fs.node import (D_LOOKED, D_NEWNAME, D_PINNED, D_WHITEOUT, I_LOWER, I_UPPER, Dentry,
                             File, FileOps, Inode, InodeOps, Mount, generic_llseek, iput,
                             map_cache, new_inode)
from qkernel.linux.errno import EFAULT, EINVAL, EISDIR, ENOMEM, ENOTEMPTY, EOPNOTSUPP, EPERM, EXDEV
from qkernel.linux.fcntl import (F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE,
                                 FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, O_APPEND)
from qkernel.linux.stat import S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, Stat
from qkernel.linux.uio import DIRENT64_NAME, Dirent64
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.task import clock
from qkernel.task.task import Task

DOT_ENTRIES: Final = 2
UPPER_POS: Final = 1 << 62
HOST_IN: Final = 0              # scratch: the host's records
LIST_OUT: Final = 24576         # scratch: the records for the user (LIST_ROOM bytes)
LIST_ROOM: Final = 32768
ROOT_DEV: Final = 0x2F          # st_dev of in-memory files (major 0: anonymous, as tmpfs)

def now() -> i64:
    """File times: CLOCK_REALTIME (the kernel's TSC clock: no host call). Linux's are coarser
    (current_time(): the last tick); this one is never behind a clock_gettime made before."""
    return i64(clock.real_ns())


def stamp(st: ptr[Stat], access: bool, modify: bool) -> None:
    ns = now()
    s = ns // 1000000000
    n = ns % 1000000000
    if access:
        st.st_atime = u64(s)
        st.st_atime_nsec = u64(n)
    if modify:
        st.st_mtime = u64(s)
        st.st_mtime_nsec = u64(n)
    st.st_ctime = u64(s)
    st.st_ctime_nsec = u64(n)


def is_type(i: ptr[Inode], kind: u64) -> bool:
    return u64(i.st.st_mode) & S_IFMT == kind


def is_lower(i: ptr[Inode]) -> bool:
    return i.iflags & I_UPPER == 0 and i.iflags & I_LOWER != 0


def fops_for(mode: u64) -> ptr[FileOps]:
    kind = mode & S_IFMT
    if kind == S_IFREG:
        return addr_of(FILE_OPS)
    if kind == S_IFDIR:
        return addr_of(DIR_OPS)
    if kind == S_IFIFO:
        return addr_of(pipe.PIPE_OPS)     # a FIFO made in memory (mknod): qkernel/fs/pipe.py
    return NULL


def new_upper(t: ptr[Task], m: ptr[Mount], mode: u64) -> ptr[Inode]:
    """A fresh in-memory inode owned by the task's fs ids, times now, one reference (its name's)."""
    i = new_inode(m, mode, addr_of(MEM_IOPS), fops_for(mode))
    if i == NULL:
        return NULL
    i.iflags = I_UPPER
    i.refs = 1
    i.st.st_uid = t.process.creds.fsuid
    i.st.st_gid = t.process.creds.fsgid
    stamp(addr_of(i.st), True, True)
    return i


def place(di: ptr[Inode], d: ptr[Dentry], i: ptr[Inode]) -> None:
    """Negative dentry d now names i (whose reference it takes). A name is new (listed from
    memory) unless it replaces a whiteout of a lower directory's name; in a directory that is
    not lower every name is new (a dentry left from the lower one it replaced may be a whiteout)."""
    newname = d.flags & D_WHITEOUT == 0 or not is_lower(di)
    d.inode = i
    d.flags = (d.flags & ~u64(D_WHITEOUT | D_NEWNAME)) | D_LOOKED | D_PINNED
    if newname:
        d.flags |= D_NEWNAME
    stamp(addr_of(di.st), False, True)


def remove_name(di: ptr[Inode], d: ptr[Dentry]) -> None:
    """d no longer names anything: a whiteout when the host may have the name below."""
    if d.flags & D_NEWNAME != 0 or not is_lower(di):
        d.flags = (d.flags & ~u64(D_NEWNAME | D_PINNED | D_WHITEOUT)) | D_LOOKED
    else:
        d.flags = (d.flags & ~u64(D_NEWNAME)) | D_LOOKED | D_PINNED | D_WHITEOUT
    d.inode = NULL
    stamp(addr_of(di.st), False, True)


# ---- inode operations -----------------------------------------------------------------------

def m_lookup(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    d.inode = NULL
    if not is_lower(di):
        return 0
    st: Stat = Stat()
    r = lower.stat_name(d, t.scratch + FS_BUF, addr_of(st))
    if r <= 0:
        return r
    mode = u64(st.st_mode)
    # a host FIFO is not connected to anything here: its opens stay -ENXIO (no FileOps)
    i = lower.new_lower(d, addr_of(st), addr_of(MEM_IOPS), NULL if mode & S_IFMT == S_IFIFO else fops_for(mode))
    if i == NULL:
        return -ENOMEM
    d.inode = i
    return 0


def m_create(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], mode: u64) -> i64:
    i = new_upper(t, d.mnt, mode)
    if i == NULL:
        return -ENOMEM
    place(di, d, i)
    return 0


def m_mkdir(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], mode: u64) -> i64:
    i = new_upper(t, d.mnt, S_IFDIR | (mode & 0o7777))
    if i == NULL:
        return -ENOMEM
    i.st.st_nlink = 2
    i.st.st_size = 4096
    di.st.st_nlink += 1
    place(di, d, i)
    return 0


def m_symlink(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], target: ptr[u8], n: u64) -> i64:
    i = new_upper(t, d.mnt, S_IFLNK | 0o777)
    if i == NULL:
        return -ENOMEM
    r = pagecache.set_link_target(i, target, n)
    if r < 0:
        i.st.st_nlink = 0
        i.refs = 0
        iput(i)
        return r
    place(di, d, i)
    return 0


def copy_up(t: ptr[Task], i: ptr[Inode]) -> i64:
    """A lower file, symlink or directory's own attributes made the sandbox's: regular files
    and symlinks get their data in memory; 0 or -errno (-EXDEV for other kinds)."""
    if not is_lower(i):
        return 0
    if is_type(i, S_IFREG):
        return pagecache.copy_up(t, i)
    if is_type(i, S_IFLNK):
        buf = t.scratch + LINK_BUF      # outside any walk here; the host path goes in FS_BUF
        n = lower.readlink(i, buf, 4095, t.scratch + FS_BUF)
        if n < 0:
            return n
        r = pagecache.set_link_target(i, buf, u64(n))
        if r < 0:
            return r
        lower.close_handle(i)
        return 0
    return -EXDEV


def m_link(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], old: ptr[Dentry]) -> i64:
    i = old.inode
    r = copy_up(t, i)
    if r < 0:
        return r if r != -EXDEV else -EPERM
    i.st.st_nlink += 1
    i.refs += 1
    stamp(addr_of(i.st), False, False)
    place(di, d, i)
    return 0


def drop(i: ptr[Inode]) -> None:
    """A name of i went: one link less, the name's reference dropped."""
    if is_type(i, S_IFDIR):
        i.st.st_nlink = 0
    elif i.st.st_nlink > 0:
        i.st.st_nlink -= 1
    stamp(addr_of(i.st), False, False)
    iput(i)                        # the last reference frees it (vfs.release_inode)


def m_unlink(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    i = d.inode
    remove_name(di, d)
    drop(i)
    return 0


def empty(t: ptr[Task], d: ptr[Dentry]) -> i64:
    """1 if directory d has no names (in memory or, for a lower one, on the host without a
    whiteout), 0 if it has, or -errno."""
    c = d.first_child
    while c != NULL:
        if c.inode != NULL:
            return 0
        c = c.next_sibling
    i = d.inode
    if not is_lower(i):
        return 1
    h = lower.handle(i, t.scratch + FS_BUF)
    if h < 0:
        return h
    cookie: u64 = 0
    while True:
        r = qcall.file_getdents(u64(h), t.scratch + HOST_IN, 8192, cookie)
        if r < 0:
            return r
        if r == 0:
            return 1
        off: u64 = 0
        while off < u64(r):
            e = cast(ptr[Dirent64], t.scratch + HOST_IN + off)
            name = t.scratch + HOST_IN + off + DIRENT64_NAME
            w = dcache.lookup(d, name, fmt.strlen(name))
            if w == NULL or w.flags & D_LOOKED == 0 or w.inode != NULL:
                return 0
            cookie = u64(e.d_off)
            off += u64(e.d_reclen)
    return 1



def m_rmdir(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    r = empty(t, d)
    if r < 0:
        return r
    if r == 0:
        return -ENOTEMPTY
    i = d.inode
    remove_name(di, d)
    if di.st.st_nlink > 2:
        di.st.st_nlink -= 1
    drop(i)
    return 0


def m_rename(t: ptr[Task], od: ptr[Dentry], nd: ptr[Dentry]) -> i64:
    """od's inode moves to nd's name (the VFS checked kinds, emptiness, and that nd is not
    below od). The dentry itself moves (an in-memory directory's names are its children); a
    whiteout takes its old place when the host has that name."""
    src = od.inode
    if is_lower(src):
        if is_type(src, S_IFDIR):
            return -EXDEV
        r = copy_up(t, src)
        if r < 0:
            return r
    odp = od.parent
    ndp = nd.parent
    whiteout = od.flags & D_NEWNAME == 0 and is_lower(odp.inode)
    newname = (nd.flags & D_NEWNAME != 0 or (nd.inode == NULL and nd.flags & D_WHITEOUT == 0)
               or not is_lower(ndp.inode))
    if nd.inode != NULL and is_lower(ndp.inode) and nd.flags & D_NEWNAME == 0:
        newname = False
    # the old place's new entry first: nothing has changed if there is no memory for it
    name: array[u8, 256] = array[u8, 256]()
    olen = od.name_len
    memcpy(addr_of(name[0]), addr_of(od.name[0]), olen)
    victim = nd.inode
    if victim != NULL:
        if is_type(victim, S_IFDIR) and ndp.inode.st.st_nlink > 2:
            ndp.inode.st.st_nlink -= 1
        nd.inode = NULL
        drop(victim)
    dcache.unhash(nd)
    nd.flags = D_LOOKED            # detached: Files still holding it see it as it was
    dcache.move(od, ndp, addr_of(nd.name[0]), nd.name_len)
    od.flags = (od.flags & ~u64(D_NEWNAME | D_WHITEOUT)) | D_LOOKED | D_PINNED
    if newname:
        od.flags |= D_NEWNAME
    w = dcache.child(odp, od.mnt, addr_of(name[0]), olen)
    if w != NULL:
        w.inode = NULL
        w.flags = D_LOOKED | (D_PINNED | D_WHITEOUT if whiteout else 0)
    if is_type(src, S_IFDIR) and odp != ndp:
        if odp.inode.st.st_nlink > 2:
            odp.inode.st.st_nlink -= 1
        ndp.inode.st.st_nlink += 1
    stamp(addr_of(odp.inode.st), False, True)
    stamp(addr_of(ndp.inode.st), False, True)
    stamp(addr_of(src.st), False, False)
    return 0


def m_readlink(t: ptr[Task], i: ptr[Inode], buf: ptr[u8], size: u64) -> i64:
    if not is_type(i, S_IFLNK):
        return -EINVAL
    if is_lower(i):
        # the host path in FS_BUF: buf is the walk's LINK_BUF or readlink(2)'s output, never it
        return lower.readlink(i, buf, size, t.scratch + FS_BUF)
    target = pagecache.link_target(i)
    if target == NULL:
        return 0
    n = u64(i.st.st_size)
    if n > size:
        n = size
    memcpy(buf, target, n)
    return i64(n)


def m_truncate(t: ptr[Task], i: ptr[Inode], size: u64) -> i64:
    if i.seals != 0:
        cur = u64(i.st.st_size)
        if (size < cur and i.seals & F_SEAL_SHRINK != 0) or (size > cur and i.seals & F_SEAL_GROW != 0):
            return -EPERM
    r = copy_up(t, i)
    if r < 0:
        return r
    r = pagecache.truncate(i, size)
    if r == 0:
        stamp(addr_of(i.st), False, True)
    return r


def m_prepare_write(t: ptr[Task], i: ptr[Inode]) -> i64:
    """Data changes need the file in memory; attributes of other kinds change in the inode
    (a lower directory's mode is the sandbox's from then on)."""
    if is_type(i, S_IFREG) or is_type(i, S_IFLNK):
        return copy_up(t, i)
    return 0


def m_fallocate(t: ptr[Task], i: ptr[Inode], mode: u64, off: u64, n: u64) -> i64:
    """fallocate of a regular file, as tmpfs's shmem_fallocate: mode 0 makes the range's pages
    present and the size at least off + n, FALLOC_FL_KEEP_SIZE only the pages,
    PUNCH_HOLE|KEEP_SIZE zeroes the range (whole pages freed); other modes -EOPNOTSUPP. Seals
    refuse growth (F_SEAL_GROW) and holes (F_SEAL_WRITE) with -EPERM."""
    if mode & ~u64(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0:
        return -EOPNOTSUPP
    r = copy_up(t, i)
    if r < 0:
        return r
    end = off + n
    size = u64(i.st.st_size)
    if mode & FALLOC_FL_PUNCH_HOLE != 0:
        if i.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0:
            return -EPERM
        pagecache.punch(i, off, end)
        stamp(addr_of(i.st), False, True)
        return 0
    grow = mode & FALLOC_FL_KEEP_SIZE == 0 and end > size
    if grow and i.seals & F_SEAL_GROW != 0:
        return -EPERM
    r = pagecache.allocate(i, off, end)
    if r < 0:
        return r
    if grow:
        i.st.st_size = end
    stamp(addr_of(i.st), False, False)
    return 0


def m_open(t: ptr[Task], f: ptr[File]) -> i64:
    """Per-open setup: a FIFO's ends (pipe.fifo_open); nothing for other kinds."""
    if is_type(f.inode, S_IFIFO):
        return pipe.fifo_open(t, f)
    return 0


MEM_IOPS: InodeOps = InodeOps(lookup=m_lookup, create=m_create, mkdir=m_mkdir,
                              symlink=m_symlink, link=m_link, unlink=m_unlink, rmdir=m_rmdir,
                              rename=m_rename, readlink=m_readlink, truncate=m_truncate,
                              prepare_write=m_prepare_write, open=m_open, fallocate=m_fallocate)


# ---- file operations ------------------------------------------------------------------------

def f_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return pagecache.read(t, f.inode, buf, n, pos)


def f_kread(t: ptr[Task], f: ptr[File], dst: ptr[u8], n: u64, pos: u64) -> i64:
    return pagecache.read_kernel(t, f.inode, dst, n, pos)


def f_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    i = f.inode
    if f.flags & O_APPEND != 0:
        pos[0] = u64(i.st.st_size)
    if i.seals != 0:
        if i.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0:
            return -EPERM
        if i.seals & F_SEAL_GROW != 0 and pos[0] + n > u64(i.st.st_size):
            return -EPERM
    r = pagecache.write(t, i, buf, n, pos)
    if r > 0:
        stamp(addr_of(i.st), False, True)
    return r


def d_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return -EISDIR


def put(out: ptr[u8], room: u64, ino: u64, next_pos: u64, dtype: u64, name: ptr[u8], n: u64) -> u64:
    """A linux_dirent64 at out if it fits in room: its length, else 0."""
    reclen = (DIRENT64_NAME + n + 1 + 7) // 8 * 8
    if reclen > room:
        return 0
    e = cast(ptr[Dirent64], out)
    e.d_ino = ino
    e.d_off = i64(next_pos)
    e.d_reclen = u16(reclen)
    e.d_type = u8(dtype)
    memcpy(out + DIRENT64_NAME, name, n)
    for k in range(DIRENT64_NAME + n, reclen):
        out[k] = 0
    return reclen


def dtype_of(i: ptr[Inode]) -> u64:
    return (u64(i.st.st_mode) & S_IFMT) >> 12


def d_getdents(t: ptr[Task], f: ptr[File], buf: u64, count: u64) -> i64:
    if not range_ok(buf, count, True):
        return -EFAULT
    d = f.dentry
    di = f.inode
    out = t.scratch + LIST_OUT
    room = count if count < LIST_ROOM else LIST_ROOM
    used: u64 = 0
    while f.pos < DOT_ENTRIES:
        dots = f.pos + 1
        target = di if dots == 1 else d.parent.inode
        k = put(out + used, room - used, target.st.st_ino, dots, S_IFDIR >> 12, b"..", dots)
        if k == 0:
            break
        used += k
        f.pos += 1
    if f.pos >= DOT_ENTRIES and f.pos < UPPER_POS:
        if is_lower(di):
            r = list_lower(t, f, out, room, addr_of(used))
            if r < 0:
                return r if used == 0 else i64(copy_out(buf, out, used))
        else:
            f.pos = UPPER_POS
    if f.pos >= UPPER_POS:
        c = d.first_child
        while c != NULL:
            if c.seq > f.pos - UPPER_POS and c.inode != NULL and c.flags & D_NEWNAME != 0:
                k = put(out + used, room - used, c.inode.st.st_ino, UPPER_POS + c.seq,
                        dtype_of(c.inode), addr_of(c.name[0]), c.name_len)
                if k == 0:
                    break
                used += k
                f.pos = UPPER_POS + c.seq
            c = c.next_sibling
    if used == 0 and (f.pos < UPPER_POS or more_upper(d, f.pos)):
        return -EINVAL     # not even one record fits
    return copy_out(buf, out, used)


def more_upper(d: ptr[Dentry], pos: u64) -> bool:
    c = d.first_child
    while c != NULL:
        if c.seq > pos - UPPER_POS and c.inode != NULL and c.flags & D_NEWNAME != 0:
            return True
        c = c.next_sibling
    return False


def copy_out(buf: u64, out: ptr[u8], used: u64) -> i64:
    if used == 0:
        return 0
    if copy_to_user(buf, out, used) != 0:
        return -EFAULT
    return i64(used)


def list_lower(t: ptr[Task], f: ptr[File], out: ptr[u8], room: u64, used: ptr[u64]) -> i64:
    """The host's entries of a lower directory from f.pos on, as they are in the sandbox
    (whiteouts left out, names replaced in memory shown with their new inode); at the end
    f.pos moves to the in-memory names. 0 or -errno."""
    d = f.dentry
    h = lower.handle(f.inode, t.scratch + FS_BUF)
    if h < 0:
        return h
    while used[0] < room:
        want = room - used[0]
        if want > LIST_OUT - HOST_IN:
            want = LIST_OUT - HOST_IN
        r = qcall.file_getdents(u64(h), t.scratch + HOST_IN, want, f.pos - DOT_ENTRIES)
        if r == -EINVAL and used[0] > 0:
            return 0
        if r < 0:
            return r
        if r == 0:
            f.pos = UPPER_POS
            return 0
        off: u64 = 0
        while off < u64(r):
            e = cast(ptr[Dirent64], t.scratch + HOST_IN + off)
            name = t.scratch + HOST_IN + off + DIRENT64_NAME
            n = fmt.strlen(name)
            ino = e.d_ino
            dtype = u64(e.d_type)
            c = dcache.lookup(d, name, n)
            skip = False
            if c != NULL and c.flags & D_LOOKED != 0:
                if c.inode == NULL:
                    skip = True
                else:
                    ino = c.inode.st.st_ino
                    dtype = dtype_of(c.inode)
            if not skip:
                k = put(out + used[0], room - used[0], ino, u64(e.d_off) + DOT_ENTRIES, dtype, name, n)
                if k == 0:
                    return 0
                used[0] += k
            f.pos = u64(e.d_off) + DOT_ENTRIES
            off += u64(e.d_reclen)
    return 0


FILE_OPS: FileOps = FileOps(read=f_read, write=f_write, llseek=generic_llseek, kread=f_kread,
                            mmap=map_cache)
DIR_OPS: FileOps = FileOps(read=d_read, getdents=d_getdents, llseek=generic_llseek)


def make_root(t: ptr[Task], m: ptr[Mount], d: ptr[Dentry], with_lower: bool) -> i64:
    """d becomes m's root directory: the top of m's host tree (with_lower), else an empty
    in-memory directory (tmpfs). 0 or -errno."""
    if with_lower:
        r = lower.root_inode(t.scratch + FS_BUF, m, addr_of(MEM_IOPS), addr_of(DIR_OPS))
        if r < 0:
            return r
    else:
        i = new_upper(t, m, S_IFDIR | 0o1777)
        if i == NULL:
            return -ENOMEM
        i.st.st_nlink = 2
        i.st.st_size = 4096
        d.inode = i
    d.flags = D_LOOKED | D_PINNED
    return 0
