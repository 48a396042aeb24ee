"""qvisor/fs.py through the qcall server: files of a confined root read into guest memory, stat,
readlink, the console's tty ioctls and stdin, and a hostile guest that tries to leave the root
(.., absolute and relative symlinks, loops, /proc magic links, NULs, long paths, bad addresses,
bad handles, too many handles)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
import termios

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkernel import abi as K
from qkernel.dialect import layout
from qvisor import fs
from qvisor.fs import HostFiles, HostFilesError
from qvisor.memory import GuestMemory
from qvisor.qcall import QcallServer

MEM = 4 << 20
BLOCK = 0x1000
PATH = 0x2000       # guest path strings
BUF = 0x10000       # data buffers
STATBUF = 0x8000
STAT = layout(K.Stat)
SENTINEL = b"SENTINEL: a host file outside the sandbox root"
INSIDE = b"inside the root\n"


def call(server: QcallServer, nr: int, *args: int) -> int:
    mem = server.memory
    a = list(args) + [0] * (6 - len(args))
    mem.write(BLOCK, struct.pack("<Q6QQ", nr, *[x & (2**64 - 1) for x in a], 0))
    server.handle(BLOCK)
    r = mem.read_u64(BLOCK + 56)
    return r - 2**64 if r >> 63 else r


def put_path(mem: GuestMemory, path: bytes | str) -> tuple[int, int]:
    p = path.encode() if isinstance(path, str) else path
    mem.write(PATH, p)
    return PATH, len(p)


def q_open(srv: QcallServer, path: bytes | str, flags: int = 0, tree: int = 0) -> int:
    return call(srv, K.QCALL_OPEN, *put_path(srv.memory, path), flags, tree)


def q_stat(srv: QcallServer, path: bytes | str, nofollow: int = 0, tree: int = 0) -> dict[str, int] | int:
    r = call(srv, K.QCALL_STAT, *put_path(srv.memory, path), STATBUF, nofollow, tree)
    return r if r < 0 else read_stat(srv.memory, STATBUF)


def q_readlink(srv: QcallServer, path: bytes | str, size: int = 256, tree: int = 0) -> bytes | int:
    r = call(srv, K.QCALL_READLINK, *put_path(srv.memory, path), BUF, size, tree)
    return r if r < 0 else srv.memory.read(BUF, r)


def read_all(srv: QcallServer, path: bytes | str, tree: int = 0) -> bytes | int:
    h = q_open(srv, path, 0, tree)
    if h < 0:
        return h
    n = call(srv, K.QCALL_PREAD, h, BUF, 65536, 0)
    assert call(srv, K.QCALL_CLOSE, h) == 0
    return n if n < 0 else srv.memory.read(BUF, n)


def read_stat(mem: GuestMemory, pa: int) -> dict[str, int]:
    out = {}
    for name, (off, size, _) in STAT.fields.items():
        if name != "unused":
            out[name] = int.from_bytes(mem.read(pa + off, size), "little")
    return out


@pytest.fixture
def tree(tmp_path):
    """tmp/secret (outside) and tmp/jail/root: the sandbox root with files, dirs and symlinks."""
    (tmp_path / "secret").write_bytes(SENTINEL)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(SENTINEL)
    jail = tmp_path / "jail"
    jail.mkdir()
    (jail / "secret").write_bytes(SENTINEL)
    root = jail / "root"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "file").write_bytes(INSIDE)
    (root / "dir" / "sub" / "deep").write_bytes(b"deep\n")
    (root / "big").write_bytes(bytes(range(256)) * 64)
    os.symlink("file", root / "rel")                       # relative, inside
    os.symlink("/file", root / "abs")                      # absolute: means root/file
    os.symlink("/etc/passwd", root / "passwd")             # absolute, target absent in the root
    os.symlink("../../../..", root / "up")                 # climbs: stays at the root
    os.symlink("../../secret", root / "dir" / "sneaky")    # relative escape attempt
    os.symlink("/../../secret", root / "abs_escape")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("dir/sub", root / "subdir")                 # a symlink to a directory
    os.symlink("/proc/self/root/etc/passwd", root / "magic")
    return root


@pytest.fixture
def mem():
    m = GuestMemory(MEM)
    yield m
    m.close()


@pytest.fixture
def srv(mem, tree):
    files = HostFiles(str(tree))
    yield QcallServer(mem, files=files)
    files.close_all()


# ---- reading files


def test_open_pread_close_reads_a_file_into_guest_memory(srv, tree):
    h = q_open(srv, "/file")
    assert h == 0
    assert call(srv, K.QCALL_PREAD, h, BUF, 100, 0) == len(INSIDE)
    assert srv.memory.read(BUF, len(INSIDE)) == INSIDE
    assert call(srv, K.QCALL_PREAD, h, BUF, 4, 3) == 4
    assert srv.memory.read(BUF, 4) == INSIDE[3:7]
    assert call(srv, K.QCALL_CLOSE, h) == 0
    assert srv.files.open_handles == 0
    big = (tree / "big").read_bytes()
    h = q_open(srv, "big")      # relative paths start at the root too
    assert call(srv, K.QCALL_PREAD, h, BUF, len(big), 0) == len(big)
    assert srv.memory.read(BUF, len(big)) == big


def test_pread_at_and_past_eof_reads_nothing(srv):
    h = q_open(srv, "/file")
    for off in (len(INSIDE), len(INSIDE) + 1, 2**40, 2**63 - 17):
        assert call(srv, K.QCALL_PREAD, h, BUF, 16, off) == 0
    assert call(srv, K.QCALL_PREAD, h, BUF, 16, 2**63 - 1) == -errno.EINVAL   # pos + count overflows, as Linux
    assert call(srv, K.QCALL_PREAD, h, BUF, 0, 0) == 0
    assert call(srv, K.QCALL_PREAD, h, BUF, 16, 2**63) == -errno.EINVAL   # a negative loff_t
    assert call(srv, K.QCALL_PREAD, h, BUF, 16, 2**64 - 1) == -errno.EINVAL


def test_directories(srv):
    h = q_open(srv, "/dir", K.OPEN_DIRECTORY)
    assert h >= 0
    assert call(srv, K.QCALL_PREAD, h, BUF, 16, 0) == -errno.EISDIR
    assert call(srv, K.QCALL_CLOSE, h) == 0
    assert q_open(srv, "/dir") >= 0                          # a directory opens without the flag
    assert q_open(srv, "/file", K.OPEN_DIRECTORY) == -errno.ENOTDIR
    assert q_open(srv, "/subdir", K.OPEN_DIRECTORY) >= 0     # followed to dir/sub
    assert q_open(srv, "/file/") == -errno.ENOTDIR
    assert q_open(srv, "/missing") == -errno.ENOENT
    assert q_open(srv, "/dir/sub/deep/..") == -errno.ENOTDIR
    assert q_open(srv, "") == -errno.ENOENT
    assert q_open(srv, "/file", 0x80) == -errno.EINVAL       # unknown OPEN_* bits


def test_open_nofollow(srv):
    assert q_open(srv, "/rel", K.OPEN_NOFOLLOW) == -errno.ELOOP
    assert q_open(srv, "/subdir", K.OPEN_NOFOLLOW | K.OPEN_DIRECTORY) in (-errno.ELOOP, -errno.ENOTDIR)
    assert q_open(srv, "/subdir/deep", K.OPEN_NOFOLLOW) >= 0   # only the last component
    assert q_open(srv, "/file", K.OPEN_NOFOLLOW) >= 0


def test_special_files_are_never_opened(srv, tree):
    os.mkfifo(tree / "fifo")   # opening a FIFO for reading would block the VMM
    assert q_open(srv, "/fifo") == -errno.EACCES
    s = q_stat(srv, "/fifo")
    assert stat.S_ISFIFO(s["st_mode"])


# ---- stat, fstat, readlink


def assert_stat_matches(s: dict[str, int], h: os.stat_result) -> None:
    assert s["st_dev"] == h.st_dev and s["st_ino"] == h.st_ino
    assert s["st_mode"] == h.st_mode and s["st_nlink"] == h.st_nlink
    assert s["st_uid"] == h.st_uid and s["st_gid"] == h.st_gid
    assert s["st_size"] == h.st_size and s["st_rdev"] == h.st_rdev
    assert s["st_blksize"] == h.st_blksize and s["st_blocks"] == h.st_blocks
    for t in ("atime", "mtime", "ctime"):
        ns = getattr(h, f"st_{t}_ns")
        assert s[f"st_{t}"] * 10**9 + s[f"st_{t}_nsec"] == ns


def test_fstat_matches_the_host(srv, tree):
    os.utime(tree / "big", ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    for path, host in (("/big", tree / "big"), ("/dir", tree / "dir"), ("/abs", tree / "file")):
        h = q_open(srv, path)
        srv.memory.fill(STATBUF, STAT.size, 0xEE)
        assert call(srv, K.QCALL_FSTAT, h, STATBUF) == 0
        assert_stat_matches(read_stat(srv.memory, STATBUF), os.stat(host))
    s = read_stat(srv.memory, STATBUF)
    assert s["st_size"] == len(INSIDE) and stat.S_ISREG(s["st_mode"])
    assert STAT.size == 144


def test_stat_follows_unless_nofollow(srv, tree):
    assert_stat_matches(q_stat(srv, "/rel"), os.stat(tree / "file"))
    assert_stat_matches(q_stat(srv, "/rel", nofollow=1), os.lstat(tree / "rel"))
    assert stat.S_ISLNK(q_stat(srv, "/rel", nofollow=1)["st_mode"])
    assert_stat_matches(q_stat(srv, "/subdir/", nofollow=1), os.stat(tree / "dir" / "sub"))  # trailing /
    assert_stat_matches(q_stat(srv, "/", nofollow=1), os.stat(tree))
    assert_stat_matches(q_stat(srv, "..", nofollow=1), os.stat(tree))
    assert_stat_matches(q_stat(srv, "/dir/.", nofollow=1), os.stat(tree / "dir"))
    assert_stat_matches(q_stat(srv, "/dir/sub/..", nofollow=1), os.stat(tree / "dir"))
    assert stat.S_ISLNK(q_stat(srv, "/passwd", nofollow=1)["st_mode"])   # dangling: lstat works
    assert q_stat(srv, "/passwd") == -errno.ENOENT
    assert q_stat(srv, "/loop1") == -errno.ELOOP
    assert stat.S_ISLNK(q_stat(srv, "/loop1", nofollow=1)["st_mode"])
    assert q_stat(srv, "") == -errno.ENOENT


def test_readlink(srv):
    assert q_readlink(srv, "/rel") == b"file"
    assert q_readlink(srv, "/up") == b"../../../.."
    assert q_readlink(srv, "/dir/sneaky") == b"../../secret"
    assert q_readlink(srv, "/subdir/../../abs") == b"/file"   # .. from dir/sub, not from the link
    assert q_readlink(srv, "/up", size=5) == b"../.."        # truncated, no NUL, like readlink(2)
    srv.memory.write(BUF, b"XXXXXXXX")
    assert call(srv, K.QCALL_READLINK, *put_path(srv.memory, "/rel"), BUF, 8) == 4
    assert srv.memory.read(BUF, 8) == b"fileXXXX"
    assert q_readlink(srv, "/file") == -errno.EINVAL
    assert q_readlink(srv, "/dir") == -errno.EINVAL
    assert q_readlink(srv, "/rel", size=0) == -errno.EINVAL
    assert q_readlink(srv, "/missing") == -errno.ENOENT
    assert q_readlink(srv, "/loop1/x") == -errno.ELOOP


# ---- escapes


@pytest.mark.parametrize("path, expect", [
    ("../../secret", -errno.ENOENT),
    ("/../../secret", -errno.ENOENT),
    ("../../etc/passwd", -errno.ENOENT),
    ("/../../etc/passwd", -errno.ENOENT),
    ("/passwd", -errno.ENOENT),            # symlink to /etc/passwd: root/etc/passwd, absent
    ("/dir/sneaky", -errno.ENOENT),        # ../../secret from root/dir: root/secret, absent
    ("/abs_escape", -errno.ENOENT),
    ("/up/secret", -errno.ENOENT),
    ("/up/up/up/jail/secret", -errno.ENOENT),
    ("/up/file", INSIDE),                  # ../../../.. stays at the root
    ("/../../../file", INSIDE),
    ("/abs", INSIDE),
    ("/dir/../../../../file", INSIDE),
    ("/subdir/../../../file", INSIDE),
    ("/loop1", -errno.ELOOP),
    ("/loop1/file", -errno.ELOOP),
    ("/magic", -errno.ENOENT),             # /proc/self/root/... inside a root without /proc
    ("/proc/self/root/etc/passwd", -errno.ENOENT),
])
def test_escapes_fail_or_stay_inside(srv, path, expect):
    assert read_all(srv, path) == expect
    r = q_stat(srv, path)
    if isinstance(expect, bytes):
        assert r["st_size"] == len(INSIDE)
    else:
        assert r == expect


def test_a_symlink_to_etc_passwd_reads_the_roots_own(srv, tree):
    (tree / "etc").mkdir()
    (tree / "etc" / "passwd").write_bytes(b"root:x:0:0::/:/bin/sh\n")
    assert read_all(srv, "/passwd") == b"root:x:0:0::/:/bin/sh\n"
    assert read_all(srv, "../../etc/passwd") == b"root:x:0:0::/:/bin/sh\n"


proc_mounted = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc on this host")


@proc_mounted
def test_magic_links_are_never_followed_with_a_root_of_slash(mem):
    with HostFiles("/") as files:
        srv = QcallServer(mem, files=files)
        assert q_open(srv, "/proc/self/root/etc/passwd") == -errno.ELOOP
        assert q_stat(srv, "/proc/self/cwd/") == -errno.ELOOP
        assert q_open(srv, f"/proc/self/fd/{files._root_fd}/etc") == -errno.ELOOP
        assert q_open(srv, "/proc/thread-self/root/") == -errno.ELOOP


@proc_mounted
def test_host_proc_is_not_served(mem):
    with HostFiles("/") as files:
        srv = QcallServer(mem, files=files)
        for path in ("/proc/self/environ", "/proc/self/mem", "/proc/self/maps", "/proc"):
            assert q_open(srv, path) == -errno.EACCES
        assert q_stat(srv, "/proc/self/exe", nofollow=1) == -errno.EACCES
        assert q_readlink(srv, "/proc/self/exe") == -errno.EACCES
        assert q_readlink(srv, "/proc/self/cwd") == -errno.EACCES
        assert files.open_handles == 0
        assert q_open(srv, "/", K.OPEN_DIRECTORY) >= 0


# ---- hostile path strings and addresses


def test_embedded_nul_ends_the_path(srv):
    assert read_all(srv, b"/file\0/../secret") == INSIDE
    assert read_all(srv, b"/file\0") == INSIDE
    assert q_open(srv, b"\0/file") == -errno.ENOENT
    assert stat.S_ISLNK(q_stat(srv, b"/rel\0garbage", nofollow=1)["st_mode"])
    assert q_readlink(srv, b"/rel\0x") == b"file"


def test_long_paths(srv):
    limit = fs.PATH_MAX
    ok = b"./" * ((limit - 1 - len(b"file")) // 2) + b"file"
    ok = b"/" * (limit - 1 - len(ok)) + ok
    assert len(ok) == limit - 1
    assert read_all(srv, ok) == INSIDE
    assert q_open(srv, ok + b"x") == -errno.ENAMETOOLONG    # PATH_MAX bytes, no room for the NUL
    assert q_open(srv, b"/" * 10000) == -errno.ENAMETOOLONG
    assert q_stat(srv, b"a" * limit) == -errno.ENAMETOOLONG
    assert q_readlink(srv, b"a" * limit) == -errno.ENAMETOOLONG
    assert q_open(srv, b"a" * 300) == -errno.ENAMETOOLONG   # NAME_MAX, from Linux
    # a long length with a NUL inside PATH_MAX is a C string: fine
    srv.memory.write(PATH, b"/file\0")
    assert call(srv, K.QCALL_OPEN, PATH, 2**64 - 1, 0) >= 0


BAD = [MEM - 2, MEM, 2**64 - 4, 2**63]


@pytest.mark.parametrize("bad", BAD)
def test_bad_guest_addresses_are_efault_before_any_side_effect(srv, bad):
    mem = srv.memory
    assert call(srv, K.QCALL_OPEN, bad, 5, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_STAT, bad, 5, STATBUF, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_READLINK, bad, 4, BUF, 16) == -errno.EFAULT
    assert srv.files.open_handles == 0
    h = q_open(srv, "/file")
    assert h == 0
    assert call(srv, K.QCALL_PREAD, h, bad, 16, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_PREAD, h, BUF, MEM, 0) == -errno.EFAULT       # runs off the end
    assert call(srv, K.QCALL_FSTAT, h, bad, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_FSTAT, h, MEM - 100, 0) == -errno.EFAULT      # 144 bytes do not fit
    assert mem.read(MEM - 100, 100) == bytes(100)                          # nothing written
    assert call(srv, K.QCALL_STAT, *put_path(mem, "/file"), MEM - 100, 0) == -errno.EFAULT
    assert call(srv, K.QCALL_READLINK, *put_path(mem, "/rel"), bad, 16) == -errno.EFAULT
    assert call(srv, K.QCALL_TTY_IOCTL, 0, termios.TIOCGWINSZ, bad) in (-errno.EFAULT,)
    assert srv.files.open_handles == 1


def test_console_read_efault_loses_no_input(mem, tree):
    r, w = os.pipe()
    os.write(w, b"typed")
    with HostFiles(str(tree), stdin=r) as files:
        srv = QcallServer(mem, files=files)
        for bad in BAD:
            assert call(srv, K.QCALL_CONSOLE_READ, 0, bad, 16) == -errno.EFAULT
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, MEM) == -errno.EFAULT
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 16) == 5
        assert mem.read(BUF, 5) == b"typed"
    os.close(r)
    os.close(w)


# ---- handles


def test_handle_exhaustion_and_reuse(srv):
    handles = [q_open(srv, "/file") for _ in range(K.HOST_FILES_MAX)]
    assert handles == list(range(K.HOST_FILES_MAX))
    assert q_open(srv, "/file") == -errno.EMFILE
    assert q_open(srv, "/missing") == -errno.EMFILE      # Linux checks the table first, too
    assert call(srv, K.QCALL_CLOSE, 17) == 0
    assert q_open(srv, "/dir") == 17
    assert q_open(srv, "/file") == -errno.EMFILE


@pytest.mark.parametrize("handle", [-1, K.HOST_FILES_MAX, 2**63, 2**64 - 1, 5, 1])
def test_bad_handles_are_ebadf(srv, handle):
    assert q_open(srv, "/file") == 0
    assert call(srv, K.QCALL_PREAD, handle, BUF, 1, 0) == -errno.EBADF
    assert call(srv, K.QCALL_FSTAT, handle, STATBUF) == -errno.EBADF
    assert call(srv, K.QCALL_CLOSE, handle) == -errno.EBADF
    assert call(srv, K.QCALL_PREAD, handle, 2**64 - 1, 1, 0) == -errno.EBADF   # the handle first


def test_closed_handle_is_ebadf(srv):
    h = q_open(srv, "/file")
    assert call(srv, K.QCALL_CLOSE, h) == 0
    assert call(srv, K.QCALL_CLOSE, h) == -errno.EBADF
    assert call(srv, K.QCALL_PREAD, h, BUF, 1, 0) == -errno.EBADF


def test_close_all_closes_every_host_fd(mem, tree):
    files = HostFiles(str(tree))
    srv = QcallServer(mem, files=files)
    hs = [q_open(srv, "/file") for _ in range(3)]
    fds = [files.host_fd(h) for h in hs] + [files._root_fd]
    files.close_all()
    for fd in fds:
        with pytest.raises(OSError) as e:
            os.fstat(fd)
        assert e.value.errno == errno.EBADF
    assert q_open(srv, "/file") == -errno.EBADF
    assert call(srv, K.QCALL_PREAD, hs[0], BUF, 1, 0) == -errno.EBADF
    files.close_all()   # idempotent


def test_without_a_root_file_qcalls_are_enosys(mem):
    srv = QcallServer(mem)
    for nr in (K.QCALL_OPEN, K.QCALL_PREAD, K.QCALL_CLOSE, K.QCALL_FSTAT, K.QCALL_STAT,
               K.QCALL_READLINK, K.QCALL_TTY_IOCTL, K.QCALL_CONSOLE_READ,
               *range(K.QCALL_GETDENTS, K.QCALL_SETATTR + 1)):
        assert call(srv, nr, 0, 0, 0, 0) == -errno.ENOSYS


def test_refuses_to_run_without_openat2(monkeypatch, tree):
    def no_openat2(*_a):
        raise OSError(errno.ENOSYS, "Function not implemented")
    monkeypatch.setattr(fs, "openat2", no_openat2)
    with pytest.raises(HostFilesError, match="openat2"):
        HostFiles(str(tree))
    with pytest.raises(HostFilesError):
        HostFiles(str(tree / "file"))


# ---- the console


def test_tty_ioctl_on_a_pipe_is_enotty(mem, tree):
    r, w = os.pipe()
    with HostFiles(str(tree), stdin=r) as files:
        srv = QcallServer(mem, stdout=w, stderr=w, files=files)
        for fd in (0, 1, 2):
            assert call(srv, K.QCALL_TTY_IOCTL, fd, termios.TCGETS, BUF) == -errno.ENOTTY
            assert call(srv, K.QCALL_TTY_IOCTL, fd, termios.TIOCGWINSZ, BUF) == -errno.ENOTTY
        assert call(srv, K.QCALL_TTY_IOCTL, 0, termios.TIOCSWINSZ, BUF) == -errno.EINVAL
        assert call(srv, K.QCALL_TTY_IOCTL, 0, 0xDEAD, BUF) == -errno.EINVAL
        assert call(srv, K.QCALL_TTY_IOCTL, 3, termios.TCGETS, BUF) == -errno.EBADF
        assert call(srv, K.QCALL_TTY_IOCTL, 2**64 - 1, termios.TCGETS, BUF) == -errno.EBADF
    os.close(r)
    os.close(w)


def test_tty_ioctl_on_a_pty(mem, tree):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("<4H", 42, 132, 0, 0))
    with HostFiles(str(tree), stdin=slave) as files:
        srv = QcallServer(mem, stdout=slave, stderr=slave, files=files)
        for fd in (0, 1, 2):
            mem.fill(BUF, 64, 0xAB)
            assert call(srv, K.QCALL_TTY_IOCTL, fd, termios.TCGETS, BUF) == 0
            want = fcntl.ioctl(slave, termios.TCGETS, bytes(fs.TERMIOS_SIZE))
            assert mem.read(BUF, fs.TERMIOS_SIZE) == want
            assert mem.read(BUF + fs.TERMIOS_SIZE, 64 - fs.TERMIOS_SIZE) == b"\xab" * (64 - fs.TERMIOS_SIZE)
            iflag, oflag, cflag, lflag = struct.unpack_from("<4I", want)
            attrs = termios.tcgetattr(slave)
            assert [iflag, oflag, cflag, lflag] == attrs[:4]
            assert call(srv, K.QCALL_TTY_IOCTL, fd, termios.TIOCGWINSZ, BUF) == 0
            assert struct.unpack("<4H", mem.read(BUF, 8)) == (42, 132, 0, 0)
    os.close(master)
    os.close(slave)


def test_console_read_from_a_pipe(mem, tree):
    r, w = os.pipe()
    with HostFiles(str(tree), stdin=r) as files:
        srv = QcallServer(mem, files=files)
        os.write(w, b"hello\nworld\n")
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 6) == 6
        assert mem.read(BUF, 6) == b"hello\n"
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 0) == 0
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 100) == 6
        assert mem.read(BUF, 6) == b"world\n"
        assert call(srv, K.QCALL_CONSOLE_READ, 1, BUF, 100) == -errno.EBADF
        os.close(w)
        assert call(srv, K.QCALL_CONSOLE_READ, 0, BUF, 100) == 0   # EOF
    os.close(r)


# ---- confinement, randomly


def inside_inodes(root) -> set[tuple[int, int]]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            s = os.lstat(os.path.join(dirpath, name))
            out.add((s.st_dev, s.st_ino))
    return out


COMPONENTS = ["..", ".", "a", "b", "link", "up", "abs", "secret", "loop", "", "file", "..."]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(COMPONENTS), max_size=12), absolute=st.booleans(),
       flags=st.sampled_from([0, K.OPEN_NOFOLLOW, K.OPEN_DIRECTORY]), nofollow=st.booleans())
def test_random_paths_never_leave_the_root(confined, parts, absolute, flags, nofollow):
    srv, inside = confined
    path = ("/" if absolute else "") + "/".join(parts)
    h = q_open(srv, path, flags)
    if h >= 0:
        assert call(srv, K.QCALL_FSTAT, h, STATBUF) == 0
        s = read_stat(srv.memory, STATBUF)
        assert (s["st_dev"], s["st_ino"]) in inside
        n = call(srv, K.QCALL_PREAD, h, BUF, 4096, 0)
        if n > 0:
            assert SENTINEL not in srv.memory.read(BUF, n)
        assert call(srv, K.QCALL_CLOSE, h) == 0
    s = q_stat(srv, path, int(nofollow))
    if not isinstance(s, int):
        assert (s["st_dev"], s["st_ino"]) in inside
    assert srv.files.open_handles == 0


@pytest.fixture
def confined(tmp_path, mem):
    """tmp/{secret, a/secret, a/b/secret} outside; the root is tmp/a/b/root: every `..` that
    leaked would find a sentinel file."""
    outer = tmp_path / "a" / "b"
    outer.mkdir(parents=True)
    for d in (tmp_path, tmp_path / "a", outer):
        (d / "secret").write_bytes(SENTINEL)
        (d / "file").write_bytes(SENTINEL)
    root = outer / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "file").write_bytes(INSIDE)
    (root / "file").write_bytes(INSIDE)
    os.symlink("..", root / "a" / "up")
    os.symlink("../..", root / "a" / "b" / "up")
    os.symlink("../../../..", root / "up")
    os.symlink("/", root / "abs")
    os.symlink("/a/b/..", root / "a" / "abs")
    os.symlink("../../secret", root / "a" / "b" / "link")
    os.symlink("up/up/secret", root / "link")
    os.symlink("a/link", root / "a" / "link")
    os.symlink("loop", root / "loop")
    files = HostFiles(str(root))
    yield QcallServer(mem, files=files), inside_inodes(root)
    files.close_all()


# ---- trees: the root and the binds


@pytest.fixture
def trees(tmp_path, mem):
    """tmp/secret outside everything; the root tmp/root (tree 0), tmp/ro (tree 1, ro, at
    /mnt/ro) and tmp/rw (tree 2, rw, at /data): a file named `file` in each says whose it is."""
    (tmp_path / "secret").write_bytes(SENTINEL)
    dirs = {}
    for name in ("root", "ro", "rw"):
        d = tmp_path / name
        (d / "sub").mkdir(parents=True)
        (d / "file").write_bytes(name.encode())
        os.symlink("/file", d / "abs")
        os.symlink("../../secret", d / "sub" / "up")
        dirs[name] = d
    files = HostFiles(str(dirs["root"]), [(str(dirs["ro"]), "/mnt//ro/", False), (str(dirs["rw"]), "/data", True)])
    yield QcallServer(mem, files=files), dirs
    files.close_all()
    assert (tmp_path / "secret").read_bytes() == SENTINEL


def test_paths_resolve_inside_their_own_tree(trees):
    srv, _ = trees
    for tree, name in enumerate((b"root", b"ro", b"rw")):
        assert read_all(srv, "/file", tree) == name
        assert read_all(srv, "/abs", tree) == name               # an absolute symlink: its tree's top
        assert read_all(srv, "/../../file", tree) == name
        assert read_all(srv, "/sub/up", tree) == -errno.ENOENT    # ../../secret stays in the tree
        assert read_all(srv, "../secret", tree) == -errno.ENOENT
        assert stat.S_ISLNK(q_stat(srv, "/abs", 1, tree)["st_mode"])
        assert q_readlink(srv, "/sub/up", tree=tree) == b"../../secret"
    assert srv.files.open_handles == 0


@pytest.mark.parametrize("tree", [3, 4, 2**32, 2**63, 2**64 - 1])
def test_an_unknown_tree_is_einval(trees, tree):
    srv, _ = trees
    assert q_open(srv, "/file", 0, tree) == -errno.EINVAL
    assert q_stat(srv, "/file", 0, tree) == -errno.EINVAL
    assert q_readlink(srv, "/abs", tree=tree) == -errno.EINVAL
    assert srv.files.open_handles == 0


def test_open_write_only_in_a_rw_bind(trees):
    srv, dirs = trees
    assert q_open(srv, "/file", K.OPEN_WRITE, 0) == -errno.EROFS
    assert q_open(srv, "/file", K.OPEN_WRITE, 1) == -errno.EROFS
    assert q_open(srv, "/missing", K.OPEN_WRITE, 2) == -errno.ENOENT
    assert q_open(srv, "/sub", K.OPEN_WRITE, 2) == -errno.EISDIR
    assert q_open(srv, "/sub", K.OPEN_WRITE, 0) == -errno.EISDIR
    assert q_open(srv, "/file", K.OPEN_WRITE | K.OPEN_DIRECTORY, 2) == -errno.ENOTDIR
    assert q_open(srv, "/abs", K.OPEN_WRITE | K.OPEN_NOFOLLOW, 2) == -errno.ELOOP
    os.mkfifo(dirs["rw"] / "fifo")
    assert q_open(srv, "/fifo", K.OPEN_WRITE, 2) == -errno.EACCES      # never opened
    assert srv.files.open_handles == 0
    h = q_open(srv, "/abs", K.OPEN_WRITE, 2)
    assert h >= 0 and srv.files._handle(h).writable and srv.files._handle(h).tree == 2
    assert call(srv, K.QCALL_PREAD, h, BUF, 16, 0) == 2 and srv.memory.read(BUF, 2) == b"rw"
    assert os.get_blocking(srv.files.host_fd(h)) is False
    assert os.stat(srv.files.host_fd(h)).st_ino == os.stat(dirs["rw"] / "file").st_ino


def test_binds_are_checked(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    d = str(tmp_path)
    for binds, what in (
        ([(str(tmp_path / "missing"), "/m", False)], "No such file"),
        ([(str(tmp_path / "f"), "/m", False)], "Not a directory"),
        ([(d, "m", False)], "not absolute"),
        ([(d, "", False)], "not absolute"),
        ([(d, "/", False)], "root itself"),
        ([(d, "//./", False)], "root itself"),
        ([(d, "/a/../b", False)], r"'\.\.'"),
        ([(d, "/a\0b", False)], "NUL"),
        ([(d, "/" + "x" * 256, False)], "longer"),
        ([(d, "/a", False), (d, "/a/", True)], "two binds"),
        ([(d, "/a", "ro")], "True or False"),
    ):
        with pytest.raises(HostFilesError, match=what):
            HostFiles(d, binds)
    if os.path.isdir("/proc/self"):
        with pytest.raises(HostFilesError, match="proc"):
            HostFiles(d, [("/proc", "/hostproc", False)])
    assert fs.normalise_guest_path("/a//b/./c/") == "/a/b/c"
    with HostFiles(d, [(d, "/a/b/", True)]) as files:
        assert [(t.guest_path, t.rw) for t in files.trees] == [("/", False), ("/a/b", True)]


def test_host_mount_lists_the_binds(trees):
    srv, _ = trees
    mem = srv.memory
    mem.fill(BUF, 64, 0xEE)
    assert call(srv, K.QCALL_HOST_MOUNT, 1, BUF, 64) == 0
    assert mem.read(BUF, 9) == b"/mnt/ro\0\xee"
    assert call(srv, K.QCALL_HOST_MOUNT, 2, BUF, 6) == K.HOST_MOUNT_RW     # exactly "/data\0"
    assert mem.read(BUF, 6) == b"/data\0"
    mem.fill(BUF, 64, 0xEE)
    assert call(srv, K.QCALL_HOST_MOUNT, 2, BUF, 5) == -errno.ENAMETOOLONG  # no room for the NUL
    assert mem.read(BUF, 8) == b"\xee" * 8
    assert call(srv, K.QCALL_HOST_MOUNT, 3, BUF, 64) == -errno.ENOENT
    assert call(srv, K.QCALL_HOST_MOUNT, 2**64 - 1, BUF, 64) == -errno.ENOENT
    assert call(srv, K.QCALL_HOST_MOUNT, 0, BUF, 64) == -errno.EINVAL      # the root is no bind
    assert call(srv, K.QCALL_HOST_MOUNT, 1, MEM - 4, 64) == -errno.EFAULT
    assert call(srv, K.QCALL_HOST_MOUNT, 1, 2**64 - 4, 8) == -errno.EFAULT
    assert mem.read(MEM - 4, 4) == bytes(4)


def test_without_binds_host_mount_is_enoent(srv):
    assert call(srv, K.QCALL_HOST_MOUNT, 1, BUF, 64) == -errno.ENOENT


def test_close_all_closes_the_trees(trees):
    srv, _ = trees
    fds = [t.fd for t in srv.files.trees]
    srv.files.close_all()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    for tree in (0, 1, 2):
        assert q_open(srv, "/file", 0, tree) == -errno.EBADF


# ---- getdents


DIRENT = struct.Struct("<QqHB")


def parse_dirents(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(d_ino, d_off, d_type, name) of each linux_dirent64 record, checking their framing."""
    out, pos = [], 0
    while pos < len(data):
        ino, off, reclen, dtype = DIRENT.unpack_from(data, pos)
        assert reclen % 8 == 0 and reclen >= 24 and pos + reclen <= len(data)
        raw = data[pos + 19: pos + reclen]
        name = raw[:raw.index(b"\0")]
        assert reclen == (19 + len(name) + 1 + 7) & ~7
        assert raw[len(name):] == bytes(len(raw) - len(name))      # NUL and zero padding
        out.append((ino, off, dtype, name))
        pos += reclen
    return out


