"""Starting the sandbox's program: the execve(2) of the first process.

Creates the first Process and Task (pid 1, the sandbox's init), its standard streams, the
mounts and working directory, and the scheduler, then runs the program through the one execve
path (qkernel/syscalls/sys_exec.py: the kernel's path walk, `#!` scripts, the ELF loader, the
stack with argv/envp/auxv) and enters ring 3. Failures are reported as a shell would (126 for
"cannot execute", 127 for "not found"), on stderr, with the reason.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import ARGS_MAX, ARGS_PHYS, BOOT_STRACE, MODE_FLAT, BootParams
from qkernel.arch import gdt, idt, syscall, trap
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, addr_of, cast, i64, memcpy, ptr, u8, u64
from qkernel.fs import console, fdtable, filemap, namei, node, vfs
from qkernel.lib import fmt
from qkernel.linux import errno
from qkernel.linux.errno import EACCES, ENOENT, ENOMEM
from qkernel.linux.time import CLOCK_MONOTONIC
from qkernel.loader import elf, stack
from qkernel.mm import fault, vdso, vma
from qkernel.mm.addr import va
from qkernel.syscalls import entry, register, sys_exec, sys_time
from qkernel.task import clock, family, hostio, sched, task, timers
from qkernel.task.process import Process

EXIT_CANNOT_EXECUTE: Final = 126
EXIT_NOT_FOUND: Final = 127

first_frame: TrapFrame = TrapFrame()   # the first process's entry, as execve leaves it
msg: fmt.Line = fmt.Line()


def begin_report(path: ptr[u8]) -> ptr[fmt.Line]:
    """The report line so far: "pyquark: PATH: "."""
    lp = addr_of(msg)
    fmt.clear(lp)
    fmt.put_str(lp, b"pyquark: ")
    fmt.put_str(lp, path)
    fmt.put_str(lp, b": ")
    return lp


def end_report(lp: ptr[fmt.Line], status: u64) -> None:
    """Writes the report line to stderr and ends the sandbox with `status`."""
    fmt.put_char(lp, 10)
    qcall.console_write(2, addr_of(lp.data[0]), lp.len)
    qcall.exit_sandbox(status)


def fail(path: ptr[u8], err: i64, detail: ptr[u8], status: u64) -> None:
    """Reports why the program cannot run, as a shell would, and ends the sandbox."""
    lp = begin_report(path)
    fmt.put_str(lp, detail)
    end_report(lp, status)


def errno_text(err: i64) -> ptr[u8]:
    """strerror(3)'s text for -errno, as a shell reports a failed exec."""
    if errno.message(err)[0] != 0:
        return errno.message(err)
    return b"cannot execute"


def report(path: ptr[u8], err: i64, w: ptr[sys_exec.ExecWork]) -> None:
    """Why execve refused the first program, in the words a shell uses (bash's for a missing
    or bad ELF interpreter, with its path)."""
    if w.interp_failed != 0:
        lp = begin_report(path)
        fmt.put_str(lp, b"cannot execute: ")
        fmt.put_str(lp, b"required file not found" if err == -ENOENT else errno_text(err))
        fmt.put_str(lp, b" (ELF interpreter ")
        fmt.put_str(lp, addr_of(w.ipath[0]))
        fmt.put_str(lp, b")")
        end_report(lp, EXIT_NOT_FOUND if err == -ENOENT else EXIT_CANNOT_EXECUTE)
    if err == -ENOENT:
        fail(path, err, errno_text(err), EXIT_NOT_FOUND)
    if err == -EACCES and w.nd.path.d != NULL and namei.is_dir(w.nd.path.d.inode):
        fail(path, err, b"Is a directory", EXIT_CANNOT_EXECUTE)
    if w.info.error != 0:
        fail(path, err, elf.error_message(w.info.error), EXIT_CANNOT_EXECUTE)
    fail(path, err, errno_text(err), EXIT_CANNOT_EXECUTE)


