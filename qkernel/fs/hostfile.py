"""Files of the sandbox root, opened on the host (read-only): regular files and directories.

The first slice of the VFS (the filesystem issue): an open asks the host to resolve the path
inside the root (QCALL_OPEN: openat2 with RESOLVE_IN_ROOT) and keeps its handle in the File's
inode (Inode.host = handle + 1) with the stat taken at open. Reads are host preads through the
task's scratch buffer; getdents gives "." and ".." and then the host's entries (QCALL_GETDENTS,
position = 2 + the host's cookie). Not yet: the dentry and page caches (hot files still cost a
host call per read), the writable overlay, tmpfs.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import OPEN_DIRECTORY, OPEN_NOFOLLOW
from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, u8, u16, u64
from qkernel.fs.node import File, FileOps, Inode, free_inode, generic_llseek, inode_pool, new_file
from qkernel.linux.errno import EFAULT, EINVAL, EISDIR, ENOMEM
from qkernel.linux.fcntl import O_DIRECTORY, O_NOFOLLOW
from qkernel.linux.stat import S_IFDIR, S_IFMT
from qkernel.linux.uio import DIRENT64_NAME, DT_DIR, Dirent64
from qkernel.mm import kalloc
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.task.task import SCRATCH_SIZE, Task

DOT_ENTRIES: Final = 2     # getdents positions 0 and 1 are "." and ".."


def handle(f: ptr[File]) -> u64:
    return f.inode.host - 1


def hf_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.inode.st.st_mode & S_IFMT == S_IFDIR:
        return -EISDIR
    done: u64 = 0
    while done < n:
        chunk = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        if not range_ok(buf + done, chunk, True):
            return i64(done) if done > 0 else -EFAULT
        r = qcall.file_pread(handle(f), t.scratch, chunk, pos[0])
        if r <= 0:
            return i64(done) if done > 0 or r == 0 else r
        if copy_to_user(buf + done, t.scratch, u64(r)) != 0:
            return i64(done) if done > 0 else -EFAULT
        pos[0] += u64(r)
        done += u64(r)
        if u64(r) < chunk:
            break
    return i64(done)


def put_dot(t: ptr[Task], buf: u64, n: u64, dots: u64, next_pos: u64) -> i64:
    """A linux_dirent64 of "." (dots 1) or ".." (dots 2) at buf; its length or -EINVAL."""
    reclen: u64 = 24
    if n < reclen:
        return -EINVAL
    d = cast(ptr[Dirent64], t.scratch)
    d.d_ino = 1
    d.d_off = i64(next_pos)
    d.d_reclen = u16(reclen)
    d.d_type = DT_DIR
    name = t.scratch + DIRENT64_NAME
    name[0] = 46
    name[1] = 46 if dots == 2 else 0
    name[2] = 0
    for k in range(3, 5):
        name[k] = 0
    r = copy_to_user(buf, t.scratch, reclen)
    return r if r < 0 else i64(reclen)


def hf_getdents(t: ptr[Task], f: ptr[File], buf: u64, n: u64) -> i64:
    if not range_ok(buf, n, True):
        return -EFAULT
    done: u64 = 0
    while f.pos < DOT_ENTRIES:
        r = put_dot(t, buf + done, n - done, f.pos + 1, f.pos + 1)
        if r < 0:
            return i64(done) if done > 0 else r
        done += u64(r)
        f.pos += 1
    room = n - done
    if room > SCRATCH_SIZE:
        room = SCRATCH_SIZE
    r = qcall.file_getdents(handle(f), t.scratch, room, f.pos - DOT_ENTRIES)
    if r < 0:
        return i64(done) if done > 0 else r
    if r == 0:
        return i64(done)
    # the host's d_off are its cookies: shift them past the dot entries, note the last
    off: u64 = 0
    last: u64 = f.pos
    while off < u64(r):
        d = cast(ptr[Dirent64], t.scratch + off)
        last = u64(d.d_off) + DOT_ENTRIES
        d.d_off = i64(last)
        off += u64(d.d_reclen)
    c = copy_to_user(buf + done, t.scratch, u64(r))
    if c < 0:
        return i64(done) if done > 0 else c
    f.pos = last
    return i64(done + u64(r))


def hf_release(f: ptr[File]) -> None:
    ino = f.inode
    if ino != NULL and ino.host != 0:
        qcall.file_close(ino.host - 1)
        ino.host = 0
        ino.st.st_nlink = 0   # the inode lives and dies with its one File (no inode cache yet)


HOST_OPS: FileOps = FileOps(read=hf_read, getdents=hf_getdents, release=hf_release,
                            llseek=generic_llseek)


def open_path(path: ptr[u8], n: u64, flags: u64, out: ptr[ptr[File]]) -> i64:
    """Opens path (absolute in the root, n bytes) read-only on the host: 0 and the File in
    out[0], or -errno."""
    hflags: u64 = 0
    if flags & O_DIRECTORY != 0:
        hflags |= OPEN_DIRECTORY
    if flags & O_NOFOLLOW != 0:
        hflags |= OPEN_NOFOLLOW
    h = qcall.file_open(0, path, n, hflags)
    if h < 0:
        return h
    ino = cast(ptr[Inode], kalloc.alloc(addr_of(inode_pool)))
    if ino == NULL:
        qcall.file_close(u64(h))
        return -ENOMEM
    ino.host = u64(h) + 1
    r = qcall.file_fstat(u64(h), addr_of(ino.st))
    if r < 0:
        qcall.file_close(u64(h))
        free_inode(ino)
        return r
    f = new_file(addr_of(HOST_OPS), ino, flags)
    if f == NULL:
        qcall.file_close(u64(h))
        free_inode(ino)
        return -ENOMEM
    ino.refs -= 1          # the File holds the only reference
    out[0] = f
    return 0
