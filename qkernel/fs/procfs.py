"""/proc: the kernel's own view of its processes and mounts, made when read (the host's /proc is
never seen: qvisor refuses it).

  /proc/self            -> the caller's pid          /proc/mounts -> self/mounts
  /proc/PID/exe, cwd, root   symlinks (the executable, the working directory, "/")
  /proc/PID/cmdline, environ the process's argv and envp strings, read from its memory
  /proc/PID/comm, stat, status, mounts
  /proc/PID/maps        its VMAs, one line each, in Linux's format (fs/proc/task_mmu.c)
  /proc/PID/fd/N        -> what descriptor N is open on (a path; pipe:[ino]; the console)
  /proc/meminfo, uptime, version

Names here change as processes and descriptors come and go, so their dentries are looked up
again at every walk (D_VOLATILE); an inode's Inode.priv says what it is (kind << 40 | pid) and
priv2 the descriptor of an fd link. A file's text is made when it is opened, into frames the
File holds (File.priv: their physical address with the number of frames in its low bits,
File.priv2: the length; at most TEXT_MAX bytes, maps up to MAPS_PAGES_MAX pages: as many as its
text needs, cut at a line when they cannot be had), so a reader sees one consistent snapshot.
Partial: one process today; the fd links are read as their text (a path walk), not as Linux's
magic links to the open file itself; no /proc/PID/task/ directories (nor their maps) yet.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, kfmt, memcpy, ptr, struct, u8, u16, u64
from qkernel.fs import anon, fdtable, namei, node
from qkernel.fs.node import (D_LOOKED, D_PINNED, D_VOLATILE, Dentry, File, FileOps, Inode, InodeOps,
                             Mount, iput, new_inode)
from qkernel.lib import fmt
from qkernel.linux.errno import EACCES, EFAULT, EINVAL, ENOENT, ENOMEM
from qkernel.linux.stat import S_IFDIR, S_IFLNK, S_IFREG
from qkernel.linux.uio import DIRENT64_NAME, Dirent64
from qkernel.mm import frames
from qkernel.mm.addr import va
from qkernel.mm.vma import VM_HEAP, VM_SHARED, VM_SPECIAL, VM_STACK, VM_GROWSDOWN, AddressSpace, Vma, vma_at
from qkernel.linux.mman import PROT_READ, PROT_WRITE, PROT_EXEC
from qkernel.mm.uaccess import copy_from_user, copy_to_user, range_ok
from qkernel.task import clock
from qkernel.task.process import Process
from qkernel.task.task import Task

TEXT_PAGES: Final = 4
TEXT_MAX: Final = TEXT_PAGES * 4096
MAPS_PAGES_MAX: Final = 32      # /proc/PID/maps: up to 128 KiB (256 bytes a line at MAX_VMAS)
PAGES_BITS: Final = 0xFFF       # File.priv's low bits: how many frames the text has
MAPS_NAME_COL: Final = 73       # where a maps line's name starts (seq_setwidth 25 + 6 * 8 - 1, a space)
# Scratch offset of a link's text (p_readlink) and of the paths a file's text is put together
# from (4 KiB each): after the walk's buffers, before lower's path buffer (61440); the task's
# scratch ends at 65536 (SCRATCH_SIZE).
OUT_BUF: Final = 49152

# kinds (Inode.priv >> 40)
K_ROOT: Final = 1
K_SELF: Final = 2
K_MOUNTS_LINK: Final = 3
K_MEMINFO: Final = 4
K_UPTIME: Final = 5
K_VERSION: Final = 6
K_PID: Final = 10
K_EXE: Final = 11
K_CWD: Final = 12
K_ROOTLINK: Final = 13
K_CMDLINE: Final = 14
K_ENVIRON: Final = 15
K_COMM: Final = 16
K_STAT: Final = 17
K_STATUS: Final = 18
K_MOUNTS: Final = 19
K_FDDIR: Final = 20
K_MAPS: Final = 21
K_FD: Final = 22

ROOT_NAMES: Final = 5           # entries of root_list()


@struct
class Out:
    """A text being made: cap bytes at buf (what does not fit is cut, and cut set). With buf
    NULL only its length is counted (up to cap)."""
    buf: ptr[u8]
    len: u64
    cap: u64
    cut: u64


def put(o: ptr[Out], s: ptr[u8], n: u64) -> None:
    k: u64 = 0
    while k < n and o.len < o.cap:
        if o.buf != NULL:
            o.buf[o.len] = s[k]
        o.len += 1
        k += 1
    if k < n:
        o.cut = 1


def putc(o: ptr[Out], c: u64) -> None:
    ch: u8 = u8(c)
    put(o, addr_of(ch), 1)


def puts(o: ptr[Out], s: ptr[u8]) -> None:
    n: u64 = 0
    while s[n] != 0:
        n += 1
    put(o, s, n)


def putline(o: ptr[Out], ln: ptr[fmt.Line]) -> None:
    put(o, addr_of(ln.data[0]), ln.len)
    fmt.clear(ln)


# ---- what names what ------------------------------------------------------------------------

def kind_of(i: ptr[Inode]) -> u64:
    return i.priv >> 40


def pid_of(i: ptr[Inode]) -> u64:
    return i.priv & 0xFF_FFFF_FFFF


def find(t: ptr[Task], pid: u64) -> ptr[Process]:
    """The process with this pid (a walk of the process tree from the top), or NULL."""
    top = t.process
    while top.parent != NULL:
        top = top.parent
    p = top
    while p != NULL:
        if p.pid == pid:
            return p
        if p.first_child != NULL:
            p = p.first_child
            continue
        while p != NULL and p.next_sibling == NULL:
            p = p.parent
        if p != NULL:
            p = p.next_sibling
    return NULL


def parse_num(name: ptr[u8], n: u64) -> i64:
    """A decimal name ("12") as a number, -1 when it is not one."""
    if n == 0 or n > 18:
        return -1
    v: i64 = 0
    for k in range(n):
        c = name[k]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + i64(c - 48)
    return v


def name_is(name: ptr[u8], n: u64, want: ptr[u8]) -> bool:
    k: u64 = 0
    while k < n:
        if want[k] != name[k]:
            return False
        k += 1
    return want[n] == 0


def make(t: ptr[Task], m: ptr[Mount], kind: u64, pid: u64, fd: u64) -> ptr[Inode]:
    mode: u64 = S_IFREG | 0o444
    if kind == K_ROOT or kind == K_PID or kind == K_FDDIR:
        mode = S_IFDIR | 0o555
    elif kind == K_SELF or kind == K_MOUNTS_LINK or kind == K_EXE or kind == K_CWD or \
            kind == K_ROOTLINK or kind == K_FD:
        mode = S_IFLNK | 0o777
    elif kind == K_ENVIRON:
        mode = S_IFREG | 0o400
    fops: ptr[FileOps] = addr_of(TEXT_OPS)
    if mode & 0o170000 == S_IFDIR:
        fops = addr_of(DIR_OPS)
    elif mode & 0o170000 == S_IFLNK:
        fops = NULL
    i = new_inode(m, mode, addr_of(PROC_IOPS), fops)
    if i == NULL:
        return NULL
    i.priv = (kind << 40) | pid
    i.priv2 = fd
    i.st.st_ino = (pid << 24) | (kind << 16) | (fd & 0xFFFF)
    i.st.st_nlink = 2 if mode & 0o170000 == S_IFDIR else 1
    i.refs = 1
    return i


def root_list() -> ptr[u8]:
    """The root's fixed names, NUL-separated, in listing order."""
    return b"self\0mounts\0meminfo\0uptime\0version\0"


