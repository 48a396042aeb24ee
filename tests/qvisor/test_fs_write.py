"""qvisor/fs_write.py through the qcall server: the writing calls of rw binds (CREATE, PWRITE,
MKDIR, UNLINK, RENAME, SYMLINK, TRUNCATE, SETATTR), and a hostile guest that tries to write
outside them: the root and ro binds (-EROFS), names that are not one component, symlinks out of
the tree, renames across trees (-EXDEV), bad handles and bad guest addresses. A fixture checks
after every test that nothing outside the trees was read, created or changed."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from qkernel import abi as K
from qvisor.fs import HostFiles
from qvisor.qcall import QcallServer

from test_fs import BUF, MEM, SENTINEL, STATBUF, call, q_open, q_readlink, q_stat, read_all, read_stat

NAME = 0x3000       # a second guest string (PATH holds the first)
NAME2 = 0x3400
ROOT, RO, RW, RW2 = 0, 1, 2, 3


def snapshot(top) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in [*dirnames, *filenames]:
            p = os.path.join(dirpath, n)
            s = os.lstat(p)
            body = b""
            if stat.S_ISREG(s.st_mode):
                with open(p, "rb") as f:
                    body = f.read()
            elif stat.S_ISLNK(s.st_mode):
                body = os.readlink(p).encode()
            out[os.path.relpath(p, top)] = (s.st_mode, s.st_size, s.st_mtime_ns, s.st_uid, s.st_gid, body)
    return out


@pytest.fixture
def world(tmp_path):
    """tmp/outside/{secret, victim} (never to change), the root tmp/root (tree 0), tmp/ro (tree
    1, ro), tmp/rw (tree 2, rw) and tmp/rw2 (tree 3, rw), each with `file`, `dir/` and symlinks
    pointing out of the tree."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_bytes(SENTINEL)
    (out / "victim").write_bytes(SENTINEL)
    dirs = {}
    for name in ("root", "ro", "rw", "rw2"):
        d = tmp_path / name
        (d / "dir").mkdir(parents=True)
        (d / "file").write_bytes(name.encode())
        os.symlink(str(out / "victim"), d / "host_abs")          # the host's absolute path
        os.symlink("../outside/victim", d / "host_rel")          # relative, climbing out
        os.symlink(str(out / "absent"), d / "dangling")          # would create an outside file
        dirs[name] = d
    before = snapshot(out)
    frozen = {n: snapshot(dirs[n]) for n in ("root", "ro")}
    yield dirs
    assert snapshot(out) == before
    assert not (out / "absent").exists()
    for n, snap in frozen.items():
        assert snapshot(dirs[n]) == snap, f"the read-only tree {n} changed"


@pytest.fixture
def srv(world, mem):
    files = HostFiles(str(world["root"]), [(str(world["ro"]), "/ro", False), (str(world["rw"]), "/rw", True),
                                           (str(world["rw2"]), "/rw2", True)])
    yield QcallServer(mem, files=files)
    files.close_all()


@pytest.fixture
def mem():
    from qvisor.memory import GuestMemory
    m = GuestMemory(MEM)
    yield m
    m.close()


def name_at(srv: QcallServer, name: bytes | str, pa: int = NAME) -> tuple[int, int]:
    b = name.encode() if isinstance(name, str) else name
    srv.memory.write(pa, b)
    return pa, len(b)


def d_open(srv: QcallServer, tree: int, path: str = "/") -> int:
    h = q_open(srv, path, K.OPEN_DIRECTORY, tree)
    assert h >= 0
    return h


def create(srv, d: int, name, flags: int = 0, mode: int = 0o644) -> int:
    return call(srv, K.QCALL_CREATE, d, *name_at(srv, name), flags, mode)


def mkdir(srv, d: int, name, mode: int = 0o755) -> int:
    return call(srv, K.QCALL_MKDIR, d, *name_at(srv, name), mode)


def unlink(srv, d: int, name, is_dir: int = 0) -> int:
    return call(srv, K.QCALL_UNLINK, d, *name_at(srv, name), is_dir)


def rename(srv, d1: int, old, d2: int, new) -> int:
    return call(srv, K.QCALL_RENAME, d1, *name_at(srv, old), d2, *name_at(srv, new, NAME2))


def symlink(srv, d: int, name, target) -> int:
    return call(srv, K.QCALL_SYMLINK, d, *name_at(srv, name), *name_at(srv, target, NAME2))


