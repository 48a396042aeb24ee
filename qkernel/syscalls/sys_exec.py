"""execve and execveat: a new program image in the calling process (fs/exec.c, binfmt_elf.c,
binfmt_script.c); the sandbox's first process starts through the same path (qkernel/exec.py).

The program is found by the kernel's own path walk (relative to the cwd or a dirfd, symlinks
followed) and read through its File (FileOps.kread), so whatever the VFS serves can run: the
root's files, the overlay's new ones, binds. Checks are Linux's: a directory or a file without
an execute bit is EACCES, a non-ELF without `#!` ENOEXEC. A `#!` script runs its interpreter
with the optional argument, the script's path, and the remaining arguments (interpreters may
themselves be scripts, MAX_INTERP deep: then ELOOP).

Everything is built before the point of no return: the arguments copied in (argv and envp:
at most ARGS_MAX bytes, -E2BIG beyond), the ELF parsed, a fresh AddressSpace with every PT_LOAD
filled (file bytes copied in, the rest zero) and a stack with argv/envp/auxv. Only then is the
old image dropped: descriptors marked close-on-exec closed, the thread pointer and tid
addresses reset, a vfork parent released, and the trap frame set to enter the new program
(every register zero, as Linux starts one). A failure before that returns -errno to the
caller, whose image is untouched; one after (cannot happen short of a bug) kills it.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import ARGS_MAX, PAGE_SIZE
from qkernel.arch import fpu, percpu, priv
from qkernel.lib import fmt
from qkernel.dialect import NULL, Final, addr_of, array, cast, i32, i64, memcpy, memset, ptr, sizeof, struct, u8, u64
from qkernel.fs import fdtable, namei, node, vfs
from qkernel.fs.node import File
from qkernel.linux.errno import (E2BIG, EACCES, EBADF, EFAULT, EINVAL, ELIBBAD, ELOOP, ENAMETOOLONG,
                                 ENOENT, ENOEXEC, ENOMEM)
from qkernel.linux.fcntl import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_RDONLY
from qkernel.linux.mman import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE
from qkernel.linux.stat import S_IFMT, S_IFREG
from qkernel.loader import elf, stack
from qkernel.mm import fault, frames, mmap, pagetable, vdso, vma
from qkernel.mm.addr import va
from qkernel.mm.uaccess import copy_from_user, copy_to_user, strncpy_from_user
from qkernel.syscalls.sys_wait import drop_mm, exit_process, kill_others, release_vfork
from qkernel.syscalls.table import SyscallArgs
from qkernel.task import family, sched, signals, task
from qkernel.task.process import set_exe, set_name_from_path
from qkernel.task.task import Task

STACK_TOP: Final = 0x7FFF_FFFF_F000        # one page below the user half's end, as Linux
STACK_RESERVE: Final = 8 << 20              # the stack VMA (RLIMIT_STACK)
STACK_EAGER: Final = 32 << 10               # populated now; below that the stack grows on faults
BINPRM_BUF: Final = 256                     # the bytes a `#!` line is read from (Linux's)
MAX_INTERP: Final = 4                       # script interpreters in a chain (BINPRM_MAX_RECURSION)
MAX_ARG_STRLEN: Final = 32 * 4096           # one argument or environment string, NUL included
HWCAP: Final = 0x178BFBFF                   # AT_HWCAP: CPUID.1:EDX of a plain x86-64
RFLAGS_START: Final = 0x202                 # IF, and the reserved bit 1
SIGSEGV_STATUS: Final = 11


@struct
class ExecWork:
    """One exec's working state (frames of its own: too big for a kernel stack)."""
    info: elf.LoadInfo
    params: stack.StackParams
    random: array[u8, 16]
    head: array[u8, 256]       # the file's first BINPRM_BUF bytes (`#!`)
    interp: array[u8, 256]     # a `#!` line's interpreter path, NUL-terminated
    interp_arg: array[u8, 256]  # and its optional argument
    cur: array[u8, 4096]       # the path being opened (PATH_MAX)
    fname: array[u8, 4096]     # the program's name for AT_EXECFN and a script's interpreter: the
    #                            path, or /dev/fd/N[/PATH] for execveat from a descriptor (Linux's)
    exe: array[u8, 256]        # its absolute path (/proc/self/exe)
    nd: namei.Nameidata
    iinfo: elf.LoadInfo        # the ELF interpreter (PT_INTERP: the dynamic loader)
    ind: namei.Nameidata       # its path walk
    ipath: array[u8, 4096]     # its path, NUL-terminated
    interp_failed: u64         # the error came from opening or reading the interpreter
    start_ip: u64              # where the new image starts (the interpreter's entry, if any)