def pid_list() -> ptr[u8]:
    """A process directory's names, in K_EXE.. order."""
    return b"exe\0cwd\0root\0cmdline\0environ\0comm\0stat\0status\0mounts\0fd\0maps\0"


def kind_in_root(name: ptr[u8], n: u64) -> u64:
    if name_is(name, n, b"self"):
        return K_SELF
    if name_is(name, n, b"mounts"):
        return K_MOUNTS_LINK
    if name_is(name, n, b"meminfo"):
        return K_MEMINFO
    if name_is(name, n, b"uptime"):
        return K_UPTIME
    if name_is(name, n, b"version"):
        return K_VERSION
    return 0


def kind_in_pid(name: ptr[u8], n: u64) -> u64:
    list = pid_list()
    k: u64 = 0
    kind: u64 = K_EXE
    while list[k] != 0:
        s = k
        while list[k] != 0:
            k += 1
        if k - s == n and name_is(name, n, list + s):
            return kind
        k += 1
        kind += 1
    return 0


def p_lookup(t: ptr[Task], di: ptr[Inode], d: ptr[Dentry]) -> i64:
    """Looked up at every walk (D_VOLATILE): the name's inode as things are now."""
    name = addr_of(d.name[0])
    n = d.name_len
    kind: u64 = 0
    pid = pid_of(di)
    fd: u64 = 0
    dk = kind_of(di)
    if dk == K_ROOT:
        kind = kind_in_root(name, n)
        if kind == 0:
            v = parse_num(name, n)
            if v > 0 and find(t, u64(v)) != NULL:
                kind = K_PID
                pid = u64(v)
    elif dk == K_PID:
        kind = kind_in_pid(name, n)
    elif dk == K_FDDIR:
        v = parse_num(name, n)
        p = find(t, pid)
        if v >= 0 and p != NULL and fdtable.get(p, u64(v)) != NULL:
            kind = K_FD
            fd = u64(v)
    old = d.inode
    d.flags |= D_VOLATILE
    if old != NULL and kind == kind_of(old) and pid == pid_of(old) and fd == old.priv2:
        return 0
    d.inode = NULL
    if old != NULL:
        old.st.st_nlink = 0
        iput(old)
    if kind == 0:
        return 0
    i = make(t, d.mnt, kind, pid, fd)
    if i == NULL:
        return -ENOMEM
    d.inode = i
    return 0