def pwrite(srv, h: int, data: bytes, offset: int = 0) -> int:
    srv.memory.write(BUF, data)
    return call(srv, K.QCALL_PWRITE, h, BUF, len(data), offset)


def fmode(srv, h: int) -> int:
    assert call(srv, K.QCALL_FSTAT, h, STATBUF) == 0
    return read_stat(srv.memory, STATBUF)["st_mode"]


# ---- the calls, working


def test_create_write_read_back(srv, world):
    d = d_open(srv, RW)
    h = create(srv, d, "new", K.CREATE_EXCL, 0o640)
    assert h >= 0 and h != d
    assert pwrite(srv, h, b"hello world") == 11
    assert pwrite(srv, h, b"W", 6) == 1
    assert (world["rw"] / "new").read_bytes() == b"hello World"
    assert call(srv, K.QCALL_PREAD, h, BUF, 64, 0) == 11 and srv.memory.read(BUF, 11) == b"hello World"
    assert stat.S_IMODE(fmode(srv, h)) == 0o640
    assert read_all(srv, "/new", RW) == b"hello World"
    assert pwrite(srv, h, b"!", 20) == 1                   # a hole, as pwrite(2)
    assert (world["rw"] / "new").read_bytes() == b"hello World" + bytes(9) + b"!"
    assert pwrite(srv, h, b"", 0) == 0
    assert call(srv, K.QCALL_PWRITE, h, BUF, 1, 2**63) == -errno.EINVAL
    assert call(srv, K.QCALL_CLOSE, h) == 0
    sub = d_open(srv, RW, "/dir")
    assert create(srv, sub, "inner") >= 0
    assert (world["rw"] / "dir" / "inner").exists()


def test_create_modes_are_exact_and_never_setuid(srv, world):
    d = d_open(srv, RW)
    old = os.umask(0o077)
    try:
        assert create(srv, d, "a", 0, 0o666) >= 0
        assert create(srv, d, "b", 0, 0o106755) >= 0       # file type bits, setuid: masked
        assert create(srv, d, "c", 0, 0o3777) >= 0         # setgid masked, sticky kept
        assert mkdir(srv, d, "m", 0o2777) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(world["rw"] / "a").st_mode) == 0o666
    assert stat.S_IMODE(os.stat(world["rw"] / "b").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(world["rw"] / "c").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(world["rw"] / "m").st_mode) == 0o777
    assert stat.S_ISREG(os.stat(world["rw"] / "b").st_mode)


def test_create_an_existing_name(srv, world):
    d = d_open(srv, RW)
    assert create(srv, d, "file", K.CREATE_EXCL) == -errno.EEXIST
    h = create(srv, d, "file")                              # opened as it is
    assert h >= 0 and (world["rw"] / "file").read_bytes() == b"rw"
    assert call(srv, K.QCALL_PREAD, h, BUF, 8, 0) == 2
    h = create(srv, d, "file", K.CREATE_TRUNC)
    assert h >= 0 and (world["rw"] / "file").read_bytes() == b""
    assert create(srv, d, "dir") == -errno.EISDIR
    assert create(srv, d, "dir", K.CREATE_TRUNC) == -errno.EISDIR
    os.mkfifo(world["rw"] / "fifo")
    assert create(srv, d, "fifo") == -errno.EACCES          # never opened (it would not block: O_RDWR)
    assert create(srv, d, "new", 4) == -errno.EINVAL        # unknown CREATE_* bits
    assert not (world["rw"] / "new").exists()


@pytest.mark.parametrize("link", ["host_abs", "host_rel", "dangling"])
@pytest.mark.parametrize("flags", [0, K.CREATE_EXCL, K.CREATE_TRUNC, K.CREATE_EXCL | K.CREATE_TRUNC])
def test_create_never_follows_a_symlink_out(srv, world, link, flags):
    d = d_open(srv, RW)
    want = -errno.EEXIST if flags & K.CREATE_EXCL else -errno.ELOOP
    assert create(srv, d, link, flags) == want
    assert srv.files.open_handles == 1
    # the outside files are checked unchanged (and outside/absent absent) by the fixture


