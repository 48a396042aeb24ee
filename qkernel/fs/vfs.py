"""The VFS's generic layer: the mount table and the operations the path calls share (open,
create, mkdir, unlink, rmdir, rename, symlink, link, truncate), with Linux's checks done once
here before a filesystem's InodeOps is called: existence (-EEXIST, -ENOENT), kinds (-EISDIR,
-ENOTDIR), a read-only mount (-EROFS), loops in rename (-EINVAL), mounts in the way (-EBUSY,
-EXDEV across mounts).

The sandbox's mounts (set up by init): "/" is the host root (tree 0) read-only with an
in-memory layer above (memfs.py), /dev a tmpfs filled by devfs.py, /proc the procfs. /tmp is
the root's own (writable through the overlay, its host files visible), not a tmpfs over it.
Permission checks follow the sandbox running as root (CAP_DAC_OVERRIDE): modes do not refuse
access, a read-only mount does.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i64, ptr, u8, u64
from qkernel import qcall
from qkernel.abi import HOST_MOUNT_RW
from qkernel.fs import dcache, devfs, hostrw, lower, memfs, node, pagecache, procfs
from qkernel.fs.namei import LOOKUP_PARENT, Nameidata, Path, down, is_dir, lookup_one, path_inode, root, walk
from qkernel.fs.node import (D_LOOKED, MNT_RDONLY, Dentry, File, FileOps, Inode, Mount, mount_pool, new_dentry,
                             fput, new_file)
from qkernel.linux.errno import (EBUSY, EEXIST, EINVAL, EISDIR, ENFILE, ENOENT, ENOMEM, ENOTDIR,
                                 ENOTEMPTY, ENXIO, EPERM, EROFS, EXDEV)
from qkernel.linux.fcntl import O_ACCMODE, O_RDONLY, PATH_MAX
from qkernel.linux.stat import OVERLAYFS_SUPER_MAGIC, PROC_SUPER_MAGIC, S_IFMT, S_IFREG, TMPFS_MAGIC
from qkernel.mm import kalloc
from qkernel.task.task import Task

NO_OPS: FileOps = FileOps()      # O_PATH files of kinds with no I/O (symlinks, devices)
mounts_tail: ptr[Mount] = NULL   # the last of node.mount_list
next_dev: u64 = 0x2F             # st_dev of the next in-memory filesystem (major 0, as tmpfs)


def release_inode(i: ptr[Inode]) -> None:
    """node.free_hook: an inode's data and host handle go with it."""
    pagecache.release(i)
    lower.close_handle(i)


def new_mount(fstype: ptr[u8], source: ptr[u8], flags: u64, tree: u64, magic: u64) -> ptr[Mount]:
    global next_dev
    m = cast(ptr[Mount], kalloc.alloc(addr_of(mount_pool)))
    if m == NULL:
        return NULL
    m.fstype = fstype
    m.magic = magic
    k: u64 = 0
    while source[k] != 0 and k < 255:
        m.source[k] = source[k]
        k += 1
    m.flags = flags
    m.tree = tree
    m.dev = next_dev
    next_dev += 1
    d = new_dentry(NULL, m, b"", 0)
    if d == NULL:
        return NULL
    m.root = d
    return m


def attach(m: ptr[Mount], at: ptr[Path]) -> None:
    """m on top of `at` (NULL at: the root mount); appended to the mount table."""
    global mounts_tail
    if at != NULL:
        m.parent = at.mnt
        m.mountpoint = at.d
        at.d.mounted = m
    if mounts_tail == NULL:
        node.mount_list = m
    else:
        mounts_tail.next = m
    mounts_tail = m


def init(t: ptr[Task]) -> i64:
    """The sandbox's mounts; 0 or -errno (the root could not be served)."""
    node.free_hook = release_inode
    m = new_mount(b"rootfs", b"/", 0, 0, OVERLAYFS_SUPER_MAGIC)
    if m == NULL:
        return -ENOMEM
    r = memfs.make_root(t, m, m.root, True)
    if r < 0:
        return r
    attach(m, NULL)
    root.mnt = m
    root.d = m.root
    r = mount_special(t, b"dev", b"devtmpfs", FS_DEV)
    if r < 0:
        return r
    r = mount_special(t, b"proc", b"proc", FS_PROC)
    if r < 0:
        return r
    return mount_binds(t)


