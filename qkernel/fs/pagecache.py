"""File data in guest memory: each inode's pages (Inode.pages[i] = the frame holding bytes
[i*4096, (i+1)*4096), 0 when absent).

One mechanism for two uses: the cache of lower (host) files, filled from the host a page at a
time on first read so that a hot file costs no host call; and the data of in-memory files
(tmpfs, the overlay's upper layer), where an absent page is a hole that reads as zeros. A lower
file is copied up (every page read, then I_UPPER) before its first write.

Bounds: cached pages of lower files take at most a quarter of guest memory (CACHE_SHARE);
beyond it, reads of lower files go through the task's scratch buffer uncached. In-memory file
data is bounded by guest memory itself (writes past it: -ENOSPC, as a full tmpfs).
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, cast, i64, memcpy, memset, ptr, u8, u64
from qkernel.fs import lower
from qkernel.fs.node import I_MAPPED, I_UPPER, Inode
from qkernel.linux.errno import EFAULT, EFBIG, ENOMEM, ENOSPC
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.task.task import Task

CACHE_SHARE: Final = 4          # lower-file pages may take 1/CACHE_SHARE of the frames
MAX_FILE_PAGES: Final = 1 << 22  # 16 GiB: the largest in-memory file (-EFBIG beyond)
PATH_BUF: Final = 61440          # scratch offset of the host path lower.handle builds (4 KiB)

cached_lower: u64 = 0            # pages of lower files in the cache


def slots(i: ptr[Inode], need: u64) -> i64:
    """Makes i.pages hold at least `need` entries (doubling, in contiguous frames); 0 or -errno."""
    if need <= i.npages:
        return 0
    if need > MAX_FILE_PAGES:
        return -EFBIG
    cap = i.npages if i.npages != 0 else PAGE_SIZE // 8
    while cap < need:
        cap *= 2
    nframes = cap * 8 // PAGE_SIZE
    phys = frames.alloc_contig(nframes)
    if phys == 0:
        return -ENOMEM
    for k in range(nframes):
        frames.zero(phys + k * PAGE_SIZE)
    table = cast(ptr[u64], va(phys))
    if i.pages != NULL:
        memcpy(cast(ptr[u8], table), cast(ptr[u8], i.pages), i.npages * 8)
        free_table(i)
    i.pages = table
    i.npages = cap
    return 0


def free_table(i: ptr[Inode]) -> None:
    base = u64(i.pages) - va(0)
    for k in range(i.npages * 8 // PAGE_SIZE):
        frames.free(base + k * PAGE_SIZE)


def present(i: ptr[Inode], idx: u64) -> u64:
    if idx >= i.npages:
        return 0
    return i.pages[idx]


def fill(t: ptr[Task], i: ptr[Inode], idx: u64) -> i64:
    """The frame of page idx of lower inode i, read from the host now if need be: its physical
    address, 0 when the cache is full (the caller reads uncached), or -errno."""
    global cached_lower
    phys = present(i, idx)
    if phys != 0:
        return i64(phys)
    if cached_lower >= frames.nframes // CACHE_SHARE:
        return 0
    r = slots(i, idx + 1)
    if r < 0:
        return 0 if r == -ENOMEM else r
    h = lower.handle(i, t.scratch + PATH_BUF)
    if h < 0:
        return h
    r = read_page(u64(h), i, idx)
    if r == -ENOSPC:
        return 0
    if r > 0:
        cached_lower += 1
    return r


def read_page(h: u64, i: ptr[Inode], idx: u64) -> i64:
    """Page idx of host handle h read into a new frame, which becomes i.pages[idx] (the tail
    past the end zeroed): its physical address, -ENOSPC (no frame) or the host's -errno."""
    phys = frames.alloc()
    if phys == 0:
        return -ENOSPC
    n = qcall.file_pread_frame(h, phys, PAGE_SIZE, idx * PAGE_SIZE)
    if n < 0:
        frames.free(phys)
        return n
    if u64(n) < PAGE_SIZE:
        memset(cast(ptr[u8], va(phys)) + u64(n), 0, PAGE_SIZE - u64(n))
    i.pages[idx] = phys
    return i64(phys)


def read_uncached(t: ptr[Task], i: ptr[Inode], dst: u64, n: u64, pos: u64, kernel: bool) -> i64:
    """Host preads, the cache being full: into the user's buffer through scratch, or straight
    into kernel memory a page of dst at a time (dst is contiguous physically within one)."""
    h = lower.handle(i, t.scratch + PATH_BUF)
    if h < 0:
        return h
    if kernel:
        room = PAGE_SIZE - (dst & (PAGE_SIZE - 1))
        return qcall.file_pread(u64(h), cast(ptr[u8], dst), n if n < room else room, pos)
    if n > PATH_BUF:
        n = PATH_BUF
    r = qcall.file_pread(u64(h), t.scratch, n, pos)
    if r <= 0:
        return r
    if copy_to_user(dst, t.scratch, u64(r)) != 0:
        return -EFAULT
    return r


