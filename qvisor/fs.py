"""The host side of the sandbox's file access: its host trees (the root and the binds), confined
path resolution, file handles, stat, readlink and the bind list (qcalls QCALL_OPEN ..
QCALL_READLINK, QCALL_HOST_MOUNT); directory listings and the writing calls of rw binds are
qvisor/fs_write.py's (a part of the same HostFiles service), the host primitives
qvisor/fs_host.py's.

Owns: one sandbox's host trees and the table of host file descriptors behind the guest's file
handles. Tree 0 is the root (a host directory, default "/", always read-only); trees 1..n are the
binds, (host_dir, guest_path, rw) each (`qvisor run --mount HOST:GUEST[:ro|rw]`), listed to the
kernel by QCALL_HOST_MOUNT (the kernel mounts them at guest_path; the host never combines trees).
HostFiles is a host service (qvisor/services): its @qcall methods are registered with the
QcallServer that is given it as `files` (no HostFiles: those qcalls answer -ENOSYS). The
console's tty ioctls and stdin are the Console service's (qvisor/services/console.py); HostFiles
only carries `stdin` to it (None: the sandbox's fd 0 was closed when qvisor started, and the
Console answers -EBADF for it).

Confinement contract (the guest is hostile; this module and fs_write.py are the security
boundary for files):

* Read-only except the binds given rw. Files of the root and of ro binds are only ever opened
  O_RDONLY (or O_PATH); no qcall writes, creates, renames, deletes or changes the attributes of
  a file there (-EROFS). In a rw bind the writing calls (fs_write.py) work on the bind's own
  files only, see there.
* Every path is resolved *inside its tree* by Linux itself: openat2(2) (Linux >= 5.6) against an
  O_PATH descriptor of the tree's top, held for the sandbox's lifetime, with RESOLVE_IN_ROOT |
  RESOLVE_NO_MAGICLINKS. Absolute guest paths start at the tree's top, `..` there stays there,
  symlinks (absolute or relative, in any component, up to Linux's 40) are resolved inside the
  tree, and /proc-style magic links (/proc/self/root, /proc/self/fd/N, ...) are never followed
  (-ELOOP). Linux re-checks each resolution against concurrent renames (-EAGAIN, which is
  retried a few times here). There is no fallback: if openat2 is unavailable (ENOSYS, or refused
  by a seccomp filter), HostFiles() raises HostFilesError and QVisor refuses to serve the root at
  all; it never falls back to an unconfined open or to a walk of its own. A tree index other
  than 0..n is -EINVAL.
* No side effects of opening: a path is first opened O_PATH (the file's driver is not involved),
  checked with fstat/fstatfs, and only regular files and directories are then reopened
  O_RDONLY|O_NONBLOCK|O_NOCTTY (O_RDWR for OPEN_WRITE: regular files of rw binds only, -EISDIR
  for a directory): through /proc/self/fd/N of the O_PATH descriptor, i.e. that very inode, or
  by the same path again where the host has no /proc (the reopen must find the same
  st_dev/st_ino, else it resolves again). Devices, FIFOs and sockets are never opened (OPEN:
  -EACCES; STAT describes them). Files on the host kernel's interface filesystems (procfs,
  sysfs, debugfs, tracefs, securityfs, cgroup, bpf, configfs, efivarfs, pstore) are refused with
  -EACCES by every qcall, so a root of "/" exposes neither the VMM's /proc/self/{mem,environ,...}
  nor readlink() of host paths; the guest kernel provides its own /proc and /sys. A tree whose
  top is on one of them is refused by HostFiles() (HostFilesError).
* STAT with nofollow and READLINK open the last component itself (O_PATH|O_NOFOLLOW gives a
  descriptor of a symlink), then fstat / readlinkat(fd, "") it: Linux resolves "", ".", ".."
  and trailing slashes exactly as lstat(2)/readlink(2) would, with no hand-written splitting.
* Guest paths: (path_pa, path_len) bytes in guest memory; at most PATH_MAX bytes are read, and
  the path ends at the first NUL, as a C string would (so "a\\0b" is "a"). A path of PATH_MAX
  (4096) bytes or more without a NUL is -ENAMETOOLONG, as Linux's getname(); "" is -ENOENT.
* Every guest address range is checked (GuestMemory.check raises GuestFault, which the
  QcallServer answers with -EFAULT) BEFORE any side effect: before a handle is allocated or a
  file opened, created or changed.
* Handles are indices into a table of HOST_FILES_MAX host descriptors (lowest free first,
  -EMFILE beyond), validated on every use (-EBADF); each remembers its tree (for -EROFS and
  -EXDEV), whether it is a directory and whether it was opened for writing. The table is locked
  for each operation, so a handle's descriptor can never be closed and reused under a
  concurrent operation. close_all() closes every descriptor, the trees' too; afterwards every
  file qcall answers -EBADF.
* Bounded host resources: HOST_FILES_MAX handles, directory listings capped (fs_write.py), one
  read or write at most MAX_RW_COUNT bytes.

Errors are Linux's own errno values from the host calls, passed through as -errno.
"""