def mount_binds(t: ptr[Task]) -> i64:
    """The host trees bound with `qvisor run --mount` (QCALL_HOST_MOUNT lists them): each a
    host-backed mount on its guest path (made in memory where the root has none). Read-only
    binds are served like the root (lower.py), read-write ones by hostrw.py, on the host."""
    k: u64 = 1
    buf = t.scratch + 32768
    while True:
        flags = qcall.host_mount(k, buf, PATH_MAX)
        if flags == -ENOENT:
            return 0
        if flags < 0:
            return flags
        at: Path = Path()
        r = make_dirs(t, buf, addr_of(at))
        if r < 0:
            return r
        rw = u64(flags) & HOST_MOUNT_RW != 0
        m = new_mount(b"bind", buf, 0 if rw else MNT_RDONLY, k, TMPFS_MAGIC)
        if m == NULL:
            return -ENOMEM
        r = hostrw.make_root(t, m) if rw else memfs.make_root(t, m, m.root, True)
        if r < 0:
            return r
        attach(m, addr_of(at))
        k += 1
    return 0


def make_dirs(t: ptr[Task], path: ptr[u8], out: ptr[Path]) -> i64:
    """The directory at absolute `path`, made (as mkdir -p, in memory) where it is missing."""
    cur: Path = Path()
    cur.mnt = root.mnt
    cur.d = root.d
    i: u64 = 0
    while path[i] != 0:
        while path[i] == ord(b"/"):
            i += 1
        s = i
        while path[i] != 0 and path[i] != ord(b"/"):
            i += 1
        if i == s:
            break
        d: ptr[Dentry] = NULL
        r = lookup_one(t, addr_of(cur), path + s, i - s, addr_of(d))
        if r < 0:
            return r
        if d.inode == NULL:
            if readonly(addr_of(cur)):
                return -EROFS
            di = cur.d.inode
            r = di.iops.mkdir(t, di, d, 0o755)
            if r < 0:
                return r
        if not is_dir(d.inode):
            return -ENOTDIR
        cur.d = d
        down(addr_of(cur))
    out.mnt = cur.mnt
    out.d = cur.d
    return 0


def mountpoint(t: ptr[Task], name: ptr[u8], n: u64, out: ptr[ptr[Dentry]]) -> i64:
    """The directory /NAME to mount on: the root's, or one made in memory when the root has
    none or the host refuses it (its /proc and /sys are never served)."""
    d: ptr[Dentry] = NULL
    r = lookup_one(t, addr_of(root), name, n, addr_of(d))
    if r < 0:
        d = dcache.child(root.d, root.mnt, name, n)
        if d == NULL:
            return -ENOMEM
        d.inode = NULL
        d.flags = D_LOOKED
    if d.inode == NULL:
        r = root.d.inode.iops.mkdir(t, root.d.inode, d, 0o755)
        if r < 0:
            return r
    if not is_dir(d.inode):
        return -ENOTDIR
    out[0] = d
    return 0


FS_TMPFS: Final = 0
FS_DEV: Final = 1
FS_PROC: Final = 2


def mount_special(t: ptr[Task], name: ptr[u8], fstype: ptr[u8], kind: u64) -> i64:
    """A kernel filesystem on /NAME: a tmpfs (FS_TMPFS), one filled as /dev (FS_DEV, devfs.py)
    or the procfs (FS_PROC)."""
    n: u64 = 0
    while name[n] != 0:
        n += 1
    d: ptr[Dentry] = NULL
    r = mountpoint(t, name, n, addr_of(d))
    if r < 0:
        return r
    m = new_mount(fstype, fstype, 0, 0, PROC_SUPER_MAGIC if kind == FS_PROC else TMPFS_MAGIC)
    if m == NULL:
        return -ENOMEM
    if kind == FS_PROC:
        r = procfs.make_root(t, m)
    else:
        r = memfs.make_root(t, m, m.root, False)
        if r == 0 and kind == FS_DEV:
            r = devfs.populate(t, m)
    if r < 0:
        return r
    at: Path = Path()
    at.mnt = root.mnt
    at.d = d
    attach(m, addr_of(at))
    return 0