def put(t: ptr[Task], dst: u64, phys: u64, off: u64, n: u64, kernel: bool) -> i64:
    """n bytes of the page at phys (from off; phys 0: a hole, zeros) to dst; 0 or -EFAULT."""
    if kernel:
        if phys == 0:
            memset(cast(ptr[u8], dst), 0, n)
        else:
            memcpy(cast(ptr[u8], dst), cast(ptr[u8], va(phys)) + off, n)
        return 0
    if phys == 0:
        return clear_user(t, dst, n)
    return copy_to_user(dst, cast(ptr[u8], va(phys)) + off, n)


def copy_out(t: ptr[Task], i: ptr[Inode], dst: u64, n: u64, pos: u64, kernel: bool) -> i64:
    """A regular file's bytes from pos to dst (a user address, or kernel memory): the count
    copied, or -errno when nothing was."""
    size = u64(i.st.st_size)
    if pos >= size or n == 0:
        return 0
    if n > size - pos:
        n = size - pos
    upper = i.iflags & I_UPPER != 0
    done: u64 = 0
    while done < n:
        at = pos + done
        idx = at // PAGE_SIZE
        off = at % PAGE_SIZE
        chunk = PAGE_SIZE - off
        if chunk > n - done:
            chunk = n - done
        phys: u64 = 0
        if upper:
            phys = present(i, idx)
        else:
            r = fill(t, i, idx)
            if r < 0:
                return i64(done) if done > 0 else r
            if r == 0:
                r = read_uncached(t, i, dst + done, chunk, at, kernel)
                if r <= 0:
                    return i64(done) if done > 0 else r
                done += u64(r)
                continue
            phys = u64(r)
        if put(t, dst + done, phys, off, chunk, kernel) != 0:
            return i64(done) if done > 0 else -EFAULT
        done += chunk
    return i64(done)