@struct
class ArgBlock:
    """The new program's strings as stack.build reads them: the exe path (AT_EXECFN), argc
    argument strings, envc environment strings and a last string (the first process's working
    directory; "/" for execve), each NUL-terminated, in `len` of `cap` bytes at `buf`."""
    buf: ptr[u8]
    len: u64
    cap: u64
    npages: u64
    argc: u64
    envc: u64


# ---- memory for one exec ---------------------------------------------------------------------

def pages_for(n: u64) -> u64:
    return (n + PAGE_SIZE - 1) // PAGE_SIZE


def alloc_pages(n: u64) -> ptr[u8]:
    """n physically contiguous frames through the direct map, not zeroed (only the bytes
    written are touched: on kvm_pvm a page's first touch costs a shadow-MMU exit); NULL when
    none."""
    phys = frames.alloc_contig(n)
    if phys == 0:
        return cast(ptr[u8], NULL)
    return cast(ptr[u8], va(phys))


def free_pages(p: ptr[u8], n: u64) -> None:
    if p == NULL:
        return
    base = u64(p) - va(0)
    for k in range(n):
        frames.free(base + k * PAGE_SIZE)


# ---- the argument block ----------------------------------------------------------------------

def put_str(b: ptr[ArgBlock], s: ptr[u8], n: u64) -> i64:
    """Appends n bytes and a NUL; -E2BIG when the block is full."""
    if n + 1 > MAX_ARG_STRLEN or b.len + n + 1 > b.cap:
        return -E2BIG
    memcpy(b.buf + b.len, s, n)
    b.buf[b.len + n] = 0
    b.len += n + 1
    return 0


def put_user_strs(b: ptr[ArgBlock], vec: u64, skip: u64, count: ptr[u64]) -> i64:
    """Appends the strings of a user NULL-terminated pointer array (after its first `skip`),
    counting them; -EFAULT or -E2BIG."""
    if vec == 0:
        return 0
    k: u64 = 0
    while True:
        up: u64 = 0
        if copy_from_user(cast(ptr[u8], addr_of(up)), vec + 8 * k, 8) != 0:
            return -EFAULT
        if up == 0:
            return 0
        if k >= skip:
            room = b.cap - b.len
            if room > MAX_ARG_STRLEN:
                room = MAX_ARG_STRLEN
            n = strncpy_from_user(b.buf + b.len, up, room)
            if n == -1:
                return -E2BIG
            if n < 0:
                return -EFAULT
            b.len += u64(n) + 1
            count[0] += 1
        k += 1
        if k > ARGS_MAX // 8:
            return -E2BIG


def new_block(b: ptr[ArgBlock]) -> i64:
    b.npages = pages_for(ARGS_MAX)
    b.buf = alloc_pages(b.npages)
    if b.buf == NULL:
        return -ENOMEM
    b.cap = ARGS_MAX
    b.len = 0
    b.argc = 0
    b.envc = 0
    return 0


def user_block(t: ptr[Task], b: ptr[ArgBlock], path: ptr[u8], n: u64, argv: u64, envp: u64) -> i64:
    """The block of an execve: its path as AT_EXECFN, then the user's argv and envp."""
    r = new_block(b)
    if r < 0:
        return r
    r = put_str(b, path, n)
    if r == 0:
        r = put_user_strs(b, argv, 0, addr_of(b.argc))
    if r == 0:
        r = put_user_strs(b, envp, 0, addr_of(b.envc))
    if r == 0:
        r = put_str(b, b"/", 1)
    return r


# ---- reading the file ------------------------------------------------------------------------

def kread(ctx: u64, offset: u64, dst: ptr[u8], n: u64) -> i64:
    """elf.parse's reader over a File (ctx), into kernel memory."""
    f = cast(ptr[File], ctx)
    return f.ops.kread(task.current, f, dst, n, offset)


