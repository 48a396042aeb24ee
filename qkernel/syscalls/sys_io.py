"""Reading and writing open files: read, write, readv, writev, pread64, pwrite64, preadv,
pwritev, preadv2, pwritev2, sendfile, copy_file_range, splice, tee, lseek, ioctl, fstat,
getdents64. Each
handler finds the File in the descriptor table, checks the access mode and delegates to the file
kind's ops table (qkernel/fs/node.py FileOps; sendfile and copy_file_range through
qkernel/fs/xfer.py); a NULL operation gives the Linux error for it.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, ptr, sizeof, u8, u32, u64
from qkernel.fs import fdtable, pipe, xfer
from qkernel.fs.node import File
from qkernel.linux.errno import EBADF, EFAULT, EFBIG, EINVAL, EISDIR, ENOTDIR, ENOTTY, EOPNOTSUPP, EOVERFLOW, ESPIPE
from qkernel.linux.fcntl import (O_ACCMODE, O_APPEND, O_ASYNC, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, RWF_APPEND,
                                 RWF_ATOMIC, RWF_DONTCACHE, RWF_NOAPPEND, RWF_NOWAIT, RWF_SUPPORTED,
                                 SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK)
from qkernel.linux.tty import FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD
from qkernel.linux.stat import S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, Stat
from qkernel.linux.uio import IOV_MAX, Iovec
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

IOV_CHUNK: Final = 32  # iovecs copied in at a time (on the kernel stack)
LOFF_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF


def readable(t: ptr[Task], fd: u64) -> ptr[File]:
    """The File of fd when open for reading, else NULL (-EBADF for the caller)."""
    f = fdtable.get(t.process, fd)
    if f == NULL or f.flags & O_PATH != 0 or f.flags & O_ACCMODE == O_WRONLY:
        return NULL
    return f


def writable(t: ptr[Task], fd: u64) -> ptr[File]:
    f = fdtable.get(t.process, fd)
    if f == NULL or f.flags & O_PATH != 0 or f.flags & O_ACCMODE == O_RDONLY:
        return NULL
    return f


def is_dir(f: ptr[File]) -> bool:
    return f.inode != NULL and f.inode.st.st_mode & S_IFMT == S_IFDIR


def file_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.ops.read == NULL:
        return -EISDIR if is_dir(f) else -EINVAL
    return f.ops.read(t, f, buf, n, pos)


def file_write(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if f.ops.write == NULL:
        return -EBADF if not is_dir(f) else -EISDIR
    return f.ops.write(t, f, buf, n, pos)


def sys_read(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = readable(t, a.a0)
    if f == NULL:
        return -EBADF
    return file_read(t, f, a.a1, a.a2, addr_of(f.pos))


def sys_write(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = writable(t, a.a0)
    if f == NULL:
        return -EBADF
    return file_write(t, f, a.a1, a.a2, addr_of(f.pos))


def positional(t: ptr[Task], a: ptr[SyscallArgs], write: bool) -> i64:
    """pread64/pwrite64: at offset a3, the File's own offset untouched; -ESPIPE where there
    are no offsets (pipes, the console)."""
    f = writable(t, a.a0) if write else readable(t, a.a0)
    if f == NULL:
        return -EBADF
    if f.ops.llseek == NULL:
        return -ESPIPE
    if a.a3 > LOFF_MAX:
        return -EINVAL
    pos = a.a3
    if write:
        return file_write(t, f, a.a1, a.a2, addr_of(pos))
    return file_read(t, f, a.a1, a.a2, addr_of(pos))


def sys_pread64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return positional(t, a, False)


def sys_pwrite64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return positional(t, a, True)


def vec_io(t: ptr[Task], f: ptr[File], vec: u64, count: u64, write: bool, pos: ptr[u64]) -> i64:
    """readv/writev and the positional forms: the iovecs in order at pos[0] (the File's offset
    or a local one), stopping at the first short transfer."""
    if count > IOV_MAX:
        return -EINVAL
    iov: array[Iovec, 32] = array[Iovec, 32]()
    total: u64 = 0
    base: u64 = 0
    while base < count:
        n = count - base
        if n > IOV_CHUNK:
            n = IOV_CHUNK
        if copy_from_user(cast(ptr[u8], addr_of(iov[0])), vec + base * sizeof(Iovec), n * sizeof(Iovec)) != 0:
            return i64(total) if total > 0 else -EFAULT
        for i in range(n):
            length = iov[i].iov_len
            if length == 0:
                continue
            r: i64 = 0
            if write:
                r = file_write(t, f, iov[i].iov_base, length, pos)
            else:
                r = file_read(t, f, iov[i].iov_base, length, pos)
            if r < 0:
                return i64(total) if total > 0 else r
            total += u64(r)
            if u64(r) < length:
                return i64(total)
        base += n
    return i64(total)


def _iovec(t: ptr[Task], fd: u64, vec: u64, count: u64, write: bool) -> i64:
    f = writable(t, fd) if write else readable(t, fd)
    if f == NULL:
        return -EBADF
    return vec_io(t, f, vec, count, write, addr_of(f.pos))


def sys_writev(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return _iovec(t, a.a0, a.a1, a.a2, True)


def sys_readv(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return _iovec(t, a.a0, a.a1, a.a2, False)


def kind(f: ptr[File]) -> u64:
    return 0 if f.inode == NULL else u64(f.inode.st.st_mode) & S_IFMT


def rwf_check(f: ptr[File], flags: u64, write: bool) -> i64:
    """preadv2/pwritev2 flags as Linux's kiocb_set_rw_flags takes them for these file kinds:
    RWF_HIPRI, RWF_DSYNC and RWF_SYNC change nothing here (no device queue, nothing to flush);
    RWF_NOWAIT only on pipes (the kinds with FMODE_NOWAIT; tmpfs files answer -EOPNOTSUPP as
    on Linux); RWF_ATOMIC and RWF_DONTCACHE are not offered by tmpfs; unknown bits: -EOPNOTSUPP."""
    if flags & ~u64(RWF_SUPPORTED) != 0 or flags & RWF_DONTCACHE != 0:
        return -EOPNOTSUPP
    if flags & RWF_NOWAIT != 0 and kind(f) != S_IFIFO:
        return -EOPNOTSUPP
    if flags & RWF_ATOMIC != 0:
        return -EOPNOTSUPP
    return 0


def vec_io2(t: ptr[Task], f: ptr[File], vec: u64, count: u64, write: bool, pos: ptr[u64],
            flags: u64) -> i64:
    """vec_io with RWF_* flags: NOWAIT as O_NONBLOCK for the call, APPEND at the end of a
    regular file, NOAPPEND overriding O_APPEND for the call."""
    r = rwf_check(f, flags, write)
    if r < 0:
        return r
    saved = f.flags
    if flags & RWF_NOWAIT != 0:
        f.flags |= O_NONBLOCK
    if write and flags & RWF_NOAPPEND != 0:
        f.flags &= ~u64(O_APPEND)
    if write and flags & RWF_APPEND != 0:
        if kind(f) == S_IFREG:
            pos[0] = u64(f.inode.st.st_size)
    r = vec_io(t, f, vec, count, write, pos)
    f.flags = (f.flags & ~u64(O_NONBLOCK | O_APPEND)) | (saved & (O_NONBLOCK | O_APPEND))
    return r


def vec_at(t: ptr[Task], a: ptr[SyscallArgs], write: bool, v2: bool) -> i64:
    """preadv/pwritev(fd, iov, n, pos_l, pos_h) and the *2 forms (flags in a5; offset -1: the
    File's own offset, as readv/writev). On x86-64 the offset is pos_l whole."""
    off = i64(a.a3)
    flags: u64 = a.a5 if v2 else 0
    if v2 and off == -1:
        f0 = writable(t, a.a0) if write else readable(t, a.a0)
        if f0 == NULL:
            return -EBADF
        return vec_io2(t, f0, a.a1, a.a2, write, addr_of(f0.pos), flags)
    if off < 0:
        return -EINVAL
    f = writable(t, a.a0) if write else readable(t, a.a0)
    if f == NULL:
        return -EBADF
    if f.ops.llseek == NULL:
        return -ESPIPE
    pos = u64(off)
    return vec_io2(t, f, a.a1, a.a2, write, addr_of(pos), flags)


def sys_preadv(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return vec_at(t, a, False, False)


def sys_pwritev(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return vec_at(t, a, True, False)


def sys_preadv2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return vec_at(t, a, False, True)


def sys_pwritev2(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return vec_at(t, a, True, True)


def read_offset(uptr: u64, out: ptr[u64]) -> i64:
    """A loff_t from user memory (sendfile's, copy_file_range's offset pointers)."""
    return copy_from_user(cast(ptr[u8], out), uptr, 8)


def put_offset(uptr: u64, pos: u64, f: ptr[File]) -> i64:
    """The position a transfer reached: back to the user's offset pointer when it gave one,
    else f's own offset. 0 or -EFAULT."""
    if uptr == 0:
        f.pos = pos
        return 0
    if copy_to_user(uptr, cast(ptr[u8], addr_of(pos)), 8) != 0:
        return -EFAULT
    return 0


def sys_sendfile(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """sendfile(out_fd, in_fd, offset, count): in_fd a file with data to read (not a pipe or
    directory: -EINVAL; with an offset pointer it must have offsets: -ESPIPE), out_fd anything
    open for writing but O_APPEND (-EINVAL); from *offset (updated, the file offset untouched)
    or from the file offset."""
    off: u64 = 0
    if a.a2 != 0 and read_offset(a.a2, addr_of(off)) != 0:
        return -EFAULT
    fin = readable(t, a.a1)
    if fin == NULL:
        return -EBADF
    pos = fin.pos
    if a.a2 != 0:
        if fin.ops.llseek == NULL:
            return -ESPIPE
        pos = off
    count = a.a3
    if i64(pos) < 0 or i64(count) < 0:
        return -EINVAL
    if count > xfer.MAX_RW_COUNT:
        count = xfer.MAX_RW_COUNT
    fout = writable(t, a.a0)
    if fout == NULL:
        return -EBADF
    if pos + count > LOFF_MAX:
        if pos >= LOFF_MAX:
            return -EOVERFLOW
        count = LOFF_MAX - pos
    k = kind(fin)
    if fin.ops.read == NULL or k == S_IFDIR or k == S_IFIFO:
        return -EINVAL
    if kind(fout) != S_IFIFO and fout.flags & O_APPEND != 0:
        return -EINVAL
    r: i64 = 0
    if count > 0:
        r = xfer.transfer(t, fin, addr_of(pos), fout, addr_of(fout.pos), count)
    if r >= 0 and put_offset(a.a2, pos, fin) != 0:
        return -EFAULT
    return r


def sys_copy_file_range(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) between regular files (any
    two: the copy goes through the kernel, so no -EXDEV), with Linux's checks: flags 0, no
    directories (-EISDIR) or other kinds (-EINVAL), fd_in readable and fd_out writable and not
    O_APPEND (-EBADF), the copy shortened to fd_in's end, overlapping ranges of one file -EINVAL."""
    if a.a5 != 0:
        return -EINVAL
    fin = fdtable.get(t.process, a.a0)
    fout = fdtable.get(t.process, a.a2)
    if fin == NULL or fout == NULL or fin.flags & O_PATH != 0 or fout.flags & O_PATH != 0:
        return -EBADF
    pin = fin.pos
    pout = fout.pos
    if a.a1 != 0 and read_offset(a.a1, addr_of(pin)) != 0:
        return -EFAULT
    if a.a3 != 0 and read_offset(a.a3, addr_of(pout)) != 0:
        return -EFAULT
    if kind(fin) == S_IFDIR or kind(fout) == S_IFDIR:
        return -EISDIR
    if kind(fin) != S_IFREG or kind(fout) != S_IFREG:
        return -EINVAL
    if (fin.flags & O_ACCMODE == O_WRONLY or fout.flags & O_ACCMODE == O_RDONLY
            or fout.flags & O_APPEND != 0):
        return -EBADF
    count = a.a4
    if i64(pin) < 0 or i64(pout) < 0 or i64(count) < 0:
        return -EINVAL
    if pin + count > LOFF_MAX or pout + count > LOFF_MAX:
        return -EOVERFLOW
    size = u64(fin.inode.st.st_size)
    if pin >= size:
        count = 0
    elif count > size - pin:
        count = size - pin
    if count > xfer.MAX_RW_COUNT:
        count = xfer.MAX_RW_COUNT
    if pout + count > LOFF_MAX:
        return -EFBIG
    if fin.inode == fout.inode and pout + count > pin and pout < pin + count:
        return -EINVAL
    if count == 0:
        return 0
    r = xfer.transfer(t, fin, addr_of(pin), fout, addr_of(pout), count)
    if r > 0 and (put_offset(a.a1, pin, fin) != 0 or put_offset(a.a3, pout, fout) != 0):
        return -EFAULT
    return r


SPLICE_FLAGS: Final = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT


def sys_splice(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """splice(fd_in, off_in, fd_out, off_out, len, flags), as do_splice: one end a pipe
    (-EINVAL otherwise, and for one pipe at both ends), no offset for a pipe end (-ESPIPE) nor
    for a file without offsets, fd_in readable and fd_out writable (-EBADF), an O_APPEND file
    output -EINVAL; SPLICE_F_NONBLOCK (or O_NONBLOCK on the pipe) makes the pipe's waits
    -EAGAIN. From *off (updated) or the file offset."""
    if a.a5 & ~u64(SPLICE_FLAGS) != 0:
        return -EINVAL
    fin = readable(t, a.a0)
    fout = writable(t, a.a2)
    if fin == NULL or fout == NULL:
        return -EBADF
    count = a.a4
    if count > xfer.MAX_RW_COUNT:
        count = xfer.MAX_RW_COUNT
    nonblock = a.a5 & SPLICE_F_NONBLOCK != 0
    pin = pipe.is_pipe(fin)
    pout = pipe.is_pipe(fout)
    if (pin and a.a1 != 0) or (pout and a.a3 != 0):
        return -ESPIPE
    if pin and pout:
        if fin.inode == fout.inode:
            return -EINVAL
        if count == 0:
            return 0
        unused: u64 = 0
        return xfer.splice_from_pipe(t, fin, fout, addr_of(unused),
                                     count, nonblock or (fin.flags | fout.flags) & O_NONBLOCK != 0)
    if not pin and not pout:
        return -EINVAL
    other = fout if pin else fin
    off_ptr = a.a3 if pin else a.a1
    pos = other.pos
    if off_ptr != 0:
        if other.ops.llseek == NULL:
            return -ESPIPE
        if read_offset(off_ptr, addr_of(pos)) != 0:
            return -EFAULT
        if i64(pos) < 0:
            return -EINVAL
    if pin and other.flags & O_APPEND != 0:
        return -EINVAL
    k = kind(other)
    if k == S_IFDIR or (not pin and other.ops.read == NULL):
        return -EINVAL
    if count == 0:
        return 0
    r: i64 = 0
    if pin:
        r = xfer.splice_from_pipe(t, fin, fout, addr_of(pos), count, nonblock or fin.flags & O_NONBLOCK != 0)
    else:
        r = xfer.splice_to_pipe(t, fin, addr_of(pos), fout, count, nonblock or fout.flags & O_NONBLOCK != 0)
    if r > 0 and put_offset(off_ptr, pos, other) != 0:
        return -EFAULT
    return r


def sys_tee(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """tee(fd_in, fd_out, len, flags): both pipes, not the same one (-EINVAL), fd_in's read end
    and fd_out's write end (-EBADF); the bytes stay in fd_in."""
    if a.a3 & ~u64(SPLICE_FLAGS) != 0:
        return -EINVAL
    fin = readable(t, a.a0)
    fout = writable(t, a.a1)
    if fin == NULL or fout == NULL:
        return -EBADF
    if not pipe.is_pipe(fin) or not pipe.is_pipe(fout) or fin.inode == fout.inode:
        return -EINVAL
    count = a.a2
    if count > xfer.MAX_RW_COUNT:
        count = xfer.MAX_RW_COUNT
    if count == 0:
        return 0
    nonblock = a.a3 & SPLICE_F_NONBLOCK != 0 or (fin.flags | fout.flags) & O_NONBLOCK != 0
    return xfer.tee(t, fin, fout, count, nonblock)


def sys_lseek(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL:
        return -EBADF
    if f.ops.llseek == NULL:
        return -ESPIPE
    return f.ops.llseek(f, i64(a.a1), a.a2)


def flag_ioctl(f: ptr[File], flag: u64, arg: u64) -> i64:
    """FIONBIO/FIOASYNC: an int at arg, nonzero sets the status flag, zero clears it."""
    on: u32 = 0
    if copy_from_user(cast(ptr[u8], addr_of(on)), arg, 4) != 0:
        return -EFAULT
    f.flags = f.flags | flag if on != 0 else f.flags & ~flag
    return 0


def sys_ioctl(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """The requests every file has (Linux's do_vfs_ioctl: FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC;
    FIONREAD of a regular file: the bytes after the offset), then the file's own ops."""
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    req = a.a1 & 0xFFFF_FFFF
    if req == FIOCLEX or req == FIONCLEX:
        fdtable.set_cloexec(t.process, a.a0, req == FIOCLEX)
        return 0
    if req == FIONBIO:
        return flag_ioctl(f, O_NONBLOCK, a.a2)
    if req == FIOASYNC:
        return flag_ioctl(f, O_ASYNC, a.a2)       # kept; no SIGIO is sent
    if req == FIONREAD and u64(f.inode.st.st_mode) & S_IFMT == S_IFREG:
        size = u64(f.inode.st.st_size)
        left: u32 = u32((size - f.pos) & 0xFFFF_FFFF)     # an int, negative past the end (Linux's)
        return copy_to_user(a.a2, cast(ptr[u8], addr_of(left)), 4)
    if f.ops.ioctl == NULL:
        return -ENOTTY
    return f.ops.ioctl(t, f, req, a.a2)


def stat_file(f: ptr[File], st: ptr[Stat]) -> i64:
    if f.ops.fstat != NULL:
        return f.ops.fstat(f, st)
    st[0] = f.inode.st
    return 0


def fstat_to_user(t: ptr[Task], fd: u64, statbuf: u64) -> i64:
    f = fdtable.get(t.process, fd)
    if f == NULL:
        return -EBADF
    if not range_ok(statbuf, sizeof(Stat), True):
        return -EFAULT
    st: Stat = Stat()
    r = stat_file(f, addr_of(st))
    if r < 0:
        return r
    return copy_to_user(statbuf, cast(ptr[u8], addr_of(st)), sizeof(Stat))


def sys_fstat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return fstat_to_user(t, a.a0, a.a1)


def sys_getdents64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    f = fdtable.get(t.process, a.a0)
    if f == NULL or f.flags & O_PATH != 0:
        return -EBADF
    if f.ops.getdents == NULL:
        return -ENOTDIR
    return f.ops.getdents(t, f, a.a1, a.a2)
