"""Starting the sandbox's program: the execve(2) of the first process.

Creates the first Process and Task (pid 1, the sandbox's init), its standard streams, the
mounts and working directory, and the scheduler, then runs the program through the one execve
path (qkernel/syscalls/sys_exec.py: the kernel's path walk, `#!` scripts, the ELF loader, the
stack with argv/envp/auxv) and enters ring 3. A name without a slash is searched for in the
PATH of the program's own environment (the default execvp(3) uses when there is none), here in
the guest, as a shell does: the first regular file with an execute bit wins, and AT_EXECFN is the
path found. Failures are reported as a shell would (126 for "cannot execute" and "Permission
denied", 127 for "not found" and "command not found"), on stderr, with the reason.
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import ARGS_MAX, ARGS_PHYS, BOOT_STRACE, CAP_NO_PROGRAM_TICK, MODE_FLAT, BootParams
from qkernel.arch import gdt, idt, lapic, syscall, trap
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, addr_of, cast, i64, memcpy, ptr, u8, u32, u64
from qkernel.fs import console, fdtable, filemap, namei, node, vfs
from qkernel.lib import fmt
from qkernel.linux import errno
from qkernel.linux.errno import E2BIG, EACCES, ENOENT, ENOMEM
from qkernel.linux.time import CLOCK_MONOTONIC
from qkernel.loader import elf, stack
from qkernel.mm import fault, vdso, vma
from qkernel.mm.addr import va
from qkernel.syscalls import entry, register, sys_exec, sys_time
from qkernel.task import clock, family, hostio, sched, task, timers
from qkernel.task.process import Process

DEFAULT_PATH: ptr[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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


def env_path(block: ptr[u8], n: u64, argc: u64, envc: u64) -> ptr[u8]:
    """The value of PATH in the boot block's environment, or DEFAULT_PATH."""
    off = stack.find_nul(block, n) + 1               # past the exe string
    k: u64 = 0
    while k < argc + envc and off < n:
        s = block + off
        left = n - off
        if k >= argc and left > 5 and s[0] == 80 and s[1] == 65 and s[2] == 84 and s[3] == 72 and s[4] == 61:
            return s + 5                              # "PATH="
        off += stack.find_nul(s, left) + 1
        k += 1
    return DEFAULT_PATH


def search_path(t: ptr[task.Task], w: ptr[sys_exec.ExecWork], name: ptr[u8], n: u64, path: ptr[u8]) -> i64:
    """w.cur = the first DIR/name along `path` (":"-separated; an empty entry is the working
    directory) that is a regular file with an execute bit: 0; else -EACCES when one was a file
    without one, -ENOENT when none was there."""
    begin: namei.Path = namei.Path()
    namei.cwd(t, addr_of(begin))
    seen_noexec = False
    i: u64 = 0
    while True:
        j = i
        while path[j] != 0 and path[j] != 58:      # ':'
            j += 1
        dl = j - i
        if dl + 1 + n < 4096:
            m: u64 = 0
            if dl > 0:
                memcpy(addr_of(w.cur[0]), path + i, dl)
                m = dl
                if w.cur[m - 1] != 47:
                    w.cur[m] = 47                   # '/'
                    m += 1
            memcpy(addr_of(w.cur[m]), name, n)
            w.cur[m + n] = 0
            memcpy(t.scratch + namei.WALK_A, addr_of(w.cur[0]), m + n)
            if namei.walk(t, addr_of(begin), t.scratch + namei.WALK_A, m + n, namei.LOOKUP_FOLLOW,
                          addr_of(w.nd)) == 0:
                mode = u64(w.nd.path.d.inode.st.st_mode)
                if mode & 0o170000 == 0o100000:
                    if mode & 0o111 != 0:
                        return 0
                    seen_noexec = True
        if path[j] == 0:
            break
        i = j + 1
    return -EACCES if seen_noexec else -ENOENT


def found_block(b: ptr[sys_exec.ArgBlock], w: ptr[sys_exec.ExecWork], old_len: u64) -> i64:
    """b (the boot block) with its first string, the name, replaced in place by the path found
    (w.cur): the strings after it move by the difference. The new length of the first string,
    or -E2BIG past the block's capacity."""
    m = stack.find_nul(addr_of(w.cur[0]), 4096)
    rest = b.len - (old_len + 1)
    if m + 1 + rest > b.cap:
        return -E2BIG
    vma.move_bytes(u64(b.buf) + m + 1, u64(b.buf) + old_len + 1, rest)
    memcpy(b.buf, addr_of(w.cur[0]), m + 1)
    b.len = m + 1 + rest
    return i64(m)


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
    trap.user_tick_hook = entry.user_tick
    flat = bp.mode == MODE_FLAT
    if flat:
        gdt.allow_qcall_port()
        idt.use_flat_page_faults()
        idt.use_flat_timer()
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
    name = block
    slash = False
    for k in range(path_len):
        if block[k] == 47:
            slash = True
    if not slash:
        r = search_path(t, w, block, path_len, env_path(block, bp.args_len, bp.argc, bp.envc))
        if r == -ENOENT:
            fail(block, r, b"command not found", EXIT_NOT_FOUND)
        if r < 0:
            fail(block, r, errno_text(r), EXIT_CANNOT_EXECUTE)
        r = found_block(addr_of(b), w, path_len)
        if r < 0:
            fail(block, r, errno_text(r), EXIT_CANNOT_EXECUTE)
        name = block + u64(r) + 1    # argv[0], the name as given: what the reports say
    b.argc = bp.argc
    b.envc = bp.envc
    t.frame = addr_of(first_frame)
    here: namei.Path = namei.Path()
    namei.cwd(t, addr_of(here))    # a relative name is the working directory's, as execve's
    r = sys_exec.exec_file(t, w, addr_of(here), addr_of(b), True, NULL, False)
    if r < 0:
        report(name, r, w)
    sys_exec.free_work(w)
    if bp.caps & CAP_NO_PROGRAM_TICK == 0 and lapic.init():   # the tick: preempts a program that makes no system call
        lapic.start_timer(trap.VEC_TIMER, u32(sched.TICK_NS))   # the APIC bus counts nanoseconds (KVM's 1 GHz)
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
    if clock.tsc_ok:    # slices by the TSC at each return to the program (no timer is armed)
        sched.slice_cycles = clock.sync_cycles * sched.SLICE_NS // clock.SYNC_NS
    task.switch_in(t)
    trap.tick_hook = sched.tick
    hostio.init()  # blocking host calls park tasks from now on (or stay synchronous if refused)