def open_exec(t: ptr[Task], nd: ptr[namei.Nameidata], begin: ptr[namei.Path], path: ptr[u8], n: u64,
              follow: bool, out: ptr[ptr[File]]) -> i64:
    """The program at path, opened for reading; -EACCES unless it is a regular file with an
    execute bit and a kind that can be read into the kernel."""
    memcpy(t.scratch + namei.WALK_A, path, n)
    r = namei.walk(t, begin, t.scratch + namei.WALK_A, n, namei.LOOKUP_FOLLOW if follow else 0, nd)
    if r < 0:
        return r
    nd.path.inode = NULL           # the walk sets mnt and d only: no inode left from before
    return open_found(t, nd, out)


def open_found(t: ptr[Task], nd: ptr[namei.Nameidata], out: ptr[ptr[File]]) -> i64:
    """open_exec's checks and open of the file nd.path names (walked, or execveat's
    descriptor with AT_EMPTY_PATH)."""
    i = nd.path.d.inode if nd.path.inode == NULL else nd.path.inode
    if i == NULL:
        return -ENOENT
    mode = u64(i.st.st_mode)
    if mode & S_IFMT != S_IFREG or mode & 0o111 == 0:
        return -EACCES
    f: ptr[File] = NULL
    if nd.path.d.inode == i:
        f = vfs.open_file(t, addr_of(nd.path), O_RDONLY)
    else:
        # a descriptor's file whose name is gone (unlinked): opened on its inode, as the fd is
        f = node.new_file(i.fops, i, O_RDONLY)
        if f != NULL:
            f.dentry = nd.path.d
            f.mnt = nd.path.mnt
            nd.path.d.refs += 1
    if f == NULL:
        return -ENOMEM
    if f.ops.kread == NULL:
        node.fput(f)
        return -EACCES
    if i.iops != NULL and i.iops.open != NULL:
        r = i.iops.open(t, f)
        if r < 0:
            node.fput(f)
            return r
    out[0] = f
    return 0


def is_blank(c: u8) -> bool:
    return c == ord(b" ") or c == ord(b"\t")


def parse_shebang(w: ptr[ExecWork], n: u64) -> i64:
    """A `#!` line in head[0..n): the interpreter into w.interp and its argument (or "") into
    w.interp_arg; 1 when the file is a script, 0 when not, -ENOEXEC for an empty line,
    -ENAMETOOLONG for one that does not fit."""
    h = addr_of(w.head[0])
    if n < 2 or h[0] != ord(b"#") or h[1] != ord(b"!"):
        return 0
    end: u64 = 2
    while end < n and h[end] != 10:
        end += 1
    i: u64 = 2
    while i < end and is_blank(h[i]):
        i += 1
    s = i
    while i < end and not is_blank(h[i]) and h[i] != 0:
        i += 1
    if i == s:
        return -ENOEXEC
    if i - s >= 256:
        return -ENAMETOOLONG
    memcpy(addr_of(w.interp[0]), h + s, i - s)
    w.interp[i - s] = 0
    while i < end and is_blank(h[i]):
        i += 1
    e = end
    while e > i and (is_blank(h[e - 1]) or h[e - 1] == 13 or h[e - 1] == 0):
        e -= 1
    if e - i >= 256:
        return -ENAMETOOLONG
    memcpy(addr_of(w.interp_arg[0]), h + i, e - i)
    w.interp_arg[e - i] = 0
    return 1


