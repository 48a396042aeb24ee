"""Starting the sandbox's program: the execve(2) of the first process.

Reads the boot argument block, opens the executable through the host-file qcalls (confined to the
sandbox root), checks it (qkernel/loader/elf.py), builds a fresh address space with every
PT_LOAD mapped and filled eagerly (one host pread per page, straight into the frame), a stack
with argv/envp/auxv (qkernel/loader/stack.py), an empty heap at the end of the image, then
enters ring 3. Failures are reported as a shell would (126 for "cannot execute", 127 for "not
found"), on stderr, with the errno name.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import ARGS_PHYS, BOOT_STRACE, MODE_FLAT, PAGE_SIZE, BootParams
from qkernel.arch import gdt, idt, priv, syscall, trap
from qkernel.dialect import NULL, Final, addr_of, array, cast, i64, memcpy, ptr, u8, u64
from qkernel.fs import console, fdtable, namei, node, vfs
from qkernel.lib import fmt
from qkernel.linux import errno
from qkernel.linux.errno import E2BIG, EACCES, ENOENT, ENOEXEC, ENOMEM
from qkernel.linux.mman import PROT_EXEC, PROT_READ, PROT_WRITE
from qkernel.linux.stat import S_IFDIR, S_IFMT, S_IFREG, Stat
from qkernel.linux.time import CLOCK_MONOTONIC
from qkernel.loader import elf, stack
from qkernel.mm import mmap, pagetable, vma
from qkernel.mm.addr import va
from qkernel.mm.uaccess import copy_to_user
from qkernel.syscalls import entry, register, sys_time
from qkernel.task import family, hostio, sched, task
from qkernel.task.process import Process, set_exe, set_name_from_path

STACK_TOP: Final = 0x7FFF_FFFF_F000        # one page below the user half's end, as Linux
STACK_RESERVE: Final = 8 << 20              # the stack VMA (RLIMIT_STACK)
STACK_EAGER: Final = 256 << 10              # populated now; below that the stack grows on faults
STACK_BUILD: Final = 65536                  # bytes the initial stack may take
EXIT_CANNOT_EXECUTE: Final = 126
EXIT_NOT_FOUND: Final = 127

info: elf.LoadInfo = elf.LoadInfo()
params: stack.StackParams = stack.StackParams()
st: Stat = Stat()
stack_area: array[u64, 8194] = array[u64, 8194]()  # STACK_BUILD bytes, 16-aligned inside
random16: array[u8, 16] = array[u8, 16]()
msg: fmt.Line = fmt.Line()


def host_read(ctx: u64, offset: u64, dst: ptr[u8], n: u64) -> i64:
    """elf.parse's reader: pread from host handle `ctx` into a kernel buffer."""
    return qcall.file_pread(ctx, dst, n, offset)


def fail(path: ptr[u8], err: i64, detail: ptr[u8], status: u64) -> None:
    """Reports why the program cannot run, as a shell would, and ends the sandbox."""
    lp = addr_of(msg)
    fmt.clear(lp)
    fmt.put_str(lp, b"pyquark: ")
    fmt.put_str(lp, path)
    fmt.put_str(lp, b": ")
    fmt.put_str(lp, detail)
    fmt.put_char(lp, 10)
    qcall.console_write(2, addr_of(lp.data[0]), lp.len)
    qcall.exit_sandbox(status)


def errno_text(err: i64) -> ptr[u8]:
    """strerror(3)'s text for -errno, as a shell reports a failed exec."""
    if errno.message(err)[0] != 0:
        return errno.message(err)
    return b"cannot execute"


def prot_of(flags: u64) -> u64:
    """PF_R/PF_W/PF_X to vma PROT_* bits."""
    p: u64 = 0
    if flags & elf.PF_R != 0:
        p |= PROT_READ
    if flags & elf.PF_W != 0:
        p |= PROT_WRITE
    if flags & elf.PF_X != 0:
        p |= PROT_EXEC
    return p