def getdents(srv: QcallServer, h: int, size: int = 4096, cookie: int = 0) -> list | int:
    n = call(srv, K.QCALL_GETDENTS, h, BUF, size, cookie)
    return n if n < 0 else parse_dirents(srv.memory.read(BUF, n))


def list_dir(srv: QcallServer, h: int, size: int = 4096) -> list[tuple[int, int, int, bytes]]:
    out, cookie = [], 0
    while True:
        got = getdents(srv, h, size, cookie)
        assert isinstance(got, list)
        if not got:
            return out
        for i, entry in enumerate(got):
            assert entry[1] == cookie + i + 1        # d_off: the cookie of the next entry
        out += got
        cookie = got[-1][1]


def test_getdents_lists_a_directory_with_types(srv, tree):
    os.mkfifo(tree / "fifo")
    h = q_open(srv, "/", K.OPEN_DIRECTORY)
    got = list_dir(srv, h)
    names = [e[3] for e in got]
    assert names == sorted(os.fsencode(n) for n in os.listdir(tree))
    assert b"." not in names and b".." not in names
    by = {e[3]: e for e in got}
    assert by[b"file"][2] == 8 and by[b"dir"][2] == 4 and by[b"rel"][2] == 10 and by[b"fifo"][2] == 1
    assert by[b"subdir"][2] == 10                       # a symlink to a directory is a symlink
    assert by[b"file"][0] == os.lstat(tree / "file").st_ino
    assert getdents(srv, h, 4096, len(got)) == []       # at the end
    assert getdents(srv, h, 4096, 2**63 + 5) == []
    assert srv.files._listing_bytes == 0                # dropped at the end
    if os.path.exists("/dev/null"):
        with HostFiles("/dev") as files:
            s2 = QcallServer(srv.memory, files=files)
            d = {e[3]: e[2] for e in list_dir(s2, q_open(s2, "/", K.OPEN_DIRECTORY))}
            assert d[b"null"] == 2                      # DT_CHR


