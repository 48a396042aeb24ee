"""Directory listings and the writing calls of the sandbox's host trees: QCALL_GETDENTS and
QCALL_CREATE .. QCALL_SETATTR. TreeWrites is a part of HostFiles (qvisor/fs.py, whose module
docstring is the confinement contract; this is its part for writing and listing):

* Writing calls (CREATE, PWRITE, MKDIR, UNLINK, RENAME, SYMLINK, TRUNCATE, SETATTR) work only
  on a tree bound rw; every other tree, the root always, answers -EROFS. RENAME between two
  trees is -EXDEV (checked before -EROFS, as Linux checks the mounts).
* A writing call names its file by a directory handle of its tree and ONE component (no "/",
  not "", "." or "..": -EINVAL; more than NAME_MAX bytes: -ENAMETOOLONG; read like a guest path,
  so it ends at the first NUL). The host call is the *at() call relative to the directory's
  descriptor (openat, mkdirat, unlinkat, renameat, symlinkat), none of which follows a symlink
  at the name itself: a single component relative to a directory inside the tree cannot leave
  it, so nothing outside the tree is ever created, changed or removed. (A host process that
  moves a directory out of a bind while the guest holds a handle of it moves the guest's later
  writes there with it; the guest itself can only rename within one tree.)
* CREATE never follows a symlink at the name: it first tries O_CREAT|O_EXCL|O_NOFOLLOW; an
  existing name (no CREATE_EXCL: else -EEXIST) is opened as OPEN would open it: O_PATH|
  O_NOFOLLOW, checked to be a regular file (a symlink: -ELOOP, a directory: -EISDIR, anything
  else: -EACCES, never opened), then reopened O_RDWR (fs_host.reopen); CREATE_TRUNC truncates it
  only after those checks. No call creates a device, FIFO or socket (there is no mknod), and
  none makes a hard link.
* Modes are masked to 0o1777: setuid and setgid bits are never set on the host (for CREATE,
  MKDIR and SETATTR_MODE alike). A new file or directory gets exactly that mode (an fchmod
  after creating it): the guest kernel applies the guest's umask, the host's does not apply.
* SETATTR_OWNER is fchown(2) as the qvisor process: it works only where the host would let
  qvisor do it anyway (unprivileged: its own files, to groups it is in); errors pass through
  (-EPERM). An id of 0xFFFFFFFF (or -1) leaves it as it is. SETATTR_TIMES is futimens(2), a
  time of UTIME_OMIT_NS left as it is.
* SYMLINK stores the target as given (up to its first NUL, less than PATH_MAX bytes, "" is
  -ENOENT). Inside the sandbox it resolves inside its tree like every symlink; a host process
  that follows it resolves it on the host: binding a directory rw trusts host users of that
  directory not to follow the sandbox's symlinks blindly.
* Bounds: one PWRITE writes at most MAX_RW_COUNT bytes. PWRITE at large offsets and TRUNCATE
  grow files without a cap of qvisor's: the host filesystem's size limit and quota apply
  (-EFBIG, -ENOSPC, -EDQUOT pass through). A directory listing holds at most
  LISTING_MAX_ENTRIES entries and LISTING_MAX_BYTES of records (a larger directory: GETDENTS
  answers -EOVERFLOW, it is not listed partially), and all the handles' listings together at
  most LISTINGS_MAX_BYTES (-ENOMEM beyond: close other directory handles).

GETDENTS(handle, buf_pa, len, cookie) lists a directory handle's entries as linux_dirent64
records (qkernel.linux.uio.Dirent64, then the name and a NUL, each record padded to 8 bytes),
"." and ".." left out, sorted by name. The listing is taken (os.scandir of the handle's
descriptor) when cookie 0 is read, or when a cookie comes for a handle with no listing, and
kept with the handle; entry i's d_off is i + 1, the cookie of the next call. It is dropped at
the end (the call that answers 0) and when the handle is closed. Whole records only: -EINVAL
when `len` cannot hold the next one. The whole guest buffer is checked first (-EFAULT).
"""

from __future__ import annotations

import bisect
import errno
import os
import stat as st_
import struct
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qkernel import abi as K
from qkernel.dialect import layout
from qkernel.linux import uio

