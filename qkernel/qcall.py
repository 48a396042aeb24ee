"""The qcall client: one typed wrapper per host call (the numbers and the request block are in
qkernel/abi.py; the host's services in qvisor/ serve them).

Each wrapper takes kernel pointers and translates them to the guest-physical addresses the host
validates; results are >= 0 or -errno. Synchronous: the kernel fills `request`, then `outl` of its
guest-physical address to QCALL_PORT exits to the host, which serves it before the vCPU resumes.
`request` is per-CPU state (one vCPU today; a second one needs its own block). Adding a host call
is one wrapper here and one service method in qvisor/.
"""

from __future__ import annotations

from qkernel.abi import (QCALL_CLOCK, QCALL_CLOSE, QCALL_CONSOLE_READ, QCALL_CONSOLE_WRITE,
                         QCALL_EXIT, QCALL_FSTAT, QCALL_GETDENTS, QCALL_HOST_MOUNT, QCALL_LOG,
                         QCALL_NANOSLEEP, QCALL_OPEN, QCALL_CREATE, QCALL_PWRITE, QCALL_MKDIR,
                         QCALL_UNLINK, QCALL_RENAME, QCALL_SYMLINK, QCALL_TRUNCATE, QCALL_SETATTR,
                         QCALL_PANIC, QCALL_PORT, QCALL_PREAD, QCALL_RANDOM, QCALL_READLINK,
                         QCALL_RING_KICK, QCALL_RING_SETUP, QCALL_RING_TEARDOWN, QCALL_RING_WAIT,
                         QCALL_STAT, QCALL_STDIO_FSTAT, QCALL_TTY_IOCTL, QCALL_ZERO_PAGES, Qcall)
from qkernel.dialect import addr_of, i64, outl, ptr, u8, u32, u64
from qkernel.linux.stat import Stat
from qkernel.mm.addr import pa

request: Qcall = Qcall()  # per-CPU (see above)