def test_getdents_a_thousand_entries_each_once_through_small_buffers(srv, tree):
    big = tree / "many"
    big.mkdir()
    want = {f"entry-{i:04d}-{'x' * (i % 40)}".encode() for i in range(1000)}
    for n in want:
        (big / os.fsdecode(n)).write_bytes(b"")
    h = q_open(srv, "/many", K.OPEN_DIRECTORY)
    for size in (80, 300, 4096, 1 << 20):
        names = [e[3] for e in list_dir(srv, h, size)]
        assert len(names) == 1000 and set(names) == want


def test_getdents_cookies_resume_and_zero_retakes_the_listing(srv, tree):
    h = q_open(srv, "/dir/sub", K.OPEN_DIRECTORY)
    for i in range(5):
        (tree / "dir" / "sub" / f"f{i}").write_bytes(b"")
    first = getdents(srv, h, 24 * 2)              # "deep", "f0": 24 bytes each
    assert [e[3] for e in first] == [b"deep", b"f0"]
    (tree / "dir" / "sub" / "a-new").write_bytes(b"")  # not in the listing kept
    rest = getdents(srv, h, 4096, first[-1][1])
    assert [e[3] for e in rest] == [b"f1", b"f2", b"f3", b"f4"]
    again = getdents(srv, h, 4096, 2)              # any cookie of the listing, again
    assert [e[3] for e in again] == [b"f1", b"f2", b"f3", b"f4"]
    fresh = [e[3] for e in getdents(srv, h, 4096, 0)]
    assert fresh == [b"a-new", b"deep", b"f0", b"f1", b"f2", b"f3", b"f4"]


