"""Read-write binds (`qvisor run --mount HOST:GUEST:rw`): a host directory the sandbox shares
with the host, so every change goes to the host (qvisor/fs_write.py confines it to the tree)
and nothing is cached that the host could change: every name is looked up again at every walk
(D_VOLATILE, one host stat), data is read and written through host handles, fstat asks the
host. A File open for writing holds its own writable host handle (File.priv = handle + 1).

Partial: no hard links (-EPERM: the host calls have none), no rename flags, no devices.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import CREATE_EXCL, OPEN_WRITE, PAGE_SIZE
from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, u8, u64
from qkernel.fs import lower, memfs
from qkernel.fs.namei import FS_BUF
from qkernel.fs.node import (D_LOOKED, D_PINNED, D_VOLATILE, Dentry, File, FileOps, Inode,
                             InodeOps, Mount, generic_llseek, iput, map_pages)
from qkernel.linux.errno import EFAULT, EINVAL, EISDIR, ENOMEM, EPERM
from qkernel.linux.fcntl import O_ACCMODE, O_APPEND, O_RDONLY
from qkernel.linux.stat import S_IFDIR, S_IFMT, S_IFREG, Stat
from qkernel.linux.uio import Dirent64
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.task.task import Task

BOUNCE: Final = 16384          # scratch offset and size of data passing to and from the host
BOUNCE_SIZE: Final = 32768
DOTS: Final = 2


def fops_for(mode: u64) -> ptr[FileOps]:
    if mode & S_IFMT == S_IFREG:
        return addr_of(FILE_OPS)
    if mode & S_IFMT == S_IFDIR:
        return addr_of(DIR_OPS)
    return NULL


def h_lookup(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    st: Stat = Stat()
    r = lower.stat_name(d, t.scratch + FS_BUF, addr_of(st))
    if r < 0:
        return r
    d.flags |= D_VOLATILE
    old = d.inode
    if r > 0 and old != NULL and old.st.st_ino == st.st_ino and old.st.st_dev == st.st_dev and \
            u64(old.st.st_mode) & S_IFMT == u64(st.st_mode) & S_IFMT:
        old.st = st                   # the same file: its attributes as they are now
        return 0
    d.inode = NULL
    if old != NULL:
        old.st.st_nlink = 0
        iput(old)
    if r == 0:
        return 0
    i = lower.new_lower(d, addr_of(st), addr_of(RW_IOPS), fops_for(u64(st.st_mode)))
    if i == NULL:
        return -ENOMEM
    d.inode = i
    return 0


def dir_handle(t: ptr[Task], di: ptr[Inode]) -> i64:
    return lower.handle(di, t.scratch + FS_BUF)


def done(d: ptr[Dentry]) -> None:
    """d's name changed on the host: the next walk asks again."""
    old = d.inode
    d.inode = NULL
    d.flags = (d.flags & ~u64(D_LOOKED)) | D_VOLATILE
    if old != NULL:
        old.st.st_nlink = 0
        iput(old)


def h_create(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], mode: u64) -> i64:
    if mode & S_IFMT != S_IFREG:
        return -EPERM                  # the host calls make regular files only (no FIFOs)
    h = dir_handle(t, di)
    if h < 0:
        return h
    fh = qcall.file_create(u64(h), addr_of(d.name[0]), d.name_len, CREATE_EXCL, mode & 0o7777)
    if fh < 0:
        return fh
    qcall.file_close(u64(fh))
    done(d)
    return h_lookup(t, di, d)


def h_mkdir(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], mode: u64) -> i64:
    h = dir_handle(t, di)
    if h < 0:
        return h
    r = qcall.file_mkdir(u64(h), addr_of(d.name[0]), d.name_len, mode & 0o7777)
    if r < 0:
        return r
    done(d)
    return h_lookup(t, di, d)


def h_symlink(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], target: ptr[u8], n: u64) -> i64:
    h = dir_handle(t, di)
    if h < 0:
        return h
    r = qcall.file_symlink(u64(h), addr_of(d.name[0]), d.name_len, target, n)
    if r < 0:
        return r
    done(d)
    return h_lookup(t, di, d)