from .fs_host import (EAGAIN_RETRIES, MAX_RW_COUNT, REFUSED_FS, Handle, err, errno_result, fs_type,
                      futimens, guest_name, guest_path, reopen)
from .services.base import qcall

if TYPE_CHECKING:
    import threading

    from .fs_host import Tree
    from .memory import GuestMemory

MODE_MASK = 0o1777                   # permission bits and the sticky bit; never setuid/setgid
LISTING_MAX_ENTRIES = 1 << 20        # entries of one directory listing (-EOVERFLOW beyond)
LISTING_MAX_BYTES = 64 << 20         # bytes of records of one listing (-EOVERFLOW beyond)
LISTINGS_MAX_BYTES = 256 << 20       # all the handles' listings together (-ENOMEM beyond)
_ID_KEEP = (0xFFFF_FFFF, 2**64 - 1)  # chown's (uid_t) -1
_CREATE_FLAGS = K.CREATE_EXCL | K.CREATE_TRUNC

_DIRENT = layout(uio.Dirent64)
_HEAD = struct.Struct("<QqHB")       # d_ino, d_off, d_reclen, d_type
assert _HEAD.size == uio.DIRENT64_NAME and _DIRENT.fields["d_type"][0] == _HEAD.size - 1
_DT = {st_.S_IFCHR: uio.DT_CHR, st_.S_IFBLK: uio.DT_BLK, st_.S_IFIFO: uio.DT_FIFO,
       st_.S_IFSOCK: uio.DT_SOCK, st_.S_IFREG: uio.DT_REG, st_.S_IFDIR: uio.DT_DIR,
       st_.S_IFLNK: uio.DT_LNK}


@dataclass
class Listing:
    """A directory's entries, as the packed linux_dirent64 records GETDENTS copies out."""
    records: bytes
    offsets: array               # offsets[i]: where record i starts; offsets[count]: the end

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    @property
    def size(self) -> int:       # what it holds of host memory, near enough
        return len(self.records) + self.offsets.itemsize * len(self.offsets)


def _d_type(e: os.DirEntry) -> int:
    try:
        if e.is_symlink():
            return uio.DT_LNK
        if e.is_dir(follow_symlinks=False):
            return uio.DT_DIR
        if e.is_file(follow_symlinks=False):
            return uio.DT_REG
        return _DT.get(st_.S_IFMT(e.stat(follow_symlinks=False).st_mode), uio.DT_UNKNOWN)
    except OSError:              # gone meanwhile
        return uio.DT_UNKNOWN


def reclen(name: bytes) -> int:
    return (uio.DIRENT64_NAME + len(name) + 1 + 7) & ~7


def take_listing(fd: int) -> Listing:
    """The entries of the directory open at `fd`, sorted by name (OSError EOVERFLOW when there
    are more than LISTING_MAX_ENTRIES or their records exceed LISTING_MAX_BYTES)."""
    found: list[tuple[bytes, int, int]] = []
    total = 0
    with os.scandir(fd) as it:   # a dup of fd, rewound when closed
        for e in it:
            name = os.fsencode(e.name)
            total += reclen(name)
            if len(found) >= LISTING_MAX_ENTRIES or total > LISTING_MAX_BYTES:
                raise err(errno.EOVERFLOW)
            found.append((name, e.inode(), _d_type(e)))
    found.sort()
    out = bytearray(total)
    offsets = array("Q", [0]) * (len(found) + 1)
    pos = 0
    for i, (name, ino, dtype) in enumerate(found):
        n = reclen(name)
        _HEAD.pack_into(out, pos, ino & (2**64 - 1), i + 1, n, dtype)
        out[pos + uio.DIRENT64_NAME: pos + uio.DIRENT64_NAME + len(name)] = name  # NUL, padding: 0
        pos += n
        offsets[i + 1] = pos
    return Listing(bytes(out), offsets)


def _id(v: int) -> int:
    if v in _ID_KEEP:
        return -1
    if v > 0xFFFF_FFFE:
        raise err(errno.EINVAL)
    return v