def readonly(p: ptr[Path]) -> bool:
    return p.mnt.flags & MNT_RDONLY != 0


def parent_and_name(t: ptr[Task], begin: ptr[Path], path: ptr[u8], n: u64, nd: ptr[Nameidata],
                    out: ptr[ptr[Dentry]]) -> i64:
    """The walk to the last component and that component's dentry (negative when absent).
    "." and ".." as the last component: -EEXIST for a creation's caller to refine; "/" : -EEXIST."""
    r = walk(t, begin, path, n, LOOKUP_PARENT, nd)
    if r < 0:
        return r
    if nd.last_len == 0:
        return -EEXIST
    if nd.last[0] == ord(b".") and (nd.last_len == 1 or (nd.last_len == 2 and nd.last[1] == ord(b"."))):
        return -EEXIST
    d: ptr[Dentry] = NULL
    r = lookup_one(t, addr_of(nd.path), nd.last, nd.last_len, addr_of(d))
    if r < 0:
        return r
    out[0] = d
    return 0


def is_dot(nd: ptr[Nameidata]) -> u64:
    """1 for a last component ".", 2 for "..", 0 otherwise (after a LOOKUP_PARENT walk)."""
    if nd.last_len == 0 or nd.last[0] != ord(b"."):
        return 0
    if nd.last_len == 1:
        return 1
    if nd.last_len == 2 and nd.last[1] == ord(b"."):
        return 2
    return 0


def open_file(t: ptr[Task], p: ptr[Path], flags: u64) -> ptr[File]:
    """A File on p's inode (path_inode: a File's own when p came from one) with its kind's
    FileOps (NULL: out of files); p.d may be NULL (a file with no name: reopen's)."""
    i = path_inode(p)
    f = new_file(i.fops if i.fops != NULL else addr_of(NO_OPS), i, flags)
    if f == NULL:
        return NULL
    f.dentry = p.d
    f.mnt = p.mnt
    if p.d != NULL:
        p.d.refs += 1
    return f


def reopen(t: ptr[Task], f0: ptr[File], flags: u64, out: ptr[ptr[File]]) -> i64:
    """A new open of the file behind f0 with `flags`, for an open through /proc/PID/fd/N of a
    file with no path: its kind's FileOps.reopen (a pipe's new end: Linux's fifo_open of a pipe,
    which never waits; another File on the console's stream), else, for a regular file that was
    unlinked, its inode opened again. 0 and the File in out[0], or -errno: -ENXIO for the
    anonymous kinds (eventfd, epoll, ...), as Linux's anon_inode refuses it."""
    if f0.ops.reopen != NULL:
        out[0] = f0.ops.reopen(t, f0, flags)
        return 0 if out[0] != NULL else -ENFILE
    i = f0.inode
    if i == NULL or u64(i.st.st_mode) & S_IFMT != S_IFREG or i.fops == NULL:
        return -ENXIO
    p: Path = Path()
    p.mnt = f0.mnt
    p.d = f0.dentry
    p.inode = i
    if flags & O_ACCMODE != O_RDONLY and p.d != NULL:
        r = prepare_write(t, addr_of(p))
        if r < 0:
            return r
    nf = open_file(t, addr_of(p), flags)
    if nf == NULL:
        return -ENFILE
    if i.iops != NULL and i.iops.open != NULL:
        r2 = i.iops.open(t, nf)
        if r2 < 0:
            fput(nf)
            return r2
    out[0] = nf
    return 0


