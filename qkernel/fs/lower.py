"""The lower layer: files and directories of a host tree (qvisor/fs.py), seen through qcalls.

A lower inode is made by a lookup (QCALL_STAT without following a final symlink, so the path
walk in namei.py sees and follows every symlink itself) and keeps the stat it found: the host
tree is the sandbox's read-only image, and what the guest changes lives in memory above it
(memfs.py). Its path on the host is its dentry's path below its mount's root (Inode.priv holds
that dentry; a lower file is copied up before it can be renamed, and a lower directory cannot
be renamed (-EXDEV, as overlayfs without redirect_dir), so that path never changes).

Host handles are opened lazily (the first read of data not yet cached, the first listing) and
kept with the inode while it is cached; when the host's cap on handles (HOST_FILES_MAX) is
reached, handles of inodes no File has open are closed, oldest first.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import HOST_FILES_MAX, OPEN_DIRECTORY
from qkernel.dialect import NULL, Final, addr_of, cast, i64, memcpy, ptr, u8, u64
from qkernel.fs.node import I_LOWER, Dentry, FileOps, Inode, InodeOps, Mount, new_inode
from qkernel.linux.errno import EMFILE, ENAMETOOLONG, ENOENT, ENOMEM
from qkernel.linux.fcntl import PATH_MAX
from qkernel.linux.stat import S_IFDIR, S_IFMT, Stat

HANDLES_KEPT: Final = HOST_FILES_MAX - 64   # beyond: close idle handles first

handles_open: u64 = 0
lru_head: ptr[Inode] = NULL       # inodes holding a handle, newest first
lru_tail: ptr[Inode] = NULL


def host_path(d: ptr[Dentry], buf: ptr[u8]) -> i64:
    """The path of d below its mount's root ("/a/b", "/" for the root itself) in buf
    (PATH_MAX bytes, NUL-terminated): its length, or -ENAMETOOLONG."""
    root = d.mnt.root
    end: u64 = PATH_MAX - 1
    pos = end
    buf[pos] = 0
    cur = d
    while cur != root and cur.parent != cur:
        n = cur.name_len
        if pos < n + 1:
            return -ENAMETOOLONG
        pos -= n
        memcpy(buf + pos, addr_of(cur.name[0]), n)
        pos -= 1
        buf[pos] = ord(b"/")
        cur = cur.parent
    if pos == end:
        pos -= 1
        buf[pos] = ord(b"/")
    length = end - pos
    for k in range(length + 1):
        buf[k] = buf[pos + k]
    return i64(length)


def stat_name(d: ptr[Dentry], buf: ptr[u8], st: ptr[Stat]) -> i64:
    """The host's lstat of d's path into st: 1, or 0 when the name does not exist there, or
    -errno. buf: PATH_MAX bytes of scratch."""
    n = host_path(d, buf)
    if n < 0:
        return n
    r = qcall.file_stat(d.mnt.tree, buf, u64(n), st, True)
    if r == -ENOENT:
        return 0
    return r if r < 0 else 1


def lru_unlink(i: ptr[Inode]) -> None:
    global lru_head, lru_tail
    prev: ptr[Inode] = NULL
    cur = lru_head
    while cur != NULL and cur != i:
        prev = cur
        cur = cur.lru_next
    if cur == NULL:
        return
    if prev == NULL:
        lru_head = i.lru_next
    else:
        prev.lru_next = i.lru_next
    if lru_tail == i:
        lru_tail = prev
    i.lru_next = NULL


def close_handle(i: ptr[Inode]) -> None:
    global handles_open
    if i.host == 0:
        return
    qcall.file_close(i.host - 1)
    i.host = 0
    handles_open -= 1
    lru_unlink(i)


def shed(keep: u64) -> bool:
    """Closes handles of inodes with no open File until at most `keep` are open; whether any
    was closed."""
    closed = False
    cur = lru_head
    while cur != NULL and handles_open > keep:
        nxt = cur.lru_next
        if cur.opens == 0:
            close_handle(cur)
            closed = True
        cur = nxt
    return closed


def handle(i: ptr[Inode], buf: ptr[u8]) -> i64:
    """The host handle of lower inode i, opened now if need be; or -errno."""
    global lru_head, lru_tail, handles_open
    if i.host != 0:
        return i64(i.host - 1)
    d = cast(ptr[Dentry], i.priv)
    n = host_path(d, buf)
    if n < 0:
        return n
    if handles_open >= HANDLES_KEPT:
        shed(HANDLES_KEPT // 2)
    flags: u64 = OPEN_DIRECTORY if u64(i.st.st_mode) & S_IFMT == S_IFDIR else 0
    h = qcall.file_open(d.mnt.tree, buf, u64(n), flags)
    if h == -EMFILE and shed(0):
        h = qcall.file_open(d.mnt.tree, buf, u64(n), flags)
    if h < 0:
        return h
    i.host = u64(h) + 1
    handles_open += 1
    i.lru_next = NULL
    if lru_tail == NULL:
        lru_head = i
    else:
        lru_tail.lru_next = i
    lru_tail = i
    return h


def readlink(i: ptr[Inode], out: ptr[u8], size: u64, buf: ptr[u8]) -> i64:
    """A lower symlink's target (not NUL-terminated) into out: its length or -errno."""
    d = cast(ptr[Dentry], i.priv)
    n = host_path(d, buf)
    if n < 0:
        return n
    return qcall.file_readlink(d.mnt.tree, buf, u64(n), out, size)


def new_lower(d: ptr[Dentry], st: ptr[Stat], iops: ptr[InodeOps], fops: ptr[FileOps]) -> ptr[Inode]:
    """A lower inode for dentry d with the host's stat st (its one reference, d's, taken);
    NULL when the pool is exhausted."""
    i = new_inode(d.mnt, u64(st.st_mode), iops, fops)
    if i == NULL:
        return NULL
    i.st = st[0]
    i.iflags = I_LOWER
    i.priv = u64(d)
    i.refs = 1
    return i


def root_inode(t_buf: ptr[u8], m: ptr[Mount], iops: ptr[InodeOps], fops: ptr[FileOps]) -> i64:
    """m's root dentry made the top of m's host tree (t_buf: PATH_MAX bytes of scratch)."""
    st: Stat = Stat()
    t_buf[0] = ord(b"/")
    t_buf[1] = 0
    r = qcall.file_stat(m.tree, t_buf, 1, addr_of(st), False)
    if r < 0:
        return r
    i = new_lower(m.root, addr_of(st), iops, fops)
    if i == NULL:
        return -ENOMEM
    m.root.inode = i
    return 0
