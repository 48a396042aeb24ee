"""Data moved between two open files inside the kernel: sendfile, copy_file_range, splice and
tee.

`transfer` reads from one File and writes to the other through their own FileOps, so any kind
that can be read and any that can be written take part (pipes, the console, tmpfs and overlay
files, rw binds): the bytes go through a few contiguous frames that are the task's transfer
buffer for the duration (Task.kio_base/kio_len: uaccess copies to and from it as if it were
user memory, and no program can name it). A partial write puts the source position back by
what was not written, so no byte is lost or repeated.

splice has a pipe at one end at least (qkernel/fs/pipe.py's waits and its ring read in place):
from a pipe, the bytes are taken out of it only once the output has them (an output that may
sleep in its write, the console or a rw bind, gets them read out first); to a pipe, no more than
the room it has is read. Both wait as pipe reads and writes do (SPLICE_F_NONBLOCK or O_NONBLOCK
on the pipe: -EAGAIN) and return once something moved. tee copies from one pipe to another and
leaves the bytes in the first.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import Final, addr_of, cast, i64, ptr, u8, u64
from qkernel.fs import memfs, pipe
from qkernel.fs.node import File
from qkernel.linux.errno import ENOMEM
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.task.task import Task

XFER_PAGES: Final = 4                     # the transfer buffer: 16 KiB, one chunk per round
XFER_CHUNK: Final = XFER_PAGES * PAGE_SIZE
MAX_RW_COUNT: Final = 0x7FFF_F000         # Linux's cap on one read/write (INT_MAX & PAGE_MASK)


def take_buffer(t: ptr[Task]) -> u64:
    """The transfer buffer's frames (0: no memory), made the task's kio range."""
    phys = frames.alloc_contig(XFER_PAGES)
    if phys != 0:
        t.kio_base = va(phys)
        t.kio_len = XFER_CHUNK
    return phys


def give_buffer(t: ptr[Task], phys: u64, done: u64, err: i64) -> i64:
    """Frees the transfer buffer; the call's result: the bytes moved, or err when none moved."""
    t.kio_base = 0
    t.kio_len = 0
    for k in range(XFER_PAGES):
        frames.free(phys + u64(k) * PAGE_SIZE)
    if done > 0:
        return i64(done)
    return err


def at_most(a: u64, b: u64) -> u64:
    return a if a < b else b


def splice_from_pipe(t: ptr[Task], fin: ptr[File], fout: ptr[File], dpos: ptr[u64], count: u64,
                     nonblock: bool) -> i64:
    """splice from pipe fin to fout (at dpos[0]): what the pipe holds, up to count, waiting for
    data only while nothing moved; 0 at its end."""
    r = pipe.wait_data(t, fin, nonblock)
    if r <= 0:
        return r
    phys = take_buffer(t)
    if phys == 0:
        return -ENOMEM
    buf = va(phys)
    in_place = pipe.is_pipe(fout) or fout.ops.write == memfs.FILE_OPS.write   # writes never sleep
    done: u64 = 0
    err: i64 = 0
    while done < count:
        chunk = at_most(at_most(count - done, pipe.held(fin)), XFER_CHUNK)
        if chunk == 0:
            break
        if pipe.is_pipe(fout):
            room = pipe.wait_room(t, fout, nonblock or done > 0)
            if room < 0:
                err = room
                break
            chunk = at_most(chunk, u64(room))
        got = pipe.peek(fin, cast(ptr[u8], buf), chunk, 0)
        if not in_place:
            pipe.consume(fin, got)       # out of the pipe before a write that may sleep
        w = fout.ops.write(t, fout, buf, got, dpos)
        if w > 0 and in_place:
            pipe.consume(fin, u64(w))
        if w < 0:
            err = w
            break
        done += u64(w)
        if u64(w) < chunk:
            break
    return give_buffer(t, phys, done, err)


def tee(t: ptr[Task], fin: ptr[File], fout: ptr[File], count: u64, nonblock: bool) -> i64:
    """tee: up to count bytes of pipe fin copied into pipe fout, left in fin."""
    r = pipe.wait_data(t, fin, nonblock)
    if r <= 0:
        return r
    phys = take_buffer(t)
    if phys == 0:
        return -ENOMEM
    buf = va(phys)
    done: u64 = 0
    err: i64 = 0
    unused: u64 = 0
    while done < count:
        room = pipe.wait_room(t, fout, nonblock or done > 0)
        if room < 0:
            err = room
            break
        chunk = at_most(at_most(count - done, u64(room)), XFER_CHUNK)
        got = pipe.peek(fin, cast(ptr[u8], buf), chunk, done)
        if got == 0:
            break
        w = fout.ops.write(t, fout, buf, got, addr_of(unused))
        if w < 0:
            err = w
            break
        done += u64(w)
        if u64(w) < got:
            break
    return give_buffer(t, phys, done, err)


def splice_to_pipe(t: ptr[Task], fin: ptr[File], spos: ptr[u64], fout: ptr[File], count: u64,
                   nonblock: bool) -> i64:
    """splice from fin (at spos[0]) into pipe fout: at most the room it has, waiting for room
    only while nothing moved; 0 at fin's end."""
    unused: u64 = 0
    return copy(t, fin, spos, fout, addr_of(unused), count, True, nonblock)


def transfer(t: ptr[Task], src: ptr[File], spos: ptr[u64], dst: ptr[File], dpos: ptr[u64],
             count: u64) -> i64:
    """Up to `count` bytes from src at spos[0] to dst at dpos[0] (both advanced by what moved):
    the bytes moved, or -errno when nothing moved. Stops at the source's end, a short write
    (a full pipe with O_NONBLOCK, a signal) or an error after some data."""
    return copy(t, src, spos, dst, dpos, count, False, False)


def copy(t: ptr[Task], src: ptr[File], spos: ptr[u64], dst: ptr[File], dpos: ptr[u64], count: u64,
         to_pipe: bool, nonblock: bool) -> i64:
    """transfer's loop; with to_pipe (dst a pipe), each round reads no more than the room dst
    has, waiting for room only while nothing moved."""
    phys = take_buffer(t)
    if phys == 0:
        return -ENOMEM
    buf = va(phys)
    done: u64 = 0
    err: i64 = 0
    while done < count:
        chunk = at_most(count - done, XFER_CHUNK)
        if to_pipe:
            room = pipe.wait_room(t, dst, nonblock or done > 0)
            if room < 0:
                err = room
                break
            chunk = at_most(chunk, u64(room))
        r = src.ops.read(t, src, buf, chunk, spos)
        if r <= 0:
            err = r
            break
        w = dst.ops.write(t, dst, buf, u64(r), dpos)
        if w < 0:
            spos[0] -= u64(r)
            err = w
            break
        done += u64(w)
        if u64(w) < u64(r):
            spos[0] -= u64(r) - u64(w)
            break
        if u64(r) < chunk:
            break
    return give_buffer(t, phys, done, err)