def create(t: ptr[Task], nd: ptr[Nameidata], d: ptr[Dentry], mode: u64) -> i64:
    """A new regular file (or other non-directory of `mode`) at negative dentry d."""
    if readonly(addr_of(nd.path)):
        return -EROFS
    di = nd.path.d.inode
    if di.iops == NULL or di.iops.create == NULL:
        return -EPERM
    return di.iops.create(t, di, d, mode)


def new_name(t: ptr[Task], begin: ptr[Path], path: ptr[u8], n: u64, dir: bool,
             nd: ptr[Nameidata], out: ptr[ptr[Dentry]]) -> i64:
    """The negative dentry a creation takes (mkdir with dir: a trailing slash is fine), after
    Linux's checks: -EEXIST, -ENOENT for "name/" of a non-directory, -EROFS."""
    r = parent_and_name(t, begin, path, n, nd, out)
    if r < 0:
        return r
    if out[0].inode != NULL:
        return -EEXIST
    if nd.trailing and not dir:
        return -ENOENT
    if readonly(addr_of(nd.path)):
        return -EROFS
    return 0


def mkdir(t: ptr[Task], begin: ptr[Path], path: ptr[u8], n: u64, mode: u64) -> i64:
    nd: Nameidata = Nameidata()
    d: ptr[Dentry] = NULL
    r = new_name(t, begin, path, n, True, addr_of(nd), addr_of(d))
    if r < 0:
        return r
    di = nd.path.d.inode
    if di.iops == NULL or di.iops.mkdir == NULL:
        return -EPERM
    return di.iops.mkdir(t, di, d, mode & ~t.process.umask & 0o7777)


def remove(t: ptr[Task], begin: ptr[Path], path: ptr[u8], n: u64, dir: bool) -> i64:
    """unlink (dir False) or rmdir (dir True) of the path's last component (not followed)."""
    nd: Nameidata = Nameidata()
    r = walk(t, begin, path, n, LOOKUP_PARENT, addr_of(nd))
    if r < 0:
        return r
    dots = is_dot(addr_of(nd))
    if nd.last_len == 0:
        return -EBUSY if dir else -EISDIR       # "/" itself
    if dots == 1:
        return -EINVAL if dir else -EISDIR
    if dots == 2:
        return -ENOTEMPTY if dir else -EISDIR
    if nd.trailing and not dir:
        d0: ptr[Dentry] = NULL
        r = lookup_one(t, addr_of(nd.path), nd.last, nd.last_len, addr_of(d0))
        if r < 0:
            return r
        if d0.inode == NULL:
            return -ENOENT
        return -EISDIR if is_dir(d0.inode) else -ENOTDIR
    d: ptr[Dentry] = NULL
    r = lookup_one(t, addr_of(nd.path), nd.last, nd.last_len, addr_of(d))
    if r < 0:
        return r
    if d.inode == NULL:
        return -ENOENT
    if dir and not is_dir(d.inode):
        return -ENOTDIR
    if not dir and is_dir(d.inode):
        return -EISDIR
    if d.mounted != NULL or d == nd.path.mnt.root:
        return -EBUSY
    if readonly(addr_of(nd.path)):
        return -EROFS
    di = nd.path.d.inode
    if dir:
        if di.iops == NULL or di.iops.rmdir == NULL:
            return -EPERM
        return di.iops.rmdir(t, di, d)
    if di.iops == NULL or di.iops.unlink == NULL:
        return -EPERM
    return di.iops.unlink(t, di, d)


def symlink(t: ptr[Task], target: ptr[u8], tlen: u64, begin: ptr[Path], path: ptr[u8], n: u64) -> i64:
    nd: Nameidata = Nameidata()
    d: ptr[Dentry] = NULL
    r = new_name(t, begin, path, n, False, addr_of(nd), addr_of(d))
    if r < 0:
        return r
    di = nd.path.d.inode
    if di.iops == NULL or di.iops.symlink == NULL:
        return -EPERM
    return di.iops.symlink(t, di, d, target, tlen)