def script_block(b: ptr[ArgBlock], w: ptr[ExecWork], script: ptr[u8], n: u64) -> i64:
    """Rewrites the block for the interpreter: argv becomes [interp, (arg,) script, argv[1:]];
    AT_EXECFN, envp and the last string stay."""
    old = b.buf
    old_len = b.len
    nb: ArgBlock = ArgBlock()
    r = new_block(addr_of(nb))
    if r < 0:
        return r
    ilen = stack.find_nul(addr_of(w.interp[0]), 256)
    alen = stack.find_nul(addr_of(w.interp_arg[0]), 256)
    elen = stack.find_nul(old, old_len)
    r = put_str(addr_of(nb), old, elen)             # AT_EXECFN stays the path execve was given
    if r == 0:
        r = put_str(addr_of(nb), addr_of(w.interp[0]), ilen)
        nb.argc = 1
    if r == 0 and alen > 0:
        r = put_str(addr_of(nb), addr_of(w.interp_arg[0]), alen)
        nb.argc += 1
    if r == 0:
        r = put_str(addr_of(nb), script, n)
        nb.argc += 1
    # the old argv[1:] and envp and the last string, as they are
    pos = stack.find_nul(old, old_len) + 1          # past AT_EXECFN
    if r == 0 and b.argc > 0:
        pos += stack.find_nul(old + pos, old_len - pos) + 1   # past argv[0]
    rest = old_len - pos
    if r == 0 and nb.len + rest > nb.cap:
        r = -E2BIG
    if r < 0:
        free_pages(nb.buf, nb.npages)
        return r
    memcpy(nb.buf + nb.len, old + pos, rest)
    nb.len += rest
    nb.argc += b.argc - 1 if b.argc > 0 else 0
    nb.envc = b.envc
    free_pages(b.buf, b.npages)    # npages 0: the boot block, not ours
    memcpy(cast(ptr[u8], b), cast(ptr[u8], addr_of(nb)), sizeof(ArgBlock))
    return 0


# ---- the new image ---------------------------------------------------------------------------

def prot_of(flags: u64) -> u64:
    """PF_R/PF_W/PF_X to PROT_* bits."""
    p: u64 = 0
    if flags & elf.PF_R != 0:
        p |= PROT_READ
    if flags & elf.PF_W != 0:
        p |= PROT_WRITE
    if flags & elf.PF_X != 0:
        p |= PROT_EXEC
    return p


def load_segments(t: ptr[Task], space: ptr[vma.AddressSpace], info: ptr[elf.LoadInfo], f: ptr[File]) -> i64:
    """Maps every PT_LOAD into `space` (not the current one) as Linux's binfmt_elf does: the
    file part as a private file mapping (its pages copied from the page cache at their first
    touch: a program pays for the pages it uses), the rest of the last file page zeroed when
    bss follows (padzero), and the bss beyond as demand-zero memory. A page two segments share
    takes the later one's mapping (MAP_FIXED). 0 or -errno."""
    bias = info.load_bias
    for k in range(info.nloads):
        seg = addr_of(info.loads[k])
        v = seg.vaddr + bias
        lo = v & ~u64(PAGE_SIZE - 1)
        fend = v + seg.filesz
        fhi = vma.page_up(fend)
        mhi = vma.page_up(v + seg.memsz)
        prot = prot_of(seg.flags)
        if seg.filesz > 0:
            r = mmap.map_file(space, lo, fhi - lo, prot, u64(f), seg.offset - (v - lo))
            if r < 0:
                return r
        else:
            fhi = lo
        if mhi > fhi:
            a = mmap.mmap_anon(space, fhi, mhi - fhi, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)
            if vma.is_err(a):
                return i64(a)
        if seg.memsz > seg.filesz and fend & (PAGE_SIZE - 1) != 0:
            r = fault.populate(space, fend & ~u64(PAGE_SIZE - 1), fhi)   # the last file page, now
            if r < 0:
                return r
            frame = pagetable.translate(space.pml4, fend & ~u64(PAGE_SIZE - 1))
            if frame == pagetable.NO_PA:
                return -ENOMEM
            off = fend & (PAGE_SIZE - 1)
            memset(cast(ptr[u8], va(frame)) + off, 0, PAGE_SIZE - off)
    return 0


