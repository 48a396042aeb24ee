"""Data moved between two open files inside the kernel (sendfile, copy_file_range), and the
checks every descriptor-level range call shares.

`transfer` reads from one File and writes to the other through their own FileOps, so any kind
that can be read and any that can be written take part (pipes, the console, tmpfs and overlay
files, rw binds): the bytes go through a few contiguous frames that are the task's transfer
buffer for the duration (Task.kio_base/kio_len: uaccess copies to and from it as if it were
user memory, and no program can name it). A partial write puts the source position back by
what was not written, so no byte is lost or repeated.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import Final, i64, ptr, u64
from qkernel.fs.node import File
from qkernel.linux.errno import ENOMEM
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.task.task import Task

XFER_PAGES: Final = 4                     # the transfer buffer: 16 KiB, one chunk per round
XFER_CHUNK: Final = XFER_PAGES * PAGE_SIZE
MAX_RW_COUNT: Final = 0x7FFF_F000         # Linux's cap on one read/write (INT_MAX & PAGE_MASK)


def transfer(t: ptr[Task], src: ptr[File], spos: ptr[u64], dst: ptr[File], dpos: ptr[u64],
             count: u64) -> i64:
    """Up to `count` bytes from src at spos[0] to dst at dpos[0] (both advanced by what moved):
    the bytes moved, or -errno when nothing moved. Stops at the source's end, a short write
    (a full pipe with O_NONBLOCK, a signal) or an error after some data."""
    phys = frames.alloc_contig(XFER_PAGES)
    if phys == 0:
        return -ENOMEM
    buf = va(phys)
    t.kio_base = buf
    t.kio_len = XFER_CHUNK
    done: u64 = 0
    err: i64 = 0
    while done < count:
        chunk = count - done
        if chunk > XFER_CHUNK:
            chunk = XFER_CHUNK
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
    t.kio_base = 0
    t.kio_len = 0
    for k in range(XFER_PAGES):
        frames.free(phys + u64(k) * PAGE_SIZE)
    if done > 0:
        return i64(done)
    return err