def run_program(bp: ptr[BootParams]) -> None:
    """Runs the program the boot parameters name; does not return."""
    block = cast(ptr[u8], va(ARGS_PHYS))
    path_len: u64 = 0
    while block[path_len] != 0:
        path_len += 1
    vdso.init()
    clock.init(bp.tsc_khz)
    task.init()
    p = task.new_process()
    t = task.new_task(p, p.pid) if p != NULL else cast(ptr[task.Task], NULL)
    if t == NULL:
        fail(block, -ENOMEM, b"out of memory creating the first process", EXIT_CANNOT_EXECUTE)
    p.leader = u64(t)
    family.init_process = p
    node.init()
    open_stdio(p, bp.stdio_closed)
    mount_root(t, block, bp.args_len, path_len)
    p.start_ns = u64(sys_time.now_ns(CLOCK_MONOTONIC))
    start_scheduler(p, t)          # t is current from here: execve's reads run as t
    register.register_all()
    entry.strace = bp.flags & BOOT_STRACE != 0
    trap.syscall_hook = entry.syscall_trap
    trap.user_fault_hook = entry.user_fault
    flat = bp.mode == MODE_FLAT
    if flat:
        gdt.allow_qcall_port()
        idt.use_flat_page_faults()
    syscall.init(t.kstack_top, flat)
    sched.timer_hook = timers.check_all
    fault.file_fill = filemap.fill
    fault.file_page = filemap.shared_page
    fault.special_page = vdso.special_page
    vma.file_get = filemap.get
    vma.file_put = filemap.put
    w = sys_exec.new_work()
    if w == NULL or path_len >= 4096:
        fail(block, -ENOMEM, b"out of memory starting the program", EXIT_CANNOT_EXECUTE)
    memcpy(addr_of(w.cur[0]), block, path_len + 1)
    memcpy(addr_of(w.fname[0]), block, path_len + 1)
    b: sys_exec.ArgBlock = sys_exec.ArgBlock()
    b.buf = block                  # the boot block (npages 0: not exec's to free)
    b.len = bp.args_len
    b.cap = ARGS_MAX
    b.argc = bp.argc
    b.envc = bp.envc
    t.frame = addr_of(first_frame)
    r = sys_exec.exec_file(t, w, addr_of(namei.root), addr_of(b), True, NULL, False)
    if r < 0:
        report(block, r, w)
    sys_exec.free_work(w)
    syscall.enter_user(first_frame.rip, first_frame.rsp)


def open_stdio(p: ptr[Process], closed: u64) -> None:
    """Descriptors 0-2: the console, except those qvisor found closed (they stay EBADF)."""
    fd: u64 = 0
    for fd in range(3):
        if (closed >> fd) & 1 == 0:
            f = console.open_stdio(fd)
            if f == NULL or fdtable.install_at(p, fd, f, False) < 0:
                fail(b"pyquark", -ENOMEM, b"out of memory opening the standard streams", EXIT_CANNOT_EXECUTE)


def cwd_string(block: ptr[u8], block_len: u64, exe_len: u64, out: ptr[u64]) -> u64:
    """Where the argument block's last string, the working directory (a path in the root),
    starts; out[0] its length, 0 when the block has none or it is too long."""
    out[0] = 0
    start: u64 = 0
    if block_len > exe_len + 1 and block[block_len - 1] == 0:
        start = stack.find_cwd(block, block_len, exe_len)
        if start > exe_len:
            out[0] = block_len - 1 - start
    if out[0] >= 4096:
        out[0] = 0
    return start


def mount_root(t: ptr[task.Task], block: ptr[u8], block_len: u64, exe_len: u64) -> None:
    """The sandbox's mounts, and the working directory found in them (the root when the block
    names none or it is not a directory there)."""
    r = vfs.init(t)
    if r < 0:
        fail(block, r, b"the sandbox root cannot be served", EXIT_CANNOT_EXECUTE)
    p = t.process
    nd: namei.Nameidata = namei.Nameidata()
    n: u64 = 0
    start = cwd_string(block, block_len, exe_len, addr_of(n))
    r = -ENOENT
    if n > 0:
        memcpy(t.scratch + namei.WALK_A, block + start, n)
        t.scratch[namei.WALK_A + n] = 0
        r = namei.walk(t, addr_of(namei.root), t.scratch + namei.WALK_A, n,
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