def open_interp(t: ptr[Task], w: ptr[ExecWork], f: ptr[File], out: ptr[ptr[File]]) -> i64:
    """Opens the main program's PT_INTERP (its path into w.ipath) and parses it into w.iinfo.
    0, the open's -errno (-ENOENT for a missing loader), -ELIBBAD when the interpreter's path
    is not NUL-terminated or the file is not an x86-64 ELF, or -EIO."""
    info = addr_of(w.info)
    n = info.interp_size
    got = f.ops.kread(t, f, addr_of(w.ipath[0]), n, info.interp_offset)
    if got < 0:
        return got
    if u64(got) != n or w.ipath[n - 1] != 0 or stack.find_nul(addr_of(w.ipath[0]), n) == 0:
        return -ELIBBAD
    begin: namei.Path = namei.Path()      # unused for an absolute path
    if w.ipath[0] != ord(b"/"):
        r0 = namei.start(t, AT_FDCWD, addr_of(begin))
        if r0 < 0:
            return r0
    w.interp_failed = 1
    r = open_exec(t, addr_of(w.ind), addr_of(begin), addr_of(w.ipath[0]), n - 1, True, out)
    if r < 0:
        return r
    ii = addr_of(w.iinfo)
    r = elf.parse(ii, kread, u64(out[0]), u64(out[0].inode.st.st_size))
    if r < 0:
        node.fput(out[0])
        if ii.error == elf.ELF_ERR_IO:
            return ii.io_error
        return -ELIBBAD
    w.interp_failed = 0
    return 0


def load_interp(t: ptr[Task], w: ptr[ExecWork], space: ptr[vma.AddressSpace], f: ptr[File]) -> i64:
    """Maps the interpreter w.iinfo describes (opened as f) where a non-fixed mmap of its
    image would go, aligned to its largest segment alignment, as Linux's load_elf_interp;
    0 or -errno."""
    ii = addr_of(w.iinfo)
    span = ii.vaddr_hi - ii.vaddr_lo
    a = vma.get_area(space, 0, span + ii.max_align - PAGE_SIZE, 0)
    if vma.is_err(a):
        return i64(a)
    base = (a + ii.max_align - 1) & ~(ii.max_align - 1)
    if elf.set_load_bias(ii, base - ii.vaddr_lo) < 0:
        return -ENOMEM
    return load_segments(t, space, ii, f)


def build_image(t: ptr[Task], w: ptr[ExecWork], f: ptr[File], b: ptr[ArgBlock],
                space: ptr[vma.AddressSpace], stk: ptr[u8], stk_len: u64) -> i64:
    """The ELF image of f and its stack (built in stk, standing for the top stk_len bytes of
    the stack) in `space`: the initial rsp, or -errno."""
    info = addr_of(w.info)
    r = elf.parse(info, kread, u64(f), u64(f.inode.st.st_size))
    if r < 0:
        if info.error == elf.ELF_ERR_IO:
            return info.io_error
        return -ENOEXEC
    ifile: ptr[File] = NULL
    if info.has_interp:
        r = open_interp(t, w, f, addr_of(ifile))
        if r < 0:
            return r
    r = mmap.init_space(space)
    if r >= 0:
        r = load_segments(t, space, info, f)
    if r >= 0 and ifile != NULL:
        r = load_interp(t, w, space, ifile)
    if ifile != NULL:
        node.fput(ifile)          # the space holds it (vma.hold_file)
    if r < 0:
        return r
    w.start_ip = elf.user_entry(info)
    mmap.set_brk_start(space, info.vaddr_hi + info.load_bias)
    r = mmap.map_stack(space, STACK_TOP - STACK_RESERVE, STACK_RESERVE, STACK_EAGER)
    if r < 0:
        return r
    w.params.sysinfo_ehdr = vdso.map_into(space)     # 0: no vDSO (libc makes system calls)
    qcall.random_bytes(addr_of(w.random[0]), 16)
    prm = addr_of(w.params)
    prm.args = b.buf
    prm.args_len = b.len
    prm.argc = b.argc
    prm.envc = b.envc
    prm.random = addr_of(w.random[0])
    stack.fill_from_load_info(prm, info)
    if info.has_interp:
        prm.base = w.iinfo.load_bias
        w.start_ip = elf.user_entry(addr_of(w.iinfo))
    prm.hwcap = HWCAP
    prm.minsigstksz = 0
    c = addr_of(t.process.creds)
    prm.uid = u64(c.uid)
    prm.euid = u64(c.euid)
    prm.gid = u64(c.gid)
    prm.egid = u64(c.egid)
    return stack.build(stk, stk_len, STACK_TOP, prm)