# ---- links ----------------------------------------------------------------------------------

def p_get_file(t: ptr[Task], i: ptr[Inode]) -> u64:
    """/proc/PID/fd/N is a magic link (InodeOps.get_file): the File itself; the others are
    ordinary links."""
    if kind_of(i) != K_FD:
        return 0
    p = find(t, pid_of(i))
    if p == NULL:
        return 0
    return u64(fdtable.get(p, i.priv2))


def p_readlink(t: ptr[Task], i: ptr[Inode], buf: ptr[u8], size: u64) -> i64:
    o: Out = Out()
    o.buf = t.scratch + OUT_BUF
    o.cap = 4096
    ln: fmt.Line = fmt.Line()
    kind = kind_of(i)
    p = find(t, pid_of(i))
    if kind == K_SELF:
        kfmt(addr_of(ln), b"%u", t.process.pid)
        putline(addr_of(o), addr_of(ln))
    elif kind == K_MOUNTS_LINK:
        puts(addr_of(o), b"self/mounts")
    elif p == NULL:
        return -ENOENT
    elif kind == K_EXE:
        put(addr_of(o), addr_of(p.exe[0]), p.exe_len)
    elif kind == K_ROOTLINK:
        puts(addr_of(o), b"/")
    elif kind == K_CWD:
        c: namei.Path = namei.Path()
        c.mnt = cast(ptr[Mount], p.cwd_mnt)
        c.d = cast(ptr[Dentry], p.cwd_dentry)
        r = namei.d_path(addr_of(c), o.buf, 4096)
        if r < 0:
            return r
        o.len = u64(r)
    elif kind == K_FD:
        f = fdtable.get(p, i.priv2)
        if f == NULL:
            return -ENOENT
        fp: namei.Path = namei.Path()
        if namei.file_path(f, addr_of(fp)):
            r = namei.d_path(addr_of(fp), o.buf, 4096)
            if r < 0:
                return r
            o.len = u64(r)
            if f.dentry.inode == NULL or f.inode.st.st_nlink == 0:
                puts(addr_of(o), b" (deleted)")    # d_path's mark of an unlinked file
        elif f.inode != NULL and f.inode.st.st_dev == anon.ANON_DEV:
            puts(addr_of(o), f.inode.link)
        elif f.inode != NULL:
            kfmt(addr_of(ln), b"pipe:[%u]", f.inode.st.st_ino)
            putline(addr_of(o), addr_of(ln))
        else:
            puts(addr_of(o), b"/dev/console")
    else:
        return -EINVAL
    n = o.len if o.len < size else size
    memcpy(buf, o.buf, n)
    return i64(n)