def test_mkdir_unlink_rmdir(srv, world):
    d = d_open(srv, RW)
    assert mkdir(srv, d, "m") == 0 and (world["rw"] / "m").is_dir()
    assert mkdir(srv, d, "m") == -errno.EEXIST
    assert mkdir(srv, d, "host_abs") == -errno.EEXIST       # a symlink at the name: not followed
    assert mkdir(srv, d, "dangling") == -errno.EEXIST
    assert unlink(srv, d, "m") == -errno.EISDIR
    assert unlink(srv, d, "m", 1) == 0 and not (world["rw"] / "m").exists()
    assert unlink(srv, d, "file", 1) == -errno.ENOTDIR
    assert unlink(srv, d, "dir", 2) == -errno.EINVAL
    (world["rw"] / "dir" / "x").write_bytes(b"")
    assert unlink(srv, d, "dir", 1) == -errno.ENOTEMPTY
    assert unlink(srv, d, "file") == 0 and not (world["rw"] / "file").exists()
    assert unlink(srv, d, "file") == -errno.ENOENT
    assert unlink(srv, d, "host_abs") == 0                  # the link goes, its target stays
    assert unlink(srv, d, "host_rel", 1) == -errno.ENOTDIR
    assert not os.path.lexists(world["rw"] / "host_abs")


def test_rename_within_a_tree(srv, world):
    d, sub = d_open(srv, RW), d_open(srv, RW, "/dir")
    assert rename(srv, d, "file", sub, "moved") == 0
    assert (world["rw"] / "dir" / "moved").read_bytes() == b"rw" and not (world["rw"] / "file").exists()
    assert rename(srv, sub, "moved", d, "host_abs") == 0   # replaces the link, not its target
    assert (world["rw"] / "host_abs").read_bytes() == b"rw"
    assert rename(srv, d, "missing", d, "x") == -errno.ENOENT
    assert rename(srv, d, "dir", sub, "inside") == -errno.EINVAL   # into itself


def test_rename_across_trees_is_exdev(srv, world):
    for a, b in ((RW, RW2), (RW2, RW), (RW, ROOT), (ROOT, RW), (RO, RW)):
        assert rename(srv, d_open(srv, a), "file", d_open(srv, b), "stolen") == -errno.EXDEV
    for n in ("rw", "rw2"):
        assert (world[n] / "file").read_bytes() == n.encode() and not (world[n] / "stolen").exists()
    assert rename(srv, d_open(srv, ROOT), "file", d_open(srv, ROOT), "x") == -errno.EROFS
    assert rename(srv, d_open(srv, RO), "file", d_open(srv, RO), "x") == -errno.EROFS


def test_symlink(srv, world):
    d = d_open(srv, RW)
    assert symlink(srv, d, "l", "/file") == 0
    assert os.readlink(world["rw"] / "l") == "/file"
    assert read_all(srv, "/l", RW) == b"rw"                 # resolved inside the tree
    assert symlink(srv, d, "esc", "../../outside/secret") == 0
    assert read_all(srv, "/esc", RW) == -errno.ENOENT       # stays inside
    assert q_readlink(srv, "/esc", tree=RW) == b"../../outside/secret"
    assert symlink(srv, d, "l", "x") == -errno.EEXIST
    assert symlink(srv, d, "host_abs", "x") == -errno.EEXIST
    assert symlink(srv, d, "e", "") == -errno.ENOENT
    assert symlink(srv, d, "n", b"to\0ignored") == 0 and os.readlink(world["rw"] / "n") == "to"
    assert symlink(srv, d, "long", b"x" * 5000) == -errno.ENAMETOOLONG
    assert not os.path.lexists(world["rw"] / "long")


def test_truncate(srv, world):
    h = q_open(srv, "/file", K.OPEN_WRITE, RW)
    assert call(srv, K.QCALL_TRUNCATE, h, 10) == 0
    assert (world["rw"] / "file").read_bytes() == b"rw" + bytes(8)
    assert call(srv, K.QCALL_TRUNCATE, h, 1) == 0
    assert (world["rw"] / "file").read_bytes() == b"r"
    assert call(srv, K.QCALL_TRUNCATE, h, 2**63) == -errno.EINVAL
    assert call(srv, K.QCALL_TRUNCATE, h, 2**64 - 1) == -errno.EINVAL
    ro = q_open(srv, "/file", 0, RW)                        # not opened for writing
    assert call(srv, K.QCALL_TRUNCATE, ro, 0) == -errno.EINVAL
    assert pwrite(srv, ro, b"x") == -errno.EBADF
    dh = d_open(srv, RW)
    assert call(srv, K.QCALL_TRUNCATE, dh, 0) == -errno.EINVAL
    assert pwrite(srv, dh, b"x") == -errno.EBADF
    assert (world["rw"] / "file").read_bytes() == b"r"