def load_segments(space: ptr[vma.AddressSpace], handle: u64) -> i64:
    """Maps every PT_LOAD of `info` into `space` (a page two segments share takes the later
    one's protection, as Linux's MAP_FIXED mappings do), then fills them; 0 or -errno."""
    bias = info.load_bias
    for i in range(info.nloads):
        seg = addr_of(info.loads[i])
        lo = (seg.vaddr + bias) & ~u64(PAGE_SIZE - 1)
        hi = (seg.vaddr + bias + seg.memsz + PAGE_SIZE - 1) & ~u64(PAGE_SIZE - 1)
        r = mmap.map_segment(space, lo, hi - lo, prot_of(seg.flags))
        if r < 0:
            return r
    for i in range(info.nloads):
        seg = addr_of(info.loads[i])
        # the file bytes, page by page, read by the host straight into each frame
        done: u64 = 0
        while done < seg.filesz:
            v = seg.vaddr + bias + done
            chunk = PAGE_SIZE - (v & (PAGE_SIZE - 1))
            if chunk > seg.filesz - done:
                chunk = seg.filesz - done
            frame = pagetable.translate(space.pml4, v)
            if frame == pagetable.NO_PA:
                return -ENOMEM
            got = qcall.file_pread_frame(handle, frame, chunk, seg.offset + done)
            if got != i64(chunk):
                return -ENOEXEC
            done += chunk
    return 0


def run_program(bp: ptr[BootParams]) -> None:
    """Runs the program the boot parameters name; does not return."""
    block = cast(ptr[u8], va(ARGS_PHYS))
    path_len: u64 = 0
    while block[path_len] != 0:
        path_len += 1
    task.init()
    p = task.new_process()
    t = task.new_task(p, p.pid) if p != NULL else cast(ptr[task.Task], NULL)
    if t == NULL:
        fail(block, -ENOMEM, b"out of memory creating the first process", EXIT_CANNOT_EXECUTE)
    p.leader = u64(t)
    family.init_process = p
    node.init()
    open_stdio(p, bp.stdio_closed)
    set_exe(p, block, path_len)
    set_name_from_path(p, block, path_len)
    set_cwd(p, block, bp.args_len, path_len)
    mount_root(t, block)
    p.start_ns = u64(sys_time.now_ns(CLOCK_MONOTONIC))
    handle = qcall.file_open(0, block, path_len, 0)
    if handle < 0:
        fail(block, handle, errno_text(handle), EXIT_NOT_FOUND if handle == -ENOENT else EXIT_CANNOT_EXECUTE)
    r = qcall.file_fstat(u64(handle), addr_of(st))
    if r < 0:
        fail(block, r, errno_text(r), EXIT_CANNOT_EXECUTE)
    if st.st_mode & S_IFMT == S_IFDIR:
        fail(block, -EACCES, b"Is a directory", EXIT_CANNOT_EXECUTE)
    if st.st_mode & S_IFMT != S_IFREG or st.st_mode & 0o111 == 0:
        fail(block, -EACCES, b"Permission denied", EXIT_CANNOT_EXECUTE)
    r = elf.parse(addr_of(info), host_read, u64(handle), st.st_size)
    if r < 0:
        fail(block, r, elf.error_message(info.error), EXIT_CANNOT_EXECUTE)
    space = p.mm
    r = mmap.init_space(space)
    if r < 0:
        fail(block, r, b"out of memory creating the address space", EXIT_CANNOT_EXECUTE)
    r = load_segments(space, u64(handle))
    if r < 0:
        fail(block, r, b"out of memory loading the program", EXIT_CANNOT_EXECUTE)
    qcall.file_close(u64(handle))
    mmap.set_brk_start(space, info.vaddr_hi + info.load_bias)
    r = mmap.map_stack(space, STACK_TOP - STACK_RESERVE, STACK_RESERVE, STACK_EAGER)
    if r < 0:
        fail(block, r, b"out of memory for the stack", EXIT_CANNOT_EXECUTE)
    # the initial stack, built in a kernel buffer that stands for [STACK_TOP - STACK_BUILD, STACK_TOP)
    qcall.random_bytes(addr_of(random16[0]), 16)
    params.args = block          # the whole block: exe path, argv, envp, cwd
    params.args_len = bp.args_len
    params.argc = bp.argc
    params.envc = bp.envc
    params.random = addr_of(random16[0])
    stack.fill_from_load_info(addr_of(params), addr_of(info))
    params.hwcap = 0x178BFBFF
    params.minsigstksz = 0
    buf = cast(ptr[u8], (u64(addr_of(stack_area[0])) + 15) & ~u64(15))  # stack.build wants 16
    rsp = stack.build(buf, STACK_BUILD, STACK_TOP, addr_of(params))
    if rsp < 0:
        fail(block, rsp, b"Argument list too long" if rsp == -E2BIG else b"malformed argument block",
             EXIT_CANNOT_EXECUTE)
    p.arg_start = params.arg_start
    p.arg_end = params.arg_end
    p.env_start = params.env_start
    p.env_end = params.env_end
    priv.load_cr3(space.pml4)
    used = STACK_TOP - u64(rsp)
    if copy_to_user(u64(rsp), buf + (STACK_BUILD - used), used) < 0:
        fail(block, -ENOMEM, b"cannot write the initial stack", EXIT_CANNOT_EXECUTE)
    start_scheduler(p, t)
    register.register_all()
    entry.strace = bp.flags & BOOT_STRACE != 0
    trap.syscall_hook = entry.syscall_trap
    trap.user_fault_hook = entry.user_fault
    flat = bp.mode == MODE_FLAT
    if flat:
        gdt.allow_qcall_port()
        idt.use_flat_page_faults()
    syscall.init(t.kstack_top, flat)
    syscall.enter_user(elf.user_entry(addr_of(info)), u64(rsp))


