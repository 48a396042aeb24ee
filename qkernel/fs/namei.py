"""Path walk: a path (absolute, relative to the cwd or to a directory descriptor) to a
(mount, dentry) pair, component by component through the dentry cache.

Linux's rules (path_resolution(7)): "/" starts at the sandbox root and ".." at the root stays
there; ".." at a mount's root continues in the mount below; a dentry with a mount on it is that
mount's root; symlinks in any component but the last are followed, the last one only with
LOOKUP_FOLLOW or a trailing slash; at most MAXSYMLINKS (40) links per walk (-ELOOP); a
component longer than NAME_MAX is -ENAMETOOLONG, as is a path (or a path grown by a link
target) of PATH_MAX bytes; a non-directory in the middle is -ENOTDIR, a missing name -ENOENT.

Buffers: the walk works in the task's scratch: the path in WALK_A (copied from the user there
by user_path), a link's expansion in WALK_B (the two alternate), the link target in LINK_BUF
and a filesystem's own needs (the host path of a lookup) in FS_BUF.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, cast, i32, i64, memcpy, ptr, struct, u8, u64
from qkernel.fs import dcache, fdtable
from qkernel.fs.node import D_LOOKED, D_VOLATILE, Dentry, File, Inode, Mount
from qkernel.linux.errno import (EBADF, EFAULT, ELOOP, ENAMETOOLONG, ENOENT, ENOMEM, ENOTDIR,
                                 EINVAL)
from qkernel.linux.fcntl import AT_FDCWD, PATH_MAX
from qkernel.linux.stat import S_IFDIR, S_IFLNK, S_IFMT
from qkernel.mm.uaccess import strncpy_from_user
from qkernel.task.task import Task

WALK_A: Final = 0
WALK_B: Final = 4096
LINK_BUF: Final = 8192
FS_BUF: Final = 12288          # a filesystem's scratch during a lookup or readlink (PATH_MAX)
NAME_MAX: Final = 255
MAXSYMLINKS: Final = 40

LOOKUP_FOLLOW: Final = 1       # follow a symlink in the last component
LOOKUP_DIRECTORY: Final = 2    # the result must be a directory
LOOKUP_PARENT: Final = 4       # stop at the last component's directory (Nameidata.last)


@struct
class Path:
    mnt: ptr[Mount]
    d: ptr[Dentry]
    inode: ptr[Inode]     # file_path(): the File's own inode (its name may be gone since); NULL
                          # for a walk's result: d.inode (path_inode() gives the right one)


@struct
class Nameidata:
    """A walk's result: `path`; with LOOKUP_PARENT the directory, and the last component's name
    (in scratch, not NUL-terminated; empty for "/") and whether a slash followed it."""
    path: Path
    last: ptr[u8]
    last_len: u64
    trailing: bool


# the sandbox's root (set by vfs.mount_root)
root: Path = Path()


def is_dir(i: ptr[Inode]) -> bool:
    return i != NULL and u64(i.st.st_mode) & S_IFMT == S_IFDIR


def gone_or_notdir(d: ptr[Dentry]) -> i64:
    """Walking on from d, which is no directory: -ENOENT when its name is gone (a removed
    directory that is still someone's cwd or dirfd), else -ENOTDIR."""
    return -ENOENT if d.inode == NULL else -ENOTDIR


def is_lnk(i: ptr[Inode]) -> bool:
    return i != NULL and u64(i.st.st_mode) & S_IFMT == S_IFLNK


def user_path(t: ptr[Task], path: u64) -> i64:
    """Copies a user path into scratch WALK_A: its length, or -ENAMETOOLONG / -EFAULT /
    -ENOENT (an empty path)."""
    return copy_path(t.scratch + WALK_A, path)


def copy_path(dst: ptr[u8], path: u64) -> i64:
    """A user path into dst (PATH_MAX bytes), as user_path."""
    n = strncpy_from_user(dst, path, PATH_MAX)
    if n == -1:
        return -ENAMETOOLONG
    if n < 0:
        return -EFAULT
    if n == 0:
        return -ENOENT
    return n


def cwd(t: ptr[Task], out: ptr[Path]) -> None:
    p = t.process
    out.mnt = cast(ptr[Mount], p.cwd_mnt)
    out.d = cast(ptr[Dentry], p.cwd_dentry)


def file_path(f: ptr[File], out: ptr[Path]) -> bool:
    """The path a File was opened at (False for anonymous files: pipes, the console)."""
    if f.dentry == NULL:
        return False
    out.mnt = f.mnt
    out.d = f.dentry
    out.inode = f.inode
    return True


def path_inode(p: ptr[Path]) -> ptr[Inode]:
    """The inode a Path stands for: a File's own (file_path), else its dentry's."""
    if p.inode != NULL:
        return p.inode
    return p.d.inode


def start(t: ptr[Task], dirfd: u64, out: ptr[Path]) -> i64:
    """Where a relative path starts: the cwd for AT_FDCWD, else dirfd's directory."""
    dirfd = u64(i64(i32(dirfd)))   # an int: AT_FDCWD arrives as 0xffffff9c too
    if dirfd == AT_FDCWD:
        cwd(t, out)
        return 0
    f = fdtable.get(t.process, dirfd)
    if f == NULL:
        return -EBADF
    if not file_path(f, out) or not is_dir(path_inode(out)):
        return -ENOTDIR
    return 0


def same(a: ptr[Path], b: ptr[Path]) -> bool:
    return a.mnt == b.mnt and a.d == b.d


def up(cur: ptr[Path]) -> None:
    """"..": the parent directory, across mount roots; the sandbox root stays where it is."""
    if same(cur, addr_of(root)):
        return
    while cur.d == cur.mnt.root and cur.mnt.parent != NULL:
        cur.d = cur.mnt.mountpoint
        cur.mnt = cur.mnt.parent
        if same(cur, addr_of(root)):
            return
    cur.d = cur.d.parent


def down(cur: ptr[Path]) -> None:
    """A dentry with mounts on it is the topmost mount's root."""
    while cur.d.mounted != NULL:
        cur.mnt = cur.d.mounted
        cur.d = cur.mnt.root


def lookup_one(t: ptr[Task], dir: ptr[Path], name: ptr[u8], n: u64, out: ptr[ptr[Dentry]]) -> i64:
    """The dentry of `name` in directory `dir` (negative when absent): cached, else asked of
    the directory's filesystem once and cached. 0 or -errno."""
    d = dcache.lookup(dir.d, name, n)
    if d == NULL:
        d = dcache.child(dir.d, dir.mnt, name, n)
        if d == NULL:
            return -ENOMEM
    if d.flags & D_LOOKED == 0 or d.flags & D_VOLATILE != 0:
        di = dir.d.inode
        if di.iops == NULL or di.iops.lookup == NULL:
            return -ENOTDIR
        r = di.iops.lookup(t, di, d)
        if r < 0:
            return r
        d.flags |= D_LOOKED
    out[0] = d
    return 0


def read_link(t: ptr[Task], i: ptr[Inode], buf: ptr[u8]) -> i64:
    """A symlink's target into buf (PATH_MAX bytes): its length or -errno."""
    if i.iops == NULL or i.iops.readlink == NULL:
        return -EINVAL
    return i.iops.readlink(t, i, buf, PATH_MAX)


def walk(t: ptr[Task], begin: ptr[Path], path: ptr[u8], n: u64, flags: u64, nd: ptr[Nameidata]) -> i64:
    """Resolves `path` (n bytes in scratch WALK_A) from `begin` (used when it is relative):
    0 and nd filled, or -errno."""
    if n == 0:
        return -ENOENT
    if n >= PATH_MAX:
        return -ENAMETOOLONG
    p = path
    cur: Path = Path()
    cur.mnt = begin.mnt
    cur.d = begin.d
    links: u64 = 0
    i: u64 = 0
    trail = False
    t.walk_file = 0
    if p[0] == ord(b"/"):
        cur.mnt = root.mnt
        cur.d = root.d
    while True:
        while i < n and p[i] == ord(b"/"):
            i += 1
        if i == n:
            break
        s = i
        while i < n and p[i] != ord(b"/"):
            i += 1
        ln = i - s
        if ln > NAME_MAX:
            return -ENAMETOOLONG
        j = i
        while j < n and p[j] == ord(b"/"):
            j += 1
        last = j == n
        trail = i < n
        if last and flags & LOOKUP_PARENT != 0:
            if not is_dir(cur.d.inode):
                return gone_or_notdir(cur.d)
            nd.path.mnt = cur.mnt
            nd.path.d = cur.d
            nd.path.inode = NULL
            nd.last = p + s
            nd.last_len = ln
            nd.trailing = trail
            return 0
        if not is_dir(cur.d.inode):
            return gone_or_notdir(cur.d)
        if ln == 1 and p[s] == ord(b"."):
            continue
        if ln == 2 and p[s] == ord(b".") and p[s + 1] == ord(b"."):
            up(addr_of(cur))
            continue
        d: ptr[Dentry] = NULL
        r = lookup_one(t, addr_of(cur), p + s, ln, addr_of(d))
        if r < 0:
            return r
        if d.inode == NULL:
            return -ENOENT
        if is_lnk(d.inode) and (not last or trail or flags & LOOKUP_FOLLOW != 0):
            links += 1
            if links > MAXSYMLINKS:
                return -ELOOP
            if d.inode.iops != NULL and d.inode.iops.get_file != NULL:
                fv = d.inode.iops.get_file(t, d.inode)
                if fv != 0:
                    # a magic link: the walk goes on from the file's own path (Linux's
                    # nd_jump_link), or, for a file with none that is still there (a pipe, the
                    # console, an unlinked file), ends on it: t.walk_file, the link itself
                    # standing in nd.path (its inode the file's: path_inode)
                    mf = cast(ptr[File], fv)
                    fp: Path = Path()
                    if file_path(mf, addr_of(fp)) and fp.d.inode != NULL:
                        cur.mnt = fp.mnt
                        cur.d = fp.d
                        continue
                    if not last or trail:
                        return -ENOTDIR
                    t.walk_file = fv
                    nd.path.mnt = cur.mnt
                    nd.path.d = d
                    nd.path.inode = mf.inode
                    return 0
            link = t.scratch + LINK_BUF
            k = read_link(t, d.inode, link)
            if k < 0:
                return k
            if k == 0:
                return -ENOENT
            rest = n - i
            if u64(k) + rest >= PATH_MAX:
                return -ENAMETOOLONG
            other = t.scratch + WALK_B if p == t.scratch + WALK_A else t.scratch + WALK_A
            memcpy(other, link, u64(k))
            memcpy(other + u64(k), p + i, rest)   # the rest keeps its leading slash
            p = other
            n = u64(k) + rest
            i = 0
            if link[0] == ord(b"/"):
                cur.mnt = root.mnt
                cur.d = root.d
            continue
        cur.d = d
        down(addr_of(cur))
    if (trail or flags & LOOKUP_DIRECTORY != 0) and not is_dir(cur.d.inode):
        return -ENOTDIR
    if flags & LOOKUP_PARENT != 0:
        # the path named a directory itself ("/", "a/.."): no last component
        nd.last = p
        nd.last_len = 0
        nd.trailing = trail
    nd.path.mnt = cur.mnt
    nd.path.d = cur.d
    nd.path.inode = NULL
    return 0


def walk_user(t: ptr[Task], dirfd: u64, upath: u64, flags: u64, nd: ptr[Nameidata]) -> i64:
    """A user path from dirfd (AT_FDCWD: the cwd), resolved with `flags`."""
    n = user_path(t, upath)
    if n < 0:
        return n
    b: Path = Path()
    if t.scratch[WALK_A] != ord(b"/"):
        r = start(t, dirfd, addr_of(b))
        if r < 0:
            return r
    return walk(t, addr_of(b), t.scratch + WALK_A, u64(n), flags, nd)


def d_path(p: ptr[Path], buf: ptr[u8], size: u64) -> i64:
    """The absolute path of p from the sandbox root, NUL-terminated in buf: its length
    (without the NUL) or -ENAMETOOLONG."""
    cur: Path = Path()
    cur.mnt = p.mnt
    cur.d = p.d
    pos = size - 1
    buf[pos] = 0
    while not same(addr_of(cur), addr_of(root)):
        if cur.d == cur.mnt.root:
            if cur.mnt.parent == NULL:
                break
            cur.d = cur.mnt.mountpoint
            cur.mnt = cur.mnt.parent
            continue
        ln = cur.d.name_len
        if pos < ln + 1:
            return -ENAMETOOLONG
        pos -= ln
        memcpy(buf + pos, addr_of(cur.d.name[0]), ln)
        pos -= 1
        buf[pos] = ord(b"/")
        cur.d = cur.d.parent
    if pos == size - 1:
        pos -= 1
        buf[pos] = ord(b"/")
    length = size - 1 - pos
    for k in range(length + 1):
        buf[k] = buf[pos + k]
    return i64(length)