def test_setattr(srv, world):
    h = q_open(srv, "/file", 0, RW)                         # attributes need no write access
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_MODE, 0o4751, 0) == 0
    assert stat.S_IMODE(os.stat(world["rw"] / "file").st_mode) == 0o751
    d = d_open(srv, RW, "/dir")
    assert call(srv, K.QCALL_SETATTR, d, K.SETATTR_MODE, 0o1700, 0) == 0
    assert stat.S_IMODE(os.stat(world["rw"] / "dir").st_mode) == 0o1700
    t_a, t_m = 1_600_000_000_123_456_789, 1_500_000_000_987_654_321
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_TIMES, t_a, t_m) == 0
    s = os.stat(world["rw"] / "file")
    assert (s.st_atime_ns, s.st_mtime_ns) == (t_a, t_m)
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_TIMES, K.UTIME_OMIT_NS, 1_000_000_000) == 0
    s = os.stat(world["rw"] / "file")
    assert (s.st_atime_ns, s.st_mtime_ns) == (t_a, 1_000_000_000)
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_TIMES, 2**64 - 10**9, K.UTIME_OMIT_NS) == 0  # -1 s
    assert os.stat(world["rw"] / "file").st_atime_ns == -10**9
    me = os.stat(world["rw"] / "file")
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_OWNER, me.st_uid, me.st_gid) == 0
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_OWNER, 0xFFFF_FFFF, 2**64 - 1) == 0   # both kept
    r = call(srv, K.QCALL_SETATTR, h, K.SETATTR_OWNER, 54321, 0xFFFF_FFFF)
    if os.geteuid() == 0:
        assert r == 0 and os.stat(world["rw"] / "file").st_uid == 54321
    else:
        assert r == -errno.EPERM and os.stat(world["rw"] / "file").st_uid == me.st_uid
    assert call(srv, K.QCALL_SETATTR, h, K.SETATTR_OWNER, 2**32, 0) == -errno.EINVAL
    assert call(srv, K.QCALL_SETATTR, h, 0, 0, 0) == -errno.EINVAL
    assert call(srv, K.QCALL_SETATTR, h, 4, 0, 0) == -errno.EINVAL


def test_a_handle_works_in_its_own_tree_only(srv, world):
    d1, d2 = d_open(srv, RW), d_open(srv, RW2)
    assert create(srv, d1, "one") >= 0 and mkdir(srv, d2, "two") == 0
    assert (world["rw"] / "one").exists() and not (world["rw2"] / "one").exists()
    assert (world["rw2"] / "two").is_dir() and not (world["rw"] / "two").exists()
    assert q_stat(srv, "/one", 0, RW2) == -errno.ENOENT
    assert unlink(srv, d2, "one") == -errno.ENOENT          # tree 2's handle: tree 2's names
    assert (world["rw"] / "one").exists()


# ---- read-only trees


def test_every_writing_call_is_erofs_outside_rw_binds(srv, world):
    for tree in (ROOT, RO):
        d = d_open(srv, tree)
        f = q_open(srv, "/file", 0, tree)
        assert create(srv, d, "new") == -errno.EROFS
        assert create(srv, d, "file", K.CREATE_TRUNC) == -errno.EROFS
        assert mkdir(srv, d, "new") == -errno.EROFS
        assert unlink(srv, d, "file") == -errno.EROFS
        assert unlink(srv, d, "dir", 1) == -errno.EROFS
        assert rename(srv, d, "file", d, "x") == -errno.EROFS
        assert symlink(srv, d, "new", "x") == -errno.EROFS
        assert pwrite(srv, f, b"x") == -errno.EROFS
        assert call(srv, K.QCALL_TRUNCATE, f, 0) == -errno.EROFS
        for what, a, b in ((K.SETATTR_MODE, 0o777, 0), (K.SETATTR_OWNER, 0xFFFF_FFFF, 0xFFFF_FFFF),
                           (K.SETATTR_TIMES, 0, 0)):
            assert call(srv, K.QCALL_SETATTR, f, what, a, b) == -errno.EROFS
            assert call(srv, K.QCALL_SETATTR, d, what, a, b) == -errno.EROFS
        assert q_open(srv, "/file", K.OPEN_WRITE, tree) == -errno.EROFS
    # the fixture checks that root and ro are exactly as they were