def test_getdents_errors(srv, tree):
    mem = srv.memory
    h = q_open(srv, "/dir/sub", K.OPEN_DIRECTORY)
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 23, 0) == -errno.EINVAL    # "deep" needs 24
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 0, 0) == -errno.EINVAL
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 24, 0) == 24
    f = q_open(srv, "/file")
    assert call(srv, K.QCALL_GETDENTS, f, BUF, 4096, 0) == -errno.ENOTDIR
    for bad in (-1, 77, K.HOST_FILES_MAX, 2**64 - 1):
        assert call(srv, K.QCALL_GETDENTS, bad, BUF, 4096, 0) == -errno.EBADF
    for pa, n in ((MEM - 8, 4096), (2**64 - 8, 16), (BUF, MEM), (BUF, 2**64 - 1)):
        assert call(srv, K.QCALL_GETDENTS, h, pa, n, 0) == -errno.EFAULT
    assert mem.read(MEM - 8, 8) == bytes(8)


def test_getdents_listings_are_bounded(srv, tree, monkeypatch):
    from qvisor import fs_write
    for i in range(20):
        (tree / "dir" / f"n{i:02d}").write_bytes(b"")
    h = q_open(srv, "/dir", K.OPEN_DIRECTORY)
    monkeypatch.setattr(fs_write, "LISTING_MAX_ENTRIES", 10)
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 4096, 0) == -errno.EOVERFLOW
    monkeypatch.setattr(fs_write, "LISTING_MAX_ENTRIES", 1000)
    monkeypatch.setattr(fs_write, "LISTING_MAX_BYTES", 200)
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 4096, 0) == -errno.EOVERFLOW
    monkeypatch.setattr(fs_write, "LISTING_MAX_BYTES", 1 << 20)
    assert call(srv, K.QCALL_GETDENTS, h, BUF, 64, 0) > 0
    held = srv.files._listing_bytes
    assert held > 0
    monkeypatch.setattr(fs_write, "LISTINGS_MAX_BYTES", held + held // 2)  # room for one, not two
    h2 = q_open(srv, "/dir", K.OPEN_DIRECTORY)
    assert call(srv, K.QCALL_GETDENTS, h2, BUF, 64, 0) == -errno.ENOMEM
    assert call(srv, K.QCALL_CLOSE, h) == 0                # closing drops its listing
    assert srv.files._listing_bytes == 0
    assert call(srv, K.QCALL_GETDENTS, h2, BUF, 64, 0) > 0