def read(t: ptr[Task], i: ptr[Inode], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    """read(2) of a regular file's data from pos[0] (advanced by what was read)."""
    r = copy_out(t, i, buf, n, pos[0], False)
    if r > 0:
        pos[0] += u64(r)
    return r


def read_kernel(t: ptr[Task], i: ptr[Inode], dst: ptr[u8], n: u64, pos: u64) -> i64:
    """read() into kernel memory (execve's headers, program pages): what it read or -errno."""
    return copy_out(t, i, u64(dst), n, pos, True)


def clear_user(t: ptr[Task], buf: u64, n: u64) -> i64:
    memset(t.scratch, 0, n)
    return copy_to_user(buf, t.scratch, n)


def write(t: ptr[Task], i: ptr[Inode], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    """write(2) into an in-memory file (I_UPPER) at pos[0]; the size grows past the end."""
    if n == 0:
        return 0
    end = pos[0] + n
    if end < pos[0] or (end + PAGE_SIZE - 1) // PAGE_SIZE > MAX_FILE_PAGES:
        return -EFBIG
    r = slots(i, (end + PAGE_SIZE - 1) // PAGE_SIZE)
    if r < 0:
        return -ENOSPC if r == -ENOMEM else r
    done: u64 = 0
    while done < n:
        at = pos[0]
        idx = at // PAGE_SIZE
        off = at % PAGE_SIZE
        chunk = PAGE_SIZE - off
        if chunk > n - done:
            chunk = n - done
        phys = i.pages[idx]
        if phys == 0:
            phys = frames.alloc_zeroed()
            if phys == 0:
                break
            i.pages[idx] = phys
            i.st.st_blocks += PAGE_SIZE // 512
        if copy_from_user(cast(ptr[u8], va(phys)) + off, buf + done, chunk) != 0:
            if done == 0:
                return -EFAULT
            break
        pos[0] += chunk
        done += chunk
        if pos[0] > i.st.st_size:
            i.st.st_size = pos[0]
    if done == 0:
        return -ENOSPC
    return i64(done)


def truncate(i: ptr[Inode], size: u64) -> i64:
    """Sets an in-memory file's size: pages past it freed (zeroed and kept when shared
    mappings may map them: I_MAPPED), the tail of the last one zeroed."""
    keep = (size + PAGE_SIZE - 1) // PAGE_SIZE
    for idx in range(keep, i.npages):
        if i.pages[idx] != 0:
            if i.iflags & I_MAPPED != 0:
                frames.zero(i.pages[idx])
                continue
            frames.free(i.pages[idx])
            i.pages[idx] = 0
            i.st.st_blocks -= PAGE_SIZE // 512
    if size % PAGE_SIZE != 0 and keep - 1 < i.npages and i.pages[keep - 1] != 0:
        off = size % PAGE_SIZE
        memset(cast(ptr[u8], va(i.pages[keep - 1])) + off, 0, PAGE_SIZE - off)
    i.st.st_size = size
    return 0


def allocate(i: ptr[Inode], start: u64, end: u64) -> i64:
    """fallocate of an in-memory file: every page of [start, end) made present (holes become
    zeroed frames); the size is the caller's. 0 or -ENOSPC / -EFBIG."""
    last = (end + PAGE_SIZE - 1) // PAGE_SIZE
    r = slots(i, last)
    if r < 0:
        return -ENOSPC if r == -ENOMEM else r
    for idx in range(start // PAGE_SIZE, last):
        if i.pages[idx] == 0:
            phys = frames.alloc_zeroed()
            if phys == 0:
                return -ENOSPC
            i.pages[idx] = phys
            i.st.st_blocks += PAGE_SIZE // 512
    return 0


def punch(i: ptr[Inode], start: u64, end: u64) -> None:
    """FALLOC_FL_PUNCH_HOLE: the bytes [start, end) of an in-memory file read as zeros after;
    whole pages are freed (zeroed and kept when shared mappings may map them: I_MAPPED)."""
    at = start
    while at < end:
        idx = at // PAGE_SIZE
        if idx >= i.npages:
            return
        off = at % PAGE_SIZE
        chunk = PAGE_SIZE - off
        if chunk > end - at:
            chunk = end - at
        phys = i.pages[idx]
        if phys != 0:
            if chunk == PAGE_SIZE and i.iflags & I_MAPPED == 0:
                frames.free(phys)
                i.pages[idx] = 0
                i.st.st_blocks -= PAGE_SIZE // 512
            else:
                memset(cast(ptr[u8], va(phys)) + off, 0, chunk)
        at += chunk


def shared_page(i: ptr[Inode], idx: u64) -> i64:
    """The frame of page idx of in-memory file i for a shared mapping, made (zeroed) if it was
    a hole: its physical address, or -ENOMEM. i keeps its frames until it goes (I_MAPPED)."""
    r = slots(i, idx + 1)
    if r < 0:
        return r
    i.iflags |= I_MAPPED
    phys = i.pages[idx]
    if phys == 0:
        phys = frames.alloc_zeroed()
        if phys == 0:
            return -ENOMEM
        i.pages[idx] = phys
        i.st.st_blocks += PAGE_SIZE // 512
    return i64(phys)


def release(i: ptr[Inode]) -> None:
    """Frees every page and the table (the inode is going)."""
    global cached_lower
    if i.pages == NULL:
        return
    for idx in range(i.npages):
        if i.pages[idx] != 0:
            frames.free(i.pages[idx])
            if i.iflags & I_UPPER == 0:
                cached_lower -= 1
    free_table(i)
    i.pages = NULL
    i.npages = 0


def copy_up(t: ptr[Task], i: ptr[Inode]) -> i64:
    """Makes lower file i an in-memory file: every page read from the host (bypassing the
    cache's share: the data must be kept), then I_UPPER; 0 or -errno (-ENOSPC: no memory)."""
    global cached_lower
    if i.iflags & I_UPPER != 0:
        return 0
    size = u64(i.st.st_size)
    npages = (size + PAGE_SIZE - 1) // PAGE_SIZE
    r = slots(i, npages)
    if r < 0:
        return -ENOSPC if r == -ENOMEM else r
    h: i64 = -1
    blocks: u64 = 0
    for idx in range(npages):
        if i.pages[idx] != 0:
            cached_lower -= 1      # the page stays, as the file's own
            blocks += 1
            continue
        if h < 0:
            h = lower.handle(i, t.scratch + PATH_BUF)
            if h < 0:
                return h
        r = read_page(u64(h), i, idx)
        if r < 0:
            return r
        blocks += 1
    i.iflags |= I_UPPER
    i.st.st_blocks = blocks * (PAGE_SIZE // 512)
    lower.close_handle(i)
    return 0


def link_target(i: ptr[Inode]) -> ptr[u8]:
    """An in-memory symlink's target (page 0), NUL-terminated; NULL if it has none."""
    if i.npages == 0 or i.pages[0] == 0:
        return NULL
    return cast(ptr[u8], va(i.pages[0]))


def set_link_target(i: ptr[Inode], target: ptr[u8], n: u64) -> i64:
    """Stores a symlink's target (n < PAGE_SIZE bytes) as page 0; 0 or -ENOSPC."""
    r = slots(i, 1)
    if r < 0:
        return -ENOSPC
    phys = i.pages[0]
    if phys == 0:
        phys = frames.alloc_zeroed()
        if phys == 0:
            return -ENOSPC
        i.pages[0] = phys
    dst = cast(ptr[u8], va(phys))
    memcpy(dst, target, n)
    dst[n] = 0
    i.st.st_size = n
    i.iflags |= I_UPPER
    return 0