# ---- hostile names, handles and addresses


HOSTILE_NAMES = [
    (b"a/b", -errno.EINVAL), (b"/file", -errno.EINVAL), (b"dir/", -errno.EINVAL),
    (b"..", -errno.EINVAL), (b".", -errno.EINVAL), (b"", -errno.EINVAL), (b"\0file", -errno.EINVAL),
    (b"../outside/victim", -errno.EINVAL), (b"x" * 256, -errno.ENAMETOOLONG),
    (b"x" * 4096, -errno.ENAMETOOLONG),
]


@pytest.mark.parametrize("name, want", HOSTILE_NAMES)
def test_names_must_be_one_component(srv, world, name, want):
    d, sub = d_open(srv, RW), d_open(srv, RW, "/dir")
    before = snapshot(world["rw"])
    assert create(srv, sub, name) == want
    assert create(srv, sub, name, K.CREATE_TRUNC) == want
    assert mkdir(srv, sub, name) == want
    assert unlink(srv, sub, name) == want
    assert unlink(srv, sub, name, 1) == want
    assert symlink(srv, sub, name, "target") == want
    assert rename(srv, d, "file", sub, name) == want
    assert rename(srv, sub, name, d, "new") == want
    assert snapshot(world["rw"]) == before
    assert srv.files.open_handles == 2


def test_a_name_ends_at_its_nul_and_may_be_name_max_long(srv, world):
    d = d_open(srv, RW)
    assert create(srv, d, b"abc\0/../../x") >= 0 and (world["rw"] / "abc").exists()
    assert mkdir(srv, d, b"y" * 255) == 0 and (world["rw"] / ("y" * 255)).is_dir()
    assert mkdir(srv, d, b"z" * 255 + b"\0tail") == 0
    assert call(srv, K.QCALL_MKDIR, d, *name_at(srv, b"w\0"), 0o755) == 0   # a length with the NUL


BAD_HANDLES = [-1, 77, K.HOST_FILES_MAX, 2**32, 2**64 - 1]


@pytest.mark.parametrize("bad", BAD_HANDLES)
def test_bad_handles_are_ebadf(srv, world, bad):
    d = d_open(srv, RW)
    assert create(srv, bad, "new") == -errno.EBADF
    assert mkdir(srv, bad, "new") == -errno.EBADF
    assert unlink(srv, bad, "file") == -errno.EBADF
    assert symlink(srv, bad, "new", "x") == -errno.EBADF
    assert rename(srv, bad, "file", d, "new") == -errno.EBADF
    assert rename(srv, d, "file", bad, "new") == -errno.EBADF
    assert pwrite(srv, bad, b"x") == -errno.EBADF
    assert call(srv, K.QCALL_TRUNCATE, bad, 0) == -errno.EBADF
    assert call(srv, K.QCALL_SETATTR, bad, K.SETATTR_MODE, 0o777, 0) == -errno.EBADF
    assert call(srv, K.QCALL_PWRITE, bad, 2**64 - 1, 1, 0) == -errno.EBADF      # the handle first
    assert not (world["rw"] / "new").exists()


def test_a_file_handle_is_no_directory_handle(srv, world):
    f = q_open(srv, "/file", K.OPEN_WRITE, RW)
    d = d_open(srv, RW)
    assert create(srv, f, "new") == -errno.ENOTDIR
    assert mkdir(srv, f, "new") == -errno.ENOTDIR
    assert unlink(srv, f, "x") == -errno.ENOTDIR
    assert symlink(srv, f, "new", "x") == -errno.ENOTDIR
    assert rename(srv, f, "x", d, "new") == -errno.ENOTDIR
    assert rename(srv, d, "file", f, "new") == -errno.ENOTDIR
    assert not (world["rw"] / "new").exists()
    closed = d_open(srv, RW)
    assert call(srv, K.QCALL_CLOSE, closed) == 0
    assert create(srv, closed, "new") == -errno.EBADF


BAD = [MEM - 2, MEM, 2**64 - 4, 2**63]