def _time(v: int) -> int | None:
    if v == K.UTIME_OMIT_NS:
        return None
    return v - 2**64 if v >> 63 else v       # an i64 of nanoseconds


class TreeWrites:
    """GETDENTS and the writing calls of HostFiles (qvisor/fs.py), which provides the handle
    table, the trees and the lock used here."""

    memory: "GuestMemory | None"
    trees: "list[Tree]"
    _lock: "threading.RLock"
    _fds: "list[Handle | None]"
    _listing_bytes: int

    if TYPE_CHECKING:
        def _handle(self, handle: int) -> Handle: ...
        def _free_slot(self) -> int: ...

    # ---- listings
    def _drop_listing(self, h: Handle) -> None:
        if h.listing is not None:
            self._listing_bytes -= h.listing.size
            h.listing = None

    def _take_listing(self, h: Handle) -> Listing:
        self._drop_listing(h)
        listing = take_listing(h.fd)
        if self._listing_bytes + listing.size > LISTINGS_MAX_BYTES:
            raise err(errno.ENOMEM)
        self._listing_bytes += listing.size
        h.listing = listing
        return listing

    @qcall(K.QCALL_GETDENTS)
    @errno_result
    def q_getdents(self, handle: int, buf_pa: int, length: int, cookie: int) -> int:
        mem = self.memory
        with self._lock:
            h = self._handle(handle)
            mem.check(buf_pa, length)          # the whole range first, as access_ok
            if not h.is_dir:
                raise err(errno.ENOTDIR)
            listing = h.listing
            if cookie == 0 or listing is None:
                listing = self._take_listing(h)
            if cookie >= listing.count:
                self._drop_listing(h)
                return 0
            offsets = listing.offsets
            start = offsets[cookie]
            # the last record boundary within start + length
            end = offsets[bisect.bisect_right(offsets, start + length, lo=cookie) - 1]
            if end == start:
                raise err(errno.EINVAL)
            mem.write(buf_pa, memoryview(listing.records)[start:end])
            return end - start

    # ---- the writing calls
    def _rw(self, h: Handle) -> Handle:
        if not self.trees[h.tree].rw:
            raise err(errno.EROFS)
        return h

    def _dir(self, handle: int) -> Handle:
        """A directory handle of a rw tree (EBADF, ENOTDIR, EROFS)."""
        h = self._handle(handle)
        if not h.is_dir:
            raise err(errno.ENOTDIR)
        return self._rw(h)

    def _name(self, pa: int, length: int) -> bytes:
        return guest_name(self.memory, pa, length)

    @qcall(K.QCALL_CREATE)
    @errno_result
    def q_create(self, dir_handle: int, name_pa: int, name_len: int, flags: int, mode: int) -> int:
        with self._lock:
            d = self._dir(dir_handle)
            name = self._name(name_pa, name_len)
            if flags & ~_CREATE_FLAGS:
                raise err(errno.EINVAL)
            slot = self._free_slot()
            fd = _create(d.fd, name, flags, mode & MODE_MASK)
            self._fds[slot] = Handle(fd, d.tree, False, True)
            return slot

    @qcall(K.QCALL_PWRITE)
    @errno_result
    def q_pwrite(self, handle: int, buf_pa: int, length: int, offset: int) -> int:
        mem = self.memory
        with self._lock:
            h = self._rw(self._handle(handle))
            if not h.writable:
                raise err(errno.EBADF)             # as write(2) on a descriptor opened O_RDONLY
            mem.check(buf_pa, length)
            if offset >= 1 << 63:
                raise err(errno.EINVAL)
            n = min(length, MAX_RW_COUNT)
            with mem.view(buf_pa, n) as window:
                return os.pwritev(h.fd, [window], offset)

    @qcall(K.QCALL_MKDIR)
    @errno_result
    def q_mkdir(self, dir_handle: int, name_pa: int, name_len: int, mode: int) -> int:
        with self._lock:
            d = self._dir(dir_handle)
            name = self._name(name_pa, name_len)
            mode &= MODE_MASK
            os.mkdir(name, mode, dir_fd=d.fd)
            try:                                   # the exact mode, not the host's umask's
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d.fd)
            except OSError:                        # replaced already: it was made, with its mode
                return 0
            try:
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            return 0

    @qcall(K.QCALL_UNLINK)
    @errno_result
    def q_unlink(self, dir_handle: int, name_pa: int, name_len: int, is_dir: int) -> int:
        with self._lock:
            d = self._dir(dir_handle)
            name = self._name(name_pa, name_len)
            if is_dir not in (0, 1):
                raise err(errno.EINVAL)
            (os.rmdir if is_dir else os.unlink)(name, dir_fd=d.fd)
            return 0

    @qcall(K.QCALL_RENAME)
    @errno_result
    def q_rename(self, old_dir: int, old_pa: int, old_len: int, new_dir: int, new_pa: int, new_len: int) -> int:
        with self._lock:
            a, b = self._handle(old_dir), self._handle(new_dir)
            if not (a.is_dir and b.is_dir):
                raise err(errno.ENOTDIR)
            if a.tree != b.tree:
                raise err(errno.EXDEV)
            self._rw(a)
            old, new = self._name(old_pa, old_len), self._name(new_pa, new_len)
            os.rename(old, new, src_dir_fd=a.fd, dst_dir_fd=b.fd)
            return 0

    @qcall(K.QCALL_SYMLINK)
    @errno_result
    def q_symlink(self, dir_handle: int, name_pa: int, name_len: int, target_pa: int, target_len: int) -> int:
        with self._lock:
            d = self._dir(dir_handle)
            name = self._name(name_pa, name_len)
            target = guest_path(self.memory, target_pa, target_len)
            if not target:
                raise err(errno.ENOENT)
            os.symlink(target, name, dir_fd=d.fd)
            return 0

    @qcall(K.QCALL_TRUNCATE)
    @errno_result
    def q_truncate(self, handle: int, length: int) -> int:
        with self._lock:
            h = self._rw(self._handle(handle))
            if not h.writable or length >= 1 << 63:  # as ftruncate(2): EINVAL for both
                raise err(errno.EINVAL)
            os.ftruncate(h.fd, length)
            return 0

    @qcall(K.QCALL_SETATTR)
    @errno_result
    def q_setattr(self, handle: int, what: int, a: int, b: int) -> int:
        with self._lock:
            h = self._rw(self._handle(handle))
            if what == K.SETATTR_MODE:
                os.fchmod(h.fd, a & MODE_MASK)
            elif what == K.SETATTR_OWNER:
                os.fchown(h.fd, _id(a), _id(b))
            elif what == K.SETATTR_TIMES:
                futimens(h.fd, _time(a), _time(b))
            else:
                raise err(errno.EINVAL)
            return 0