# ---- texts ----------------------------------------------------------------------------------

def user_strings(t: ptr[Task], p: ptr[Process], start: u64, end: u64, o: ptr[Out]) -> None:
    """The bytes [start, end) of p's memory (its argv or envp strings); the caller's own only
    (another address space is not reachable from here yet)."""
    if p != t.process or end <= start:
        return
    n = end - start
    if n > o.cap:
        n = o.cap
    if copy_from_user(o.buf, start, n) == 0:
        o.len = n


def mounts_text(t: ptr[Task], o: ptr[Out]) -> None:
    from_root: namei.Path = namei.Path()
    m = node.mount_list
    ln: fmt.Line = fmt.Line()
    path = t.scratch + OUT_BUF      # o.buf is the File's frames (t_open), not scratch
    while m != NULL:
        put(o, addr_of(m.source[0]), fmt.strlen(addr_of(m.source[0])))
        puts(o, b" ")
        if m.parent == NULL:
            puts(o, b"/")
        else:
            from_root.mnt = m.parent
            from_root.d = m.mountpoint
            r = namei.d_path(addr_of(from_root), path, 4096)
            if r > 0:
                put(o, path, u64(r))
        kfmt(addr_of(ln), b" %s %s 0 0\n", m.fstype, b"ro,relatime" if m.flags & 1 != 0 else b"rw,relatime")
        putline(o, addr_of(ln))
        m = m.next


# ---- /proc/PID/maps -------------------------------------------------------------------------

def put_hex(o: ptr[Out], v: u64, width: u64) -> None:
    """v in lowercase hex, zero-padded to at least `width` digits (seq_put_hex_ll)."""
    digits: array[u8, 16] = array[u8, 16]()
    n: u64 = 0
    while n == 0 or v != 0:
        d = v & 15
        digits[n] = u8(d + 48 if d < 10 else d + 87)
        n += 1
        v = v >> 4
    while n < width:
        putc(o, 48)
        width -= 1
    while n > 0:
        n -= 1
        putc(o, u64(digits[n]))


def put_dec(o: ptr[Out], v: u64) -> None:
    ln: fmt.Line = fmt.Line()
    fmt.put_dec(addr_of(ln), v)
    putline(o, addr_of(ln))


def put_path(o: ptr[Out], s: ptr[u8], n: u64) -> None:
    """A path as seq_path(m, path, "\\n") writes it: a newline in it as \\012."""
    for k in range(n):
        if s[k] == 10:
            puts(o, b"\\012")
        else:
            putc(o, u64(s[k]))