def qcall6(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> u64:
    """Performs qcall `nr` with raw arguments; the wrappers below are the interface."""
    request.nr = nr
    request.args[0] = a0
    request.args[1] = a1
    request.args[2] = a2
    request.args[3] = a3
    request.args[4] = a4
    request.args[5] = a5
    request.result = 0
    outl(QCALL_PORT, u32(pa(u64(addr_of(request)))))
    return request.result


def qcall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64:
    return qcall6(nr, a0, a1, a2, a3, 0, 0)


def console_write(fd: u64, buf: ptr[u8], n: u64) -> i64:
    """Writes n bytes of a kernel buffer to the sandbox's stdout (1) or stderr (2)."""
    return i64(qcall(QCALL_CONSOLE_WRITE, fd, pa(u64(buf)), n, 0))


def console_read(fd: u64, buf: ptr[u8], n: u64) -> i64:
    """Reads up to n bytes of the sandbox's stdin (0) into a kernel buffer; 0 at end of file."""
    return i64(qcall(QCALL_CONSOLE_READ, fd, pa(u64(buf)), n, 0))


def stdio_fstat(fd: u64, st: ptr[Stat]) -> i64:
    """The host's fstat of the sandbox's stdio descriptor fd (0..2)."""
    return i64(qcall(QCALL_STDIO_FSTAT, fd, pa(u64(st)), 0, 0))


def tty_ioctl(fd: u64, request_nr: u64, buf: ptr[u8]) -> i64:
    """TCGETS or TIOCGWINSZ on a stdio descriptor; the record lands in buf."""
    return i64(qcall(QCALL_TTY_IOCTL, fd, request_nr, pa(u64(buf)), 0))


def exit_sandbox(status: u64) -> None:
    """Ends the sandbox with exit status `status` (0..255); does not return."""
    qcall(QCALL_EXIT, status & 0xFF, 0, 0, 0)


def clock_ns(clock: u64) -> i64:
    """The host's clock in nanoseconds: 0 realtime, 1 monotonic."""
    return i64(qcall(QCALL_CLOCK, clock, 0, 0, 0))


def random_bytes(buf: ptr[u8], n: u64) -> i64:
    """n bytes from the host's CSPRNG into a kernel buffer."""
    return i64(qcall(QCALL_RANDOM, pa(u64(buf)), n, 0, 0))


def log(level: u64, text: ptr[u8], n: u64) -> None:
    """One kernel log line for the host (shown at -v levels, kept for crash reports)."""
    qcall(QCALL_LOG, level, pa(u64(text)), n, 0)


def panic(text: ptr[u8], n: u64, frame: u64) -> None:
    """Reports a kernel panic (with the trap frame's kernel address, or 0); does not return."""
    qcall(QCALL_PANIC, pa(u64(text)), n, pa(frame) if frame != 0 else 0, 0)


def sleep_ns(ns: u64) -> i64:
    """Sleeps on the host (blocks the vCPU: the synchronous path)."""
    return i64(qcall(QCALL_NANOSLEEP, ns, 0, 0, 0))


def zero_frames(phys: u64, npages: u64) -> None:
    """Has the host zero npages guest frames from phys (CPL 0 runs in kvm_pvm's emulator)."""
    qcall(QCALL_ZERO_PAGES, phys, npages, 0, 0)


def file_open(tree: u64, path: ptr[u8], n: u64, flags: u64) -> i64:
    """Opens a path of host tree `tree` (0: the root) on the host (OPEN_* flags): a handle or -errno."""
    return i64(qcall(QCALL_OPEN, pa(u64(path)), n, flags, tree))


def file_pread(handle: u64, buf: ptr[u8], n: u64, offset: u64) -> i64:
    """pread of a host handle into a kernel buffer."""
    return i64(qcall(QCALL_PREAD, handle, pa(u64(buf)), n, offset))


def file_pread_frame(handle: u64, phys: u64, n: u64, offset: u64) -> i64:
    """pread of a host handle straight into guest-physical memory (a user page's frame)."""
    return i64(qcall(QCALL_PREAD, handle, phys, n, offset))


def file_close(handle: u64) -> i64:
    return i64(qcall(QCALL_CLOSE, handle, 0, 0, 0))


def file_fstat(handle: u64, st: ptr[Stat]) -> i64:
    return i64(qcall(QCALL_FSTAT, handle, pa(u64(st)), 0, 0))


def file_stat(tree: u64, path: ptr[u8], n: u64, st: ptr[Stat], nofollow: bool) -> i64:
    """stat (lstat when nofollow) of a path of host tree `tree`."""
    return i64(qcall6(QCALL_STAT, pa(u64(path)), n, pa(u64(st)), 1 if nofollow else 0, tree, 0))


def file_readlink(tree: u64, path: ptr[u8], n: u64, buf: ptr[u8], size: u64) -> i64:
    return i64(qcall6(QCALL_READLINK, pa(u64(path)), n, pa(u64(buf)), size, tree, 0))


def file_getdents(handle: u64, buf: ptr[u8], n: u64, cookie: u64) -> i64:
    """linux_dirent64 records of a host directory from position `cookie` (see abi.py)."""
    return i64(qcall(QCALL_GETDENTS, handle, pa(u64(buf)), n, cookie))


def host_mount(index: u64, buf: ptr[u8], n: u64) -> i64:
    """Bind `index` (1..): its guest path written to buf; HOST_MOUNT_* flags, or -ENOENT."""
    return i64(qcall(QCALL_HOST_MOUNT, index, pa(u64(buf)), n, 0))


# ---- the writing calls of a tree bound rw (`dir` a directory handle, `name` one component)

def file_create(dir: u64, name: ptr[u8], n: u64, flags: u64, mode: u64) -> i64:
    """Creates (CREATE_* flags) and opens for writing: a handle or -errno."""
    return i64(qcall6(QCALL_CREATE, dir, pa(u64(name)), n, flags, mode, 0))


def file_pwrite(handle: u64, buf: ptr[u8], n: u64, offset: u64) -> i64:
    return i64(qcall(QCALL_PWRITE, handle, pa(u64(buf)), n, offset))


def file_mkdir(dir: u64, name: ptr[u8], n: u64, mode: u64) -> i64:
    return i64(qcall(QCALL_MKDIR, dir, pa(u64(name)), n, mode))


def file_unlink(dir: u64, name: ptr[u8], n: u64, is_dir: bool) -> i64:
    return i64(qcall(QCALL_UNLINK, dir, pa(u64(name)), n, 1 if is_dir else 0))


def file_rename(odir: u64, oname: ptr[u8], on: u64, ndir: u64, nname: ptr[u8], nn: u64) -> i64:
    return i64(qcall6(QCALL_RENAME, odir, pa(u64(oname)), on, ndir, pa(u64(nname)), nn))


def file_symlink(dir: u64, name: ptr[u8], n: u64, target: ptr[u8], tn: u64) -> i64:
    return i64(qcall6(QCALL_SYMLINK, dir, pa(u64(name)), n, pa(u64(target)), tn, 0))


def file_truncate(handle: u64, length: u64) -> i64:
    return i64(qcall(QCALL_TRUNCATE, handle, length, 0, 0))


def file_setattr(handle: u64, what: u64, a: u64, b: u64) -> i64:
    """chmod (SETATTR_MODE, a = mode), chown (SETATTR_OWNER, a = uid, b = gid), times
    (SETATTR_TIMES, a = atime ns, b = mtime ns; UTIME_OMIT_NS keeps one)."""
    return i64(qcall(QCALL_SETATTR, handle, what, a, b))


# ---- the asynchronous ring's control calls (the ring itself: qkernel/task/hostio.py)

def ring_setup(ring_phys: u64, entries: u64, flags: u64) -> i64:
    """Registers the ring at ring_phys with the host: the features granted, or -errno."""
    return i64(qcall(QCALL_RING_SETUP, ring_phys, entries, flags, 0))


def ring_kick() -> i64:
    """Tells the host new submissions wait (while it sets RING_NEED_KICK): SQEs it took."""
    return i64(qcall(QCALL_RING_KICK, 0, 0, 0, 0))


def ring_wait(timeout_ns: u64) -> i64:
    """The idle loop's wait: completions pending, once one is posted or the timeout (capped by
    the host) passed."""
    return i64(qcall(QCALL_RING_WAIT, timeout_ns, 0, 0, 0))


def ring_teardown() -> i64:
    return i64(qcall(QCALL_RING_TEARDOWN, 0, 0, 0, 0))