_RDWR = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


def _create(dfd: int, name: bytes, flags: int, mode: int) -> int:
    """CREATE's host side: the new file's descriptor (O_RDWR). See the module docstring."""
    for _ in range(EAGAIN_RETRIES):
        try:
            fd = os.open(name, _RDWR | os.O_CREAT | os.O_EXCL, mode, dir_fd=dfd)
        except FileExistsError:
            if flags & K.CREATE_EXCL:
                raise
        else:
            try:
                os.fchmod(fd, mode)                # the exact mode, not the host's umask's
            except BaseException:
                os.close(fd)
                raise
            return fd
        try:                                       # an existing name: opened as OPEN would
            pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except FileNotFoundError:
            continue                               # removed meanwhile: create it
        try:
            s = os.fstat(pfd)
            if st_.S_ISLNK(s.st_mode):
                raise err(errno.ELOOP)
            if st_.S_ISDIR(s.st_mode):
                raise err(errno.EISDIR)
            if not st_.S_ISREG(s.st_mode) or fs_type(pfd) in REFUSED_FS:
                raise err(errno.EACCES)
            opened: Any = reopen(pfd, s, _RDWR, lambda f: os.open(name, f, dir_fd=dfd))
        finally:
            os.close(pfd)
        if opened is None:
            continue                               # replaced between the two opens
        if flags & K.CREATE_TRUNC:
            try:
                os.ftruncate(opened, 0)
            except BaseException:
                os.close(opened)
                raise
        return opened
    raise err(errno.EAGAIN)