from __future__ import annotations

import errno
import os
import stat as st_
import threading
from typing import Iterable

from qkernel import abi as K
from qkernel.dialect import layout

from .fs_host import (EAGAIN_RETRIES, MAX_RW_COUNT, NAME_MAX, PATH_MAX, REFUSED_FS, RESOLVE,
                      RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, Handle, Tree, err, errno_result, fs_type,
                      guest_path, openat2, reopen)
from .fs_write import TreeWrites
from .services.base import Service, qcall

__all__ = ["HostFiles", "HostFilesError", "Tree", "Handle", "normalise_guest_path", "pack_stat",
           "guest_path", "openat2", "fs_type", "PATH_MAX", "NAME_MAX", "MAX_RW_COUNT", "STAT_SIZE",
           "TERMIOS_SIZE", "WINSIZE_SIZE", "REFUSED_FS", "RESOLVE", "RESOLVE_IN_ROOT",
           "RESOLVE_NO_MAGICLINKS"]

TERMIOS_SIZE = 36                 # Linux x86-64 struct termios (what TCGETS copies out)
WINSIZE_SIZE = 8

_OPEN_FLAGS = K.OPEN_DIRECTORY | K.OPEN_NOFOLLOW | K.OPEN_WRITE
_STAT = layout(K.Stat)
STAT_SIZE = _STAT.size            # 144: Linux x86-64 struct stat


class HostFilesError(RuntimeError):
    """A sandbox tree cannot be served confined (no openat2, not a directory, a bad bind)."""