def open_stdio(p: ptr[Process], closed: u64) -> None:
    """Descriptors 0-2: the console, except those qvisor found closed (they stay EBADF)."""
    fd: u64 = 0
    for fd in range(3):
        if (closed >> fd) & 1 == 0:
            f = console.open_stdio(fd)
            if f == NULL or fdtable.install_at(p, fd, f, False) < 0:
                fail(b"pyquark", -ENOMEM, b"out of memory opening the standard streams", EXIT_CANNOT_EXECUTE)


def set_cwd(p: ptr[Process], block: ptr[u8], block_len: u64, exe_len: u64) -> None:
    """The working directory: the argument block's last string (the path in the root); "/"
    when the block has none (stack.build refuses such a block later)."""
    n: u64 = 0
    start: u64 = 0
    if block_len > exe_len + 1 and block[block_len - 1] == 0:
        start = stack.find_cwd(block, block_len, exe_len)
        if start > exe_len:
            n = block_len - 1 - start
    if n >= 4096:
        n = 0
    for i in range(n):
        p.cwd[i] = block[start + i]
    if n == 0:
        p.cwd[0] = ord(b"/")
        n = 1
    p.cwd[n] = 0
    p.cwd_len = n


def mount_root(t: ptr[task.Task], block: ptr[u8]) -> None:
    """The sandbox's mounts, and the working directory found in them (the root if it is not
    a directory there)."""
    r = vfs.init(t)
    if r < 0:
        fail(block, r, b"the sandbox root cannot be served", EXIT_CANNOT_EXECUTE)
    p = t.process
    nd: namei.Nameidata = namei.Nameidata()
    memcpy(t.scratch + namei.WALK_A, addr_of(p.cwd[0]), p.cwd_len + 1)
    r = namei.walk(t, addr_of(namei.root), t.scratch + namei.WALK_A, p.cwd_len,
                   namei.LOOKUP_FOLLOW | namei.LOOKUP_DIRECTORY, addr_of(nd))
    if r < 0:
        nd.path = namei.root
    p.cwd_mnt = u64(nd.path.mnt)
    p.cwd_dentry = u64(nd.path.d)


def idle_main(arg: u64) -> None:
    sched.idle_loop(False)


def start_scheduler(p: ptr[Process], t: ptr[task.Task]) -> None:
    """The scheduler with t current and an idle task of its own (a kernel thread that runs
    when nothing else can); the timer's tick drives time slices from now on."""
    idle_task = task.new_task(p, 0)
    if idle_task == NULL:
        fail(b"pyquark", -ENOMEM, b"out of memory creating the idle task", EXIT_CANNOT_EXECUTE)
    sched.init(idle_task)
    sched.make_kthread(idle_task, idle_main, 0)
    task.switch_in(t)
    trap.tick_hook = sched.tick
    hostio.init()  # blocking host calls park tasks from now on (or stay synchronous if refused)