def commit(t: ptr[Task], w: ptr[ExecWork], space: ptr[vma.AddressSpace], b: ptr[ArgBlock],
           stk: ptr[u8], stk_len: u64, rsp: u64) -> None:
    """The point of no return: t's process takes the new image."""
    p = t.process
    release_vfork(p)
    drop_mm(p)
    p.mm = space
    vma.active = space
    priv.load_cr3(space.pml4)
    used = STACK_TOP - rsp
    if copy_to_user(rsp, stk + (stk_len - used), used) < 0:
        exit_process(t, SIGSEGV_STATUS)
    prm = addr_of(w.params)
    p.arg_start = prm.arg_start
    p.arg_end = prm.arg_end
    p.env_start = prm.env_start
    p.env_end = prm.env_end
    fdtable.close_on_exec(p)
    signals.reset_on_exec(p)
    t.altstack_sp = 0
    t.altstack_size = 0
    t.altstack_flags = 0
    t.fs_base = 0
    percpu.set_fs_base(0)
    fpu.init_area(task.fpu_area(t))             # Linux's initial x87/SSE state (fpu__clear)
    fpu.fxrstor(task.fpu_area(t))
    t.clear_child_tid = 0
    t.robust_list = 0
    t.robust_len = 0
    fr = t.frame
    memset(cast(ptr[u8], fr), 0, 15 * 8)    # the general registers (r15 .. rax)
    fr.rip = w.start_ip
    fr.rsp = rsp
    fr.rflags = RFLAGS_START


def exec_file(t: ptr[Task], w: ptr[ExecWork], begin: ptr[namei.Path], b: ptr[ArgBlock],
              follow: bool, fpath: ptr[namei.Path], hidden: bool) -> i64:
    """Runs the program at w.cur, or the file fpath names when not NULL (execveat with
    AT_EMPTY_PATH), scripts through their interpreter (given w.fname as the script's path; a
    script whose descriptor closes on exec (hidden) cannot be reached by it: -ENOENT, as
    BINPRM_FLAGS_PATH_INACCESSIBLE) with the block's strings; 0 once t has the new image (in
    t.frame), or -errno with t's image untouched."""
    f: ptr[File] = NULL
    depth: u64 = 0
    r: i64 = 0
    while True:
        n = stack.find_nul(addr_of(w.cur[0]), 4096)
        if depth == 0 and fpath != NULL:
            w.nd.path = fpath[0]
            r = open_found(t, addr_of(w.nd), addr_of(f))
        else:
            r = open_exec(t, addr_of(w.nd), begin, addr_of(w.cur[0]), n, follow, addr_of(f))
        if r < 0:
            return r
        got = f.ops.kread(t, f, addr_of(w.head[0]), BINPRM_BUF, 0)
        if got < 0:
            node.fput(f)
            return got
        r = parse_shebang(w, u64(got))
        if r <= 0:
            break
        node.fput(f)
        if depth == 0 and hidden:
            return -ENOENT
        depth += 1
        if depth > MAX_INTERP:
            return -ELOOP
        if depth == 1:
            r = script_block(b, w, addr_of(w.fname[0]), stack.find_nul(addr_of(w.fname[0]), 4096))
        else:
            r = script_block(b, w, addr_of(w.cur[0]), n)
        if r < 0:
            return r
        memcpy(addr_of(w.cur[0]), addr_of(w.interp[0]), 256)
        follow = True
    if r < 0:
        node.fput(f)
        return r
    space = task.new_mm()
    stk_pages = pages_for(b.len + 8192)
    stk = alloc_pages(stk_pages)
    if space == NULL or stk == NULL:
        node.fput(f)
        if space != NULL:
            task.put_mm(space)
        free_pages(stk, stk_pages)
        return -ENOMEM
    stk_len = stk_pages * PAGE_SIZE
    rsp = build_image(t, w, f, b, space, stk, stk_len)
    node.fput(f)
    if rsp < 0:
        task.put_mm(space)
        free_pages(stk, stk_pages)
        return rsp
    p = t.process
    de_thread(t)
    el = namei.d_path(addr_of(w.nd.path), addr_of(w.exe[0]), 256)
    if el > 0:
        set_exe(p, addr_of(w.exe[0]), u64(el))
    else:
        set_exe(p, addr_of(w.cur[0]), n)
    set_name_from_path(p, b.buf, stack.find_nul(b.buf, b.len))
    commit(t, w, space, b, stk, stk_len, u64(rsp))
    free_pages(stk, stk_pages)
    return 0