def below(d: ptr[Dentry], anc: ptr[Dentry]) -> bool:
    """d is anc or inside it (within one mount)."""
    cur = d
    while True:
        if cur == anc:
            return True
        if cur.parent == cur:
            return False
        cur = cur.parent


def rename(t: ptr[Task], od: ptr[Dentry], ond: ptr[Nameidata], nd: ptr[Dentry],
           nnd: ptr[Nameidata], noreplace: bool) -> i64:
    """rename(2) of od (last component of ond's walk) to nd (of nnd's)."""
    src = od.inode
    if src == NULL:
        return -ENOENT
    if ond.path.mnt != nnd.path.mnt:
        return -EXDEV
    if od == nd:
        return 0                        # the same name, or hard links to one inode: nothing
    if nd.inode != NULL and nd.inode == src:
        return 0
    if od.mounted != NULL or nd.mounted != NULL:
        return -EBUSY
    if readonly(addr_of(ond.path)):
        return -EROFS
    if is_dir(src):
        if below(nd.parent, od):
            return -EINVAL              # into itself
    elif ond.trailing or nnd.trailing:
        return -ENOTDIR
    if nd.inode != NULL:
        if noreplace:
            return -EEXIST
        if is_dir(src) and not is_dir(nd.inode):
            return -ENOTDIR
        if not is_dir(src) and is_dir(nd.inode):
            return -EISDIR
        if is_dir(nd.inode):
            r = memfs.empty(t, nd)
            if r < 0:
                return r
            if r == 0:
                return -ENOTEMPTY
    if below(od.parent, nd) and is_dir(nd.inode):
        return -ENOTEMPTY               # replacing an ancestor of the source
    di = ond.path.d.inode
    if di.iops == NULL or di.iops.rename == NULL:
        return -EPERM
    return di.iops.rename(t, od, nd)


def link(t: ptr[Task], old: ptr[Path], begin: ptr[Path], path: ptr[u8], n: u64) -> i64:
    if is_dir(old.d.inode):
        return -EPERM
    nd: Nameidata = Nameidata()
    d: ptr[Dentry] = NULL
    r = new_name(t, begin, path, n, False, addr_of(nd), addr_of(d))
    if r < 0:
        return r
    if nd.path.mnt != old.mnt:
        return -EXDEV
    di = nd.path.d.inode
    if di.iops == NULL or di.iops.link == NULL:
        return -EPERM
    return di.iops.link(t, di, d, old.d)


def truncate(t: ptr[Task], p: ptr[Path], size: u64) -> i64:
    i = path_inode(p)
    if is_dir(i):
        return -EISDIR
    if u64(i.st.st_mode) & S_IFMT != 0o100000:
        return -EINVAL
    if readonly(p):
        return -EROFS
    if i.iops == NULL or i.iops.truncate == NULL:
        return -EPERM
    return i.iops.truncate(t, i, size)


def prepare_write(t: ptr[Task], p: ptr[Path]) -> i64:
    """Before a file's data or attributes change: -EROFS on a read-only mount, else the
    filesystem's preparation (the overlay's copy-up)."""
    if readonly(p):
        return -EROFS
    i = path_inode(p)
    if i.iops != NULL and i.iops.prepare_write != NULL:
        return i.iops.prepare_write(t, i)
    return 0


def setattr(t: ptr[Task], p: ptr[Path], what: u64, a: u64, b: u64) -> i64:
    """Before chmod (SETATTR_MODE), chown (SETATTR_OWNER) or utimes (SETATTR_TIMES, in ns)
    changes p's stat: the checks and preparation of prepare_write, then the filesystem's own
    setattr where the attributes live elsewhere (a rw bind: on the host). 0 or -errno; the
    caller then updates the inode's stat."""
    r = prepare_write(t, p)
    if r < 0:
        return r
    i = path_inode(p)
    if i.iops != NULL and i.iops.setattr != NULL:
        return i.iops.setattr(t, i, what, a, b)
    return 0
