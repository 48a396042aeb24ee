"""/dev: an in-memory directory (a tmpfs mounted there, so the host's /dev is never seen) with
the devices every program expects, each a file kind of its own: null, zero, full, random and
urandom (character devices 1:3, 1:5, 1:7, 1:8 and 1:9, as Linux numbers them), shm/ for
POSIX shared memory, and the links fd -> /proc/self/fd and stdin/stdout/stderr ->
/proc/self/fd/0..2 (udev's). Not yet: the console's /dev/tty.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.dialect import NULL, Final, addr_of, i64, memset, ptr, u8, u64
from qkernel.fs import dcache, memfs
from qkernel.fs.node import Dentry, File, FileOps, Mount, map_zero
from qkernel.linux.errno import EFAULT, ENOMEM, ENOSPC
from qkernel.linux.stat import S_IFCHR, S_IFDIR
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.task.task import SCRATCH_SIZE, Task

RANDOM_MAX: Final = 1 << 20     # bytes one read of /dev/urandom gives at most (host: MAX_RANDOM)


def zeros(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if not range_ok(buf, n, True):
        return -EFAULT
    memset(t.scratch, 0, SCRATCH_SIZE)
    done: u64 = 0
    while done < n:
        chunk = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        if copy_to_user(buf + done, t.scratch, chunk) != 0:
            return i64(done) if done > 0 else -EFAULT
        done += chunk
    return i64(done)


def eof(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return 0


def sink(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return i64(n)


def no_space(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    return -ENOSPC


def random_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if n > RANDOM_MAX:
        n = RANDOM_MAX
    if not range_ok(buf, n, True):
        return -EFAULT
    done: u64 = 0
    while done < n:
        chunk = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        r = qcall.random_bytes(t.scratch, chunk)
        if r < 0:
            return i64(done) if done > 0 else r
        if copy_to_user(buf + done, t.scratch, chunk) != 0:
            return i64(done) if done > 0 else -EFAULT
        done += chunk
    return i64(done)


def seek_zero(f: ptr[File], offset: i64, whence: u64) -> i64:
    f.pos = 0
    return 0


NULL_OPS: FileOps = FileOps(read=eof, write=sink, llseek=seek_zero)
ZERO_OPS: FileOps = FileOps(read=zeros, write=sink, llseek=seek_zero, mmap=map_zero)
FULL_OPS: FileOps = FileOps(read=zeros, write=no_space, llseek=seek_zero)
RANDOM_OPS: FileOps = FileOps(read=random_read, write=sink, llseek=seek_zero)


def device(t: ptr[Task], dir: ptr[Dentry], name: ptr[u8], minor: u64, ops: ptr[FileOps]) -> i64:
    """A character device 1:minor named `name` in dir, opened with `ops`."""
    n: u64 = 0
    while name[n] != 0:
        n += 1
    d = dcache.child(dir, dir.mnt, name, n)
    if d == NULL:
        return -ENOMEM
    i = memfs.new_upper(t, dir.mnt, S_IFCHR | 0o666)
    if i == NULL:
        return -ENOMEM
    i.fops = ops
    i.st.st_rdev = (1 << 8) | minor
    memfs.place(dir.inode, d, i)
    return 0


def link(t: ptr[Task], root: ptr[Dentry], m: ptr[Mount], name: ptr[u8], n: u64, target: ptr[u8],
         tn: u64) -> i64:
    """The symlink /dev/NAME -> target (fd, stdin, stdout, stderr point into /proc/self/fd)."""
    d = dcache.child(root, m, name, n)
    if d == NULL:
        return -ENOMEM
    return root.inode.iops.symlink(t, root.inode, d, target, tn)


def populate(t: ptr[Task], m: ptr[Mount]) -> i64:
    """Fills m (a fresh tmpfs) as /dev."""
    root = m.root
    root.inode.st.st_mode = S_IFDIR | 0o755
    r = device(t, root, b"null", 3, addr_of(NULL_OPS))
    if r == 0:
        r = device(t, root, b"zero", 5, addr_of(ZERO_OPS))
    if r == 0:
        r = device(t, root, b"full", 7, addr_of(FULL_OPS))
    if r == 0:
        r = device(t, root, b"random", 8, addr_of(RANDOM_OPS))
    if r == 0:
        r = device(t, root, b"urandom", 9, addr_of(RANDOM_OPS))
    if r == 0:
        r = link(t, root, m, b"fd", 2, b"/proc/self/fd", 13)
    if r == 0:
        r = link(t, root, m, b"stdin", 5, b"/proc/self/fd/0", 15)
    if r == 0:
        r = link(t, root, m, b"stdout", 6, b"/proc/self/fd/1", 15)
    if r == 0:
        r = link(t, root, m, b"stderr", 6, b"/proc/self/fd/2", 15)
    if r < 0:
        return r
    d = dcache.child(root, m, b"shm", 3)
    if d == NULL:
        return -ENOMEM
    return root.inode.iops.mkdir(t, root.inode, d, 0o1777)