def de_thread(t: ptr[Task]) -> None:
    """Every other thread of t's process ends before the image changes; t becomes the first
    thread, with the pid as its tid (fs/exec.c de_thread)."""
    p = t.process
    if p.nthreads > 1:
        kill_others(p, t, True)
        while p.nthreads > 1:
            sched.sleep_on(addr_of(family.thread_exit), 0)
    first = family.first_thread(p)
    if first != t:
        first.thread_next = NULL
        family.bury_task(first)
        p.leader = u64(t)
        t.thread_next = NULL
        t.tid = p.pid


def new_work() -> ptr[ExecWork]:
    w = cast(ptr[ExecWork], alloc_pages(pages_for(sizeof(ExecWork))))
    if w != NULL:
        memset(cast(ptr[u8], w), 0, sizeof(ExecWork))
    return w


def free_work(w: ptr[ExecWork]) -> None:
    free_pages(cast(ptr[u8], w), pages_for(sizeof(ExecWork)))


def do_execve(t: ptr[Task], dirfd: u64, upath: u64, argv: u64, envp: u64, flags: u64) -> i64:
    """execve / execveat: 0 (the new program runs from the trap frame) or -errno."""
    if flags & ~u64(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0:
        return -EINVAL
    w = new_work()
    if w == NULL:
        return -ENOMEM
    n = namei.copy_path(addr_of(w.cur[0]), upath)
    begin: namei.Path = namei.Path()
    fpath: namei.Path = namei.Path()
    use_fd = False
    r: i64 = n
    fd = u64(i64(i32(dirfd)))
    if n == -ENOENT and flags & AT_EMPTY_PATH != 0:
        # execveat(fd, "", ..., AT_EMPTY_PATH), fexecve: the file of the descriptor itself
        n = 0
        r = 0
        ef = fdtable.get(t.process, fd) if fd != AT_FDCWD else NULL
        if fd == AT_FDCWD:
            namei.cwd(t, addr_of(fpath))
        elif ef == NULL:
            r = -EBADF
        elif not namei.file_path(ef, addr_of(fpath)):
            r = -EACCES                 # a pipe, a socket: not a regular file
        use_fd = True
    elif n > 0 and w.cur[0] != ord(b"/"):
        r = namei.start(t, dirfd, addr_of(begin))
    by_fd = fd != AT_FDCWD and (use_fd or w.cur[0] != ord(b"/"))
    if r >= 0:
        r = exec_name(w, fd, by_fd, u64(n))
    b: ArgBlock = ArgBlock()
    if r >= 0:
        r = user_block(t, addr_of(b), addr_of(w.fname[0]), u64(r), argv, envp)
    if r >= 0:
        r = exec_file(t, w, addr_of(begin), addr_of(b), flags & AT_SYMLINK_NOFOLLOW == 0,
                      addr_of(fpath) if use_fd else NULL, by_fd and fdtable.cloexec(t.process, fd))
    free_pages(b.buf, b.npages)
    free_work(w)
    return r


def exec_name(w: ptr[ExecWork], fd: u64, by_fd: bool, n: u64) -> i64:
    """w.fname: w.cur (n bytes) itself, or /dev/fd/FD (with "/" + w.cur when n > 0) for an
    execveat relative to a descriptor, as alloc_bprm; its length or -ENAMETOOLONG."""
    if not by_fd:
        memcpy(addr_of(w.fname[0]), addr_of(w.cur[0]), n + 1)
        return i64(n)
    ln: fmt.Line = fmt.Line()
    fmt.put_str(addr_of(ln), b"/dev/fd/")
    fmt.put_dec(addr_of(ln), fd)
    k = ln.len
    memcpy(addr_of(w.fname[0]), addr_of(ln.data[0]), k)
    if n > 0:
        if k + 1 + n >= 4096:
            return -ENAMETOOLONG
        w.fname[k] = ord(b"/")
        k += 1
        memcpy(addr_of(w.fname[k]), addr_of(w.cur[0]), n)
        k += n
    w.fname[k] = 0
    return i64(k)


def sys_execve(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_execve(t, AT_FDCWD, a.a0, a.a1, a.a2, 0)


def sys_execveat(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return do_execve(t, a.a0, a.a1, a.a2, a.a3, a.a4)