@pytest.mark.parametrize("bad", BAD)
def test_bad_guest_addresses_are_efault_with_no_side_effect(srv, world, bad):
    d = d_open(srv, RW)
    before = snapshot(world["rw"])
    assert call(srv, K.QCALL_CREATE, d, bad, 3, 0, 0o644) == -errno.EFAULT
    assert call(srv, K.QCALL_MKDIR, d, bad, 3, 0o755) == -errno.EFAULT
    assert call(srv, K.QCALL_UNLINK, d, bad, 4, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_SYMLINK, d, bad, 3, *name_at(srv, "target", NAME2)) == -errno.EFAULT
    assert call(srv, K.QCALL_SYMLINK, d, *name_at(srv, "new"), bad, 3) == -errno.EFAULT
    assert call(srv, K.QCALL_RENAME, d, bad, 4, d, *name_at(srv, "new", NAME2)) == -errno.EFAULT
    assert call(srv, K.QCALL_RENAME, d, *name_at(srv, "file"), d, bad, 3) == -errno.EFAULT
    h = q_open(srv, "/file", K.OPEN_WRITE, RW)
    assert call(srv, K.QCALL_PWRITE, h, bad, 16, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_PWRITE, h, BUF, MEM, 0) == -errno.EFAULT        # runs off the end
    assert call(srv, K.QCALL_PWRITE, h, MEM - 4, 8, 0) == -errno.EFAULT      # partly outside
    assert snapshot(world["rw"]) == before
    assert srv.files.open_handles == 2


def test_create_beyond_the_handle_table_is_emfile(srv, world):
    d = d_open(srv, RW)
    while q_open(srv, "/file", 0, RW) >= 0:
        pass
    assert srv.files.open_handles == K.HOST_FILES_MAX
    assert create(srv, d, "new") == -errno.EMFILE
    assert not (world["rw"] / "new").exists()
    assert call(srv, K.QCALL_CLOSE, 5) == 0
    assert create(srv, d, "new") == 5


def test_writes_are_capped_per_call(srv, world, monkeypatch):
    from qvisor import fs_write
    monkeypatch.setattr(fs_write, "MAX_RW_COUNT", 4)
    h = q_open(srv, "/file", K.OPEN_WRITE, RW)
    assert pwrite(srv, h, b"abcdefgh") == 4                  # a short write, as Linux's cap
    assert (world["rw"] / "file").read_bytes() == b"abcd"


def test_getdents_in_a_rw_bind_sees_the_writes(srv, world):
    from test_fs import list_dir
    d = d_open(srv, RW)
    before = {e[3] for e in list_dir(srv, d)}
    assert create(srv, d, "made") >= 0 and mkdir(srv, d, "madedir") == 0
    got = {e[3]: e[2] for e in list_dir(srv, d)}
    assert set(got) == before | {b"made", b"madedir"}
    assert got[b"made"] == 8 and got[b"madedir"] == 4 and got[b"host_abs"] == 10


# ---- the reopen of a checked O_PATH descriptor


def test_without_proc_the_reopen_goes_by_name(srv, world, tmp_path, monkeypatch):
    from qvisor import fs_host
    monkeypatch.setattr(fs_host, "PROC_SELF_FD", str(tmp_path / "no-proc"))
    assert read_all(srv, "/file", RW) == b"rw"
    h = q_open(srv, "/file", K.OPEN_WRITE, RW)
    assert pwrite(srv, h, b"RW") == 2 and (world["rw"] / "file").read_bytes() == b"RW"
    d = d_open(srv, RW)
    assert create(srv, d, "file", K.CREATE_TRUNC) >= 0 and (world["rw"] / "file").read_bytes() == b""
    assert create(srv, d, "host_abs") == -errno.ELOOP


def test_a_file_replaced_between_the_two_opens_every_time_is_eagain(srv, world, monkeypatch):
    from qvisor import fs, fs_write
    monkeypatch.setattr(fs, "reopen", lambda *_a: None)
    monkeypatch.setattr(fs_write, "reopen", lambda *_a: None)
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    assert q_open(srv, "/file", 0, RW) == -errno.EAGAIN
    assert q_open(srv, "/file", K.OPEN_WRITE, RW) == -errno.EAGAIN
    monkeypatch.undo()
    d = d_open(srv, RW)
    monkeypatch.setattr(fs_write, "reopen", lambda *_a: None)
    assert create(srv, d, "file", K.CREATE_TRUNC) == -errno.EAGAIN
    assert (world["rw"] / "file").read_bytes() == b"rw"       # not truncated
    assert srv.files.open_handles == 1
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before + 1   # d's; nothing leaked