def normalise_guest_path(path: str) -> str:
    """A bind's guest path, absolute and normalised ("/a//b/./c/" is "/a/b/c"); ValueError for a
    relative path, one with "..", a NUL, or "/" itself."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"guest path {path!r} is not absolute")
    if "\0" in path:
        raise ValueError(f"guest path {path!r} has a NUL")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"guest path {path!r} has a '..' component")
    if not parts:
        raise ValueError(f"guest path {path!r} is the root itself (only directories below it can be bound)")
    if any(len(os.fsencode(p)) > NAME_MAX for p in parts):
        raise ValueError(f"guest path {path!r} has a component longer than {NAME_MAX} bytes")
    out = "/" + "/".join(parts)
    if len(os.fsencode(out)) >= PATH_MAX:
        raise ValueError(f"guest path {path[:40]!r}... is longer than PATH_MAX")
    return out


def pack_stat(s: os.stat_result) -> bytes:
    """A Linux x86-64 struct stat (K.Stat's layout) from a host stat result."""
    a_s, a_ns = divmod(s.st_atime_ns, 10**9)
    m_s, m_ns = divmod(s.st_mtime_ns, 10**9)
    c_s, c_ns = divmod(s.st_ctime_ns, 10**9)
    values = {
        "st_dev": s.st_dev, "st_ino": s.st_ino, "st_nlink": s.st_nlink, "st_mode": s.st_mode,
        "st_uid": s.st_uid, "st_gid": s.st_gid, "st_rdev": s.st_rdev, "st_size": s.st_size,
        "st_blksize": s.st_blksize, "st_blocks": s.st_blocks,
        "st_atime": a_s, "st_atime_nsec": a_ns, "st_mtime": m_s, "st_mtime_nsec": m_ns,
        "st_ctime": c_s, "st_ctime_nsec": c_ns,
    }
    buf = bytearray(_STAT.size)
    for name, v in values.items():
        off, size, _ = _STAT.fields[name]
        buf[off: off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(buf)


def _open_tree(host_dir: str, what: str) -> int:
    """The O_PATH descriptor of a tree's top, checked: a directory, not on a refused
    filesystem, and openat2 works against it (HostFilesError otherwise)."""
    try:
        fd = os.open(host_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise HostFilesError(f"{what} {host_dir!r}: {e.strerror}") from None
    try:
        kind = REFUSED_FS.get(fs_type(fd))
        if kind is not None:
            raise HostFilesError(f"{what} {host_dir!r} is on the host's {kind} filesystem, which is never served")
        try:
            os.close(openat2(fd, b".", os.O_PATH))
        except OSError as e:
            raise HostFilesError(
                f"openat2(2) with RESOLVE_IN_ROOT is unavailable here ({e.strerror}); it needs "
                "Linux >= 5.6 and no seccomp filter refusing it. QVisor does not serve a root "
                "without it") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


class HostFiles(TreeWrites, Service):
    """One sandbox's files: its trees (the root, then the binds: (host_dir, guest_path, rw)
    each) and its open handles. See the module docstring for the confinement contract.
    Path-level methods raise OSError; the q_* methods are the qcalls, registered with the
    QcallServer as a service (results >= 0 or -errno; GuestFault for bad guest ranges). `stdin`
    is the sandbox's console input (the server's Console serves it)."""

    def __init__(self, root: str = "/", binds: Iterable[tuple[str, str, bool]] = (), *,
                 stdin: int | None = 0) -> None:
        self.root = root
        self.stdin = stdin        # None: the sandbox's fd 0 was closed when qvisor started
        self._lock = threading.RLock()
        self._fds: list[Handle | None] = [None] * K.HOST_FILES_MAX
        self._listing_bytes = 0   # what the handles' directory listings hold (fs_write.py)
        self.trees: list[Tree] = [Tree(root, "/", False)]
        seen: set[str] = set()
        for host_dir, gpath, rw in binds:
            try:
                gpath = normalise_guest_path(gpath)
            except ValueError as e:
                raise HostFilesError(f"bind {host_dir!r}: {e}") from None
            if not isinstance(rw, bool):   # "ro" is truthy: no guessing what was meant
                raise HostFilesError(f"bind {host_dir!r}: rw must be True or False, not {rw!r}")
            if gpath in seen:
                raise HostFilesError(f"two binds at the guest path {gpath}")
            seen.add(gpath)
            self.trees.append(Tree(host_dir, gpath, rw))
        try:
            for i, t in enumerate(self.trees):
                t.fd = _open_tree(t.host_dir, "sandbox root" if i == 0 else f"bind {t.guest_path}: host directory")
        except BaseException:
            self.close_all()
            raise

    # ---- lifetime
    def close_all(self) -> None:
        """Closes every handle and tree; later file qcalls answer -EBADF. Idempotent."""
        with self._lock:
            for h, entry in enumerate(self._fds):
                if entry is not None:
                    self._fds[h] = None
                    os.close(entry.fd)
            self._listing_bytes = 0
            for t in self.trees:
                if t.fd is not None:
                    os.close(t.fd)
                    t.fd = None

    close = close_all

    def __enter__(self) -> "HostFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def __del__(self) -> None:
        try:
            self.close_all()
        except Exception:  # noqa: BLE001 - interpreter shutdown, or a half-made instance
            pass

    @property
    def _root_fd(self) -> int | None:
        return self.trees[0].fd

    # ---- resolution (all under the lock)
    def _treefd(self, tree: int) -> int:
        if not 0 <= tree < len(self.trees):
            raise err(errno.EINVAL)
        fd = self.trees[tree].fd
        if fd is None:
            raise err(errno.EBADF)
        return fd

    def _opath(self, path: bytes, nofollow: bool, directory: bool = False,
               tree: int = 0) -> tuple[int, os.stat_result]:
        """An O_PATH descriptor of `path` resolved in the tree, and its fstat; refused
        filesystems give -EACCES. With nofollow, a final symlink is itself the result."""
        flags = os.O_PATH | (os.O_NOFOLLOW if nofollow else 0) | (os.O_DIRECTORY if directory else 0)
        fd = openat2(self._treefd(tree), path, flags)
        try:
            s = os.fstat(fd)
            if fs_type(fd) in REFUSED_FS:
                raise err(errno.EACCES)
        except BaseException:
            os.close(fd)
            raise
        return fd, s

    def _free_slot(self) -> int:
        try:
            return self._fds.index(None)
        except ValueError:
            raise err(errno.EMFILE) from None

    def open_path(self, path: bytes, flags: int = 0, tree: int = 0) -> int:
        """Opens `path` of `tree` (OPEN_* flags; OPEN_WRITE: O_RDWR, a rw bind's regular files
        only); returns a handle. Raises OSError."""
        if flags & ~_OPEN_FLAGS:
            raise err(errno.EINVAL)
        nofollow, directory = bool(flags & K.OPEN_NOFOLLOW), bool(flags & K.OPEN_DIRECTORY)
        write = bool(flags & K.OPEN_WRITE)
        with self._lock:
            treefd = self._treefd(tree)
            h = self._free_slot()
            for _ in range(EAGAIN_RETRIES):
                pfd, s = self._opath(path, nofollow, directory, tree)
                try:
                    if st_.S_ISLNK(s.st_mode):   # only with nofollow: open(O_NOFOLLOW) says ELOOP
                        raise err(errno.ELOOP)
                    is_dir = st_.S_ISDIR(s.st_mode)
                    if not (st_.S_ISREG(s.st_mode) or is_dir):
                        raise err(errno.EACCES)  # devices, FIFOs, sockets: never opened
                    if write and is_dir:
                        raise err(errno.EISDIR)
                    if write and not self.trees[tree].rw:
                        raise err(errno.EROFS)
                    oflags = ((os.O_RDWR if write else os.O_RDONLY) | os.O_NONBLOCK | os.O_NOCTTY
                              | (os.O_NOFOLLOW if nofollow else 0) | (os.O_DIRECTORY if is_dir else 0))
                    fd = reopen(pfd, s, oflags, lambda f: openat2(treefd, path, f))
                finally:
                    os.close(pfd)
                if fd is not None:
                    self._fds[h] = Handle(fd, tree, is_dir, write)
                    return h
            raise err(errno.EAGAIN)        # replaced between the two opens every time

    def _handle(self, handle: int) -> Handle:
        """The open handle (OSError EBADF when it is not open)."""
        if not 0 <= handle < len(self._fds):
            raise err(errno.EBADF)
        entry = self._fds[handle]
        if entry is None:
            raise err(errno.EBADF)
        return entry

    def host_fd(self, handle: int) -> int:
        """The host descriptor behind a handle (OSError EBADF when it is not open)."""
        return self._handle(handle).fd

    def close_handle(self, handle: int) -> None:
        with self._lock:
            entry = self._handle(handle)
            self._drop_listing(entry)
            self._fds[handle] = None
            os.close(entry.fd)

    def stat_path(self, path: bytes, nofollow: bool = False, tree: int = 0) -> os.stat_result:
        with self._lock:
            fd, s = self._opath(path, nofollow, tree=tree)
            os.close(fd)
            return s

    def readlink_path(self, path: bytes, tree: int = 0) -> bytes:
        with self._lock:
            fd, s = self._opath(path, True, tree=tree)
            try:
                if not st_.S_ISLNK(s.st_mode):
                    raise err(errno.EINVAL)
                return os.readlink(b"", dir_fd=fd)
            finally:
                os.close(fd)

    @property
    def open_handles(self) -> int:
        return sum(entry is not None for entry in self._fds)

    # ---- qcalls: (args...) -> result >= 0 | -errno (GuestFault: the server's -EFAULT)
    @qcall(K.QCALL_OPEN)
    @errno_result
    def q_open(self, path_pa: int, path_len: int, flags: int, tree: int) -> int:
        self._treefd(tree)
        return self.open_path(guest_path(self.memory, path_pa, path_len), flags, tree)

    @qcall(K.QCALL_PREAD)
    @errno_result
    def q_pread(self, handle: int, buf_pa: int, length: int, offset: int) -> int:
        mem = self.memory
        with self._lock:
            fd = self.host_fd(handle)
            mem.check(buf_pa, length)          # the whole range first, as access_ok
            if offset >= 1 << 63:              # a negative loff_t
                raise err(errno.EINVAL)
            n = min(length, MAX_RW_COUNT)
            with mem.view(buf_pa, n) as window:
                return os.preadv(fd, [window], offset)

    @qcall(K.QCALL_CLOSE)
    @errno_result
    def q_close(self, handle: int) -> int:
        self.close_handle(handle)
        return 0

    @qcall(K.QCALL_FSTAT)
    @errno_result
    def q_fstat(self, handle: int, stat_pa: int) -> int:
        mem = self.memory
        with self._lock:
            fd = self.host_fd(handle)
            mem.check(stat_pa, _STAT.size)
            mem.write(stat_pa, pack_stat(os.fstat(fd)))
            return 0

    @qcall(K.QCALL_STAT)
    @errno_result
    def q_stat(self, path_pa: int, path_len: int, stat_pa: int, nofollow: int, tree: int) -> int:
        mem = self.memory
        self._treefd(tree)
        path = guest_path(mem, path_pa, path_len)
        mem.check(stat_pa, _STAT.size)
        mem.write(stat_pa, pack_stat(self.stat_path(path, bool(nofollow), tree)))
        return 0

    @qcall(K.QCALL_READLINK)
    @errno_result
    def q_readlink(self, path_pa: int, path_len: int, buf_pa: int, buf_len: int, tree: int) -> int:
        mem = self.memory
        self._treefd(tree)
        path = guest_path(mem, path_pa, path_len)
        if buf_len == 0 or buf_len >= 1 << 31:  # readlink(2)'s int bufsiz must be > 0
            raise err(errno.EINVAL)
        mem.check(buf_pa, min(buf_len, PATH_MAX))  # all that a link target can fill
        target = self.readlink_path(path, tree)[:buf_len]
        mem.write(buf_pa, target)
        return len(target)

    @qcall(K.QCALL_HOST_MOUNT)
    @errno_result
    def q_host_mount(self, index: int, buf_pa: int, length: int) -> int:
        """Bind `index` (1..n): its guest path, NUL-terminated, at buf_pa; HOST_MOUNT_* flags.
        -EINVAL for 0 (the root is no bind), -ENOENT past the last, -ENAMETOOLONG when `length`
        cannot hold the path and its NUL (nothing written then)."""
        if index == 0:
            raise err(errno.EINVAL)
        if index >= len(self.trees):
            raise err(errno.ENOENT)
        t = self.trees[index]
        mem = self.memory
        mem.check(buf_pa, length)
        text = os.fsencode(t.guest_path) + b"\0"
        if length < len(text):
            raise err(errno.ENAMETOOLONG)
        mem.write(buf_pa, text)
        return K.HOST_MOUNT_RW if t.rw else 0