def major_of(dev: u64) -> u64:
    """The major number of a stat st_dev (glibc's gnu_dev_major)."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & 0xFFFFF000)


def minor_of(dev: u64) -> u64:
    return (dev & 0xFF) | ((dev >> 12) & 0xFFFFFF00)


def is_main_stack(p: ptr[Process], v: ptr[Vma]) -> bool:
    """The VMA of the process's initial stack (Linux's vma_is_initial_stack: the one holding
    start_stack; here its argv strings, which exec put there). MAP_STACK alone is not it:
    thread stacks are mapped so too."""
    if p.arg_start != 0:
        return v.start <= p.arg_start and p.arg_start < v.end
    return v.flags & (VM_STACK | VM_GROWSDOWN) == VM_STACK | VM_GROWSDOWN


def maps_line(t: ptr[Task], p: ptr[Process], v: ptr[Vma], o: ptr[Out]) -> None:
    """One line of show_map_vma: "start-end perms offset major:minor inode " then, for a named
    mapping, spaces to column MAPS_NAME_COL and the name."""
    line_start = o.len
    put_hex(o, v.start, 8)
    putc(o, 45)
    put_hex(o, v.end, 8)
    putc(o, 32)
    putc(o, 114 if v.prot & PROT_READ != 0 else 45)
    putc(o, 119 if v.prot & PROT_WRITE != 0 else 45)
    putc(o, 120 if v.prot & PROT_EXEC != 0 else 45)
    putc(o, 115 if v.flags & VM_SHARED != 0 else 112)
    putc(o, 32)
    f = cast(ptr[File], v.file)
    i: ptr[Inode] = NULL
    if f != NULL:
        i = f.inode
    put_hex(o, v.offset if f != NULL else 0, 8)
    putc(o, 32)
    dev: u64 = 0
    ino: u64 = 0
    if i != NULL:
        dev = i.st.st_dev
        ino = i.st.st_ino
    put_hex(o, major_of(dev), 2)
    putc(o, 58)
    put_hex(o, minor_of(dev), 2)
    putc(o, 32)
    put_dec(o, ino)
    putc(o, 32)
    name: ptr[u8] = NULL
    if f == NULL:
        if v.flags & VM_SPECIAL != 0:
            name = b"[vvar]" if v.offset == 0 else b"[vdso]"
        elif v.flags & VM_HEAP != 0:
            name = b"[heap]"
        elif is_main_stack(p, v):
            name = b"[stack]"
        if name == NULL:
            putc(o, 10)
            return
    while o.len - line_start < MAPS_NAME_COL - 1:
        putc(o, 32)
    putc(o, 32)
    if name != NULL:
        puts(o, name)
        putc(o, 10)
        return
    fp: namei.Path = namei.Path()
    if not namei.file_path(f, addr_of(fp)):
        puts(o, b"/dev/zero (deleted)")     # shared anonymous memory (shmem_zero_setup's name)
    else:
        path = t.scratch + OUT_BUF          # o.buf is the File's frames (t_open), not scratch
        r = namei.d_path(addr_of(fp), path, 4096)
        if r > 0:
            put_path(o, path, u64(r))
        if f.dentry.inode == NULL or (i != NULL and i.st.st_nlink == 0):
            puts(o, b" (deleted)")
    putc(o, 10)


def maps_text(t: ptr[Task], p: ptr[Process], o: ptr[Out]) -> None:
    """Every VMA of p's address space in address order, whole lines only: a line that does
    not fit is left out with all after it."""
    mm: ptr[AddressSpace] = p.mm
    if mm == NULL:
        return
    for k in range(mm.count):
        before = o.len
        maps_line(t, p, vma_at(mm, k), o)
        if o.cut != 0:
            o.len = before
            return


def text(t: ptr[Task], i: ptr[Inode], o: ptr[Out]) -> i64:
    """The text of file inode i into o."""
    kind = kind_of(i)
    ln: fmt.Line = fmt.Line()
    if kind == K_MEMINFO:
        total = frames.nframes * 4
        free = frames.nfree * 4
        kfmt(addr_of(ln), b"MemTotal:       %u kB\nMemFree:        %u kB\n", total, free)
        putline(o, addr_of(ln))
        kfmt(addr_of(ln), b"MemAvailable:   %u kB\nBuffers:        0 kB\nCached:         0 kB\n", free)
        putline(o, addr_of(ln))
        puts(o, b"SwapTotal:      0 kB\nSwapFree:       0 kB\n")
        return 0
    if kind == K_VERSION:
        puts(o, b"Linux version 6.1.0-pyquark (pyquark@sandbox) #1 SMP PREEMPT_DYNAMIC\n")
        return 0
    if kind == K_UPTIME:
        top = t.process
        while top.parent != NULL:
            top = top.parent
        ns = clock.mono_ns() - top.start_ns
        kfmt(addr_of(ln), b"%u.%u%u 0.00\n", ns // 1000000000, ns // 100000000 % 10, ns // 10000000 % 10)
        putline(o, addr_of(ln))
        return 0
    p = find(t, pid_of(i))
    if p == NULL:
        return -ENOENT
    if kind == K_CMDLINE:
        user_strings(t, p, p.arg_start, p.arg_end, o)
    elif kind == K_ENVIRON:
        user_strings(t, p, p.env_start, p.env_end, o)
    elif kind == K_COMM:
        puts(o, addr_of(p.name[0]))
        puts(o, b"\n")
    elif kind == K_STAT:
        kfmt(addr_of(ln), b"%u (%s) R %u %u %u 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 %u 0 0 0 0 ",
             p.pid, addr_of(p.name[0]), p.ppid, p.pgid, p.sid, p.nthreads)
        putline(o, addr_of(ln))
        puts(o, b"18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
    elif kind == K_STATUS:
        kfmt(addr_of(ln), b"Name:\t%s\nState:\tR (running)\nTgid:\t%u\nNgid:\t0\nPid:\t%u\nPPid:\t%u\n",
             addr_of(p.name[0]), p.pid, p.pid, p.ppid)
        putline(o, addr_of(ln))
        kfmt(addr_of(ln), b"TracerPid:\t0\nUid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", u64(p.creds.uid),
             u64(p.creds.euid), u64(p.creds.suid), u64(p.creds.fsuid), u64(p.creds.gid),
             u64(p.creds.egid), u64(p.creds.sgid), u64(p.creds.fsgid))
        putline(o, addr_of(ln))
        kfmt(addr_of(ln), b"FDSize:\t%u\nThreads:\t%u\n", p.files.cap, p.nthreads)
        putline(o, addr_of(ln))
    elif kind == K_MOUNTS:
        mounts_text(t, o)
    elif kind == K_MAPS:
        maps_text(t, p, o)
    else:
        return -EINVAL
    return 0


def free_pages(phys: u64, pages: u64) -> None:
    for k in range(pages):
        frames.free(phys + k * 4096)


def t_open(t: ptr[Task], f: ptr[File]) -> i64:
    """The snapshot of the text, made now (File.priv: frames | their number, priv2: length).
    A maps text is measured first and gets the frames it needs, up to MAPS_PAGES_MAX (fewer
    when no such run is free: it is then cut at a line)."""
    if f.ops != addr_of(TEXT_OPS):
        return 0
    o: Out = Out()
    pages: u64 = TEXT_PAGES
    if kind_of(f.inode) == K_MAPS:
        o.cap = MAPS_PAGES_MAX * 4096
        r = text(t, f.inode, addr_of(o))          # o.buf NULL: its length only
        if r < 0:
            return r
        pages = (o.len + 4095) // 4096
        if pages < TEXT_PAGES:
            pages = TEXT_PAGES
    phys = frames.alloc_contig(pages)
    if phys == 0 and pages > TEXT_PAGES:
        pages = TEXT_PAGES
        phys = frames.alloc_contig(pages)
    if phys == 0:
        return -ENOMEM
    o.buf = cast(ptr[u8], va(phys))
    o.len = 0
    o.cap = pages * 4096
    o.cut = 0
    r = text(t, f.inode, addr_of(o))
    if r < 0:
        free_pages(phys, pages)
        return r
    f.priv = phys | pages
    f.priv2 = o.len
    return 0


def t_read(t: ptr[Task], f: ptr[File], buf: u64, n: u64, pos: ptr[u64]) -> i64:
    if pos[0] >= f.priv2:
        return 0
    if n > f.priv2 - pos[0]:
        n = f.priv2 - pos[0]
    if copy_to_user(buf, cast(ptr[u8], va(f.priv & ~u64(PAGES_BITS))) + pos[0], n) != 0:
        return -EFAULT
    pos[0] += n
    return i64(n)


def t_release(f: ptr[File]) -> None:
    if f.priv != 0:
        free_pages(f.priv & ~u64(PAGES_BITS), f.priv & PAGES_BITS)
        f.priv = 0


def t_llseek(f: ptr[File], offset: i64, whence: u64) -> i64:
    if whence != 0 and whence != 1:
        return -EINVAL
    new = offset if whence == 0 else i64(f.pos) + offset
    if new < 0:
        return -EINVAL
    f.pos = u64(new)
    return new


# ---- directories ----------------------------------------------------------------------------

def emit(out: ptr[u8], room: u64, used: ptr[u64], ino: u64, pos: u64, dtype: u64, name: ptr[u8], n: u64) -> bool:
    reclen = (DIRENT64_NAME + n + 1 + 7) // 8 * 8
    if used[0] + reclen > room:
        return False
    e = cast(ptr[Dirent64], out + used[0])
    e.d_ino = ino
    e.d_off = i64(pos)
    e.d_reclen = u16(reclen)
    e.d_type = u8(dtype)
    memcpy(out + used[0] + DIRENT64_NAME, name, n)
    for k in range(DIRENT64_NAME + n, reclen):
        out[used[0] + k] = 0
    used[0] += reclen
    return True


def names_emit(list: ptr[u8], first: u64, f: ptr[File], out: ptr[u8], room: u64, used: ptr[u64],
               base_ino: u64) -> bool:
    """Entries `first`.. of a NUL-separated list, from position f.pos; False when out is full."""
    k: u64 = 0
    idx = first
    while list[k] != 0:
        s = k
        while list[k] != 0:
            k += 1
        if idx >= f.pos:
            dtype: u64 = 8
            if name_is(list + s, k - s, b"fd"):
                dtype = 4
            elif name_is(list + s, k - s, b"self") or name_is(list + s, k - s, b"exe") or \
                    name_is(list + s, k - s, b"cwd") or name_is(list + s, k - s, b"root") or \
                    (name_is(list + s, k - s, b"mounts") and first == 2 and base_ino == 1):
                dtype = 10
            if not emit(out, room, used, base_ino + idx, idx + 1, dtype, list + s, k - s):
                return False
            f.pos = idx + 1
        k += 1
        idx += 1
    return True


def d_getdents(t: ptr[Task], f: ptr[File], buf: u64, count: u64) -> i64:
    if not range_ok(buf, count, True):
        return -EFAULT
    out = t.scratch
    room = count if count < 32768 else 32768
    used: u64 = 0
    i = f.inode
    kind = kind_of(i)
    ln: fmt.Line = fmt.Line()
    if f.pos == 0:
        if not emit(out, room, addr_of(used), i.st.st_ino, 1, 4, b".", 1):
            return -EINVAL
        f.pos = 1
    if f.pos == 1:
        if emit(out, room, addr_of(used), 1, 2, 4, b"..", 2):
            f.pos = 2
    full = f.pos < 2
    if not full and kind == K_ROOT:
        full = not names_emit(root_list(), 2, f, out, room, addr_of(used), 1)
        if not full:
            p = find(t, t.process.pid)
            # the processes: one today (the tree walk of find() lists them all later)
            if p != NULL and f.pos <= 2 + ROOT_NAMES:
                kfmt(addr_of(ln), b"%u", p.pid)
                if emit(out, room, addr_of(used), p.pid << 24, 2 + ROOT_NAMES + 1, 4, addr_of(ln.data[0]), ln.len):
                    f.pos = 2 + ROOT_NAMES + 1
                fmt.clear(addr_of(ln))
    elif not full and kind == K_PID:
        full = not names_emit(pid_list(), 2, f, out, room, addr_of(used), i.st.st_ino)
    elif not full and kind == K_FDDIR:
        p = find(t, pid_of(i))
        fd = f.pos - 2
        while p != NULL and fd < p.files.cap:
            if fdtable.get(p, fd) != NULL:
                kfmt(addr_of(ln), b"%u", fd)
                ok = emit(out, room, addr_of(used), i.st.st_ino + fd + 1, fd + 3, 10, addr_of(ln.data[0]), ln.len)
                fmt.clear(addr_of(ln))
                if not ok:
                    break
            fd += 1
            f.pos = fd + 2
    if used == 0 and full:
        return -EINVAL
    if used > 0 and copy_to_user(buf, out, used) != 0:
        return -EFAULT
    return i64(used)


def p_prepare_write(t: ptr[Task], i: ptr[Inode]) -> i64:
    return -EACCES         # nothing here is written to (yet)


PROC_IOPS: InodeOps = InodeOps(lookup=p_lookup, readlink=p_readlink, get_file=p_get_file, open=t_open,
                               prepare_write=p_prepare_write)
TEXT_OPS: FileOps = FileOps(read=t_read, release=t_release, llseek=t_llseek)
DIR_OPS: FileOps = FileOps(getdents=d_getdents, llseek=t_llseek)


def make_root(t: ptr[Task], m: ptr[Mount]) -> i64:
    i = make(t, m, K_ROOT, 0, 0)
    if i == NULL:
        return -ENOMEM
    m.root.inode = i
    m.root.flags = D_LOOKED | D_PINNED
    return 0