def h_remove(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], is_dir: bool) -> i64:
    h = dir_handle(t, di)
    if h < 0:
        return h
    r = qcall.file_unlink(u64(h), addr_of(d.name[0]), d.name_len, is_dir)
    if r < 0:
        return r
    done(d)
    return 0


def h_unlink(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    return h_remove(t, di, d, False)


def h_rmdir(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    return h_remove(t, di, d, True)


def h_rename(t: ptr[Task], od: ptr[Dentry], nd: ptr[Dentry]) -> i64:
    oh = dir_handle(t, od.parent.inode)
    if oh < 0:
        return oh
    nh = dir_handle(t, nd.parent.inode)
    if nh < 0:
        return nh
    r = qcall.file_rename(u64(oh), addr_of(od.name[0]), od.name_len, u64(nh), addr_of(nd.name[0]),
                          nd.name_len)
    if r < 0:
        return r
    done(od)
    done(nd)
    return 0


def h_link(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry], old: ptr[Dentry]) -> i64:
    return -EPERM


def h_readlink(t: ptr[Task], i: ptr[Inode], buf: ptr[u8], size: u64) -> i64:
    # the host path in FS_BUF: buf is the walk's LINK_BUF or readlink(2)'s output, never it
    return lower.readlink(i, buf, size, t.scratch + FS_BUF)


def writable_handle(t: ptr[Task], i: ptr[Inode]) -> i64:
    """A new host handle of regular file i opened for writing (the caller closes it)."""
    d = cast(ptr[Dentry], i.priv)
    buf = t.scratch + FS_BUF
    n = lower.host_path(d, buf)
    if n < 0:
        return n
    return qcall.file_open(d.mnt.tree, buf, u64(n), OPEN_WRITE)


def h_truncate(t: ptr[Task], i: ptr[Inode], size: u64) -> i64:
    h = writable_handle(t, i)
    if h < 0:
        return h
    r = qcall.file_truncate(u64(h), size)
    qcall.file_close(u64(h))
    if r == 0:
        i.st.st_size = size
    return r


def h_setattr(t: ptr[Task], i: ptr[Inode], what: u64, a: u64, b: u64) -> i64:
    h = lower.handle(i, t.scratch + FS_BUF)
    if h < 0:
        return h
    return qcall.file_setattr(u64(h), what, a, b)


def h_open(t: ptr[Task], f: ptr[File]) -> i64:
    """A File open for writing gets its own writable host handle."""
    if f.flags & O_ACCMODE == O_RDONLY or f.inode.st.st_mode & S_IFMT != S_IFREG:
        return 0
    h = writable_handle(t, f.inode)
    if h < 0:
        return h
    f.priv = u64(h) + 1
    return 0


RW_IOPS: InodeOps = InodeOps(lookup=h_lookup, create=h_create, mkdir=h_mkdir, symlink=h_symlink,
                             link=h_link, unlink=h_unlink, rmdir=h_rmdir, rename=h_rename,
                             readlink=h_readlink, truncate=h_truncate, setattr=h_setattr,
                             open=h_open)


# ---- data -----------------------------------------------------------------------------------

def data_handle(t: ptr[Task], f: ptr[File]) -> i64:
    if f.priv != 0:
        return i64(f.priv - 1)
    return lower.handle(f.inode, t.scratch + FS_BUF)


def f_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if not range_ok(buf, n, True):
        return -EFAULT
    h = data_handle(t, f)
    if h < 0:
        return h
    got: u64 = 0
    while got < n:
        chunk = n - got
        if chunk > BOUNCE_SIZE:
            chunk = BOUNCE_SIZE
        r = qcall.file_pread(u64(h), t.scratch + BOUNCE, chunk, pos[0])
        if r < 0:
            return i64(got) if got > 0 else r
        if r == 0:
            break
        if copy_to_user(buf + got, t.scratch + BOUNCE, u64(r)) != 0:
            return i64(got) if got > 0 else -EFAULT
        got += u64(r)
        pos[0] += u64(r)
        if u64(r) < chunk:
            break
    return i64(got)


def f_kread(t: ptr[Task], f: ptr[File], dst: ptr[u8], n: u64, pos: u64) -> i64:
    """The host reads into kernel memory, a page of dst at a time (contiguous within one)."""
    h = data_handle(t, f)
    if h < 0:
        return h
    got: u64 = 0
    while got < n:
        chunk = PAGE_SIZE - ((u64(dst) + got) & (PAGE_SIZE - 1))
        if chunk > n - got:
            chunk = n - got
        r = qcall.file_pread(u64(h), dst + got, chunk, pos + got)
        if r < 0:
            return i64(got) if got > 0 else r
        got += u64(r)
        if u64(r) < chunk:
            break
    return i64(got)


def f_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.priv == 0:
        return -EINVAL
    h = f.priv - 1
    if f.flags & O_APPEND != 0:
        st: Stat = Stat()
        r0 = qcall.file_fstat(h, addr_of(st))
        if r0 < 0:
            return r0
        pos[0] = st.st_size
    put: u64 = 0
    while put < n:
        chunk = n - put
        if chunk > BOUNCE_SIZE:
            chunk = BOUNCE_SIZE
        if copy_from_user(t.scratch + BOUNCE, buf + put, chunk) != 0:
            return i64(put) if put > 0 else -EFAULT
        r = qcall.file_pwrite(h, t.scratch + BOUNCE, chunk, pos[0])
        if r < 0:
            return i64(put) if put > 0 else r
        put += u64(r)
        pos[0] += u64(r)
        if u64(r) < chunk:
            break
    if pos[0] > f.inode.st.st_size:
        f.inode.st.st_size = pos[0]
    return i64(put)


def f_fstat(f: ptr[File], st: ptr[Stat]) -> i64:
    if f.priv != 0:
        return qcall.file_fstat(f.priv - 1, st)
    if f.inode.host != 0:
        return qcall.file_fstat(f.inode.host - 1, st)
    st[0] = f.inode.st
    return 0


def f_release(f: ptr[File]) -> None:
    if f.priv != 0:
        qcall.file_close(f.priv - 1)
        f.priv = 0


def f_llseek(f: ptr[File], offset: i64, whence: u64) -> i64:
    if whence == 2:
        st: Stat = Stat()
        if f_fstat(f, addr_of(st)) == 0:
            f.inode.st.st_size = st.st_size
    return generic_llseek(f, offset, whence)


def d_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return -EISDIR


def d_getdents(t: ptr[Task], f: ptr[File], buf: u64, count: u64) -> i64:
    """".", "..", then the host's entries as they are (positions DOTS + the host's cookie)."""
    if not range_ok(buf, count, True):
        return -EFAULT
    out = t.scratch + BOUNCE
    room = count if count < BOUNCE_SIZE else BOUNCE_SIZE
    used: u64 = 0
    while f.pos < DOTS:
        k = memfs.put(out + used, room - used, f.inode.st.st_ino, f.pos + 1, 4, b"..", f.pos + 1)
        if k == 0:
            break
        used += k
        f.pos += 1
    if f.pos >= DOTS and used < room:
        h = lower.handle(f.inode, t.scratch + FS_BUF)
        if h < 0:
            return h if used == 0 else memfs.copy_out(buf, out, used)
        r = qcall.file_getdents(u64(h), out + used, room - used, f.pos - DOTS)
        if r < 0 and used == 0:
            return r
        if r > 0:
            off: u64 = 0
            while off < u64(r):
                e = cast(ptr[Dirent64], out + used + off)
                e.d_off = e.d_off + DOTS
                f.pos = u64(e.d_off)
                off += u64(e.d_reclen)
            used += u64(r)
    if used == 0 and f.pos < DOTS:
        return -EINVAL
    return memfs.copy_out(buf, out, used)


FILE_OPS: FileOps = FileOps(read=f_read, write=f_write, fstat=f_fstat, release=f_release, kread=f_kread,
                            llseek=f_llseek, mmap=map_pages)
DIR_OPS: FileOps = FileOps(read=d_read, getdents=d_getdents, llseek=f_llseek)


def make_root(t: ptr[Task], m: ptr[Mount]) -> i64:
    """m's root: the top of its host tree."""
    r = lower.root_inode(t.scratch + FS_BUF, m, addr_of(RW_IOPS), addr_of(DIR_OPS))
    if r == 0:
        m.root.flags = D_LOOKED | D_PINNED
    return r
