"""The Task: one thread's state (its kernel stack, the trap frame of the system call in progress,
the switch context, signal mask and pending set, its thread pointer and tid addresses, its
scratch buffer) and a pointer to its Process. `current` is the task running on this CPU.

Objects come from kalloc pools (exhaustion: NULL, the caller answers -ENOMEM). Each task has its
own kernel stack: boot/entry.S builds a system call's TrapFrame on it (arch.percpu.stack_top
is switched with the task), and its own scratch buffer, so no in-flight system call shares a
module-level buffer with another task's.
"""

from __future__ import annotations

from qkernel.arch import fpu, percpu, priv
from qkernel.arch.cpu import rdtsc
from qkernel.arch.frame import TrapFrame
from qkernel.dialect import NULL, Final, addr_of, array, cast, fn, i32, i64, ptr, sizeof, struct, u8, u64
from qkernel.mm import kalloc, uaccess, vma
from qkernel.task.process import Process, init_fields

KSTACK_SIZE: Final = 16384   # a task's kernel stack
SCRATCH_SIZE: Final = 65536  # a task's bounce buffer for host I/O (BOUNCE_SIZE in the handlers)
MAX_TASKS: Final = 1024      # tasks alive at once (beyond: -EAGAIN from fork, as RLIMIT_NPROC)

TASK_RUNNING: Final = 0      # on a CPU or runnable (on the run queue)
TASK_SLEEPING: Final = 1     # parked on a wait queue
TASK_ZOMBIE: Final = 2       # exited; its Process keeps the status
TASK_NEW: Final = 3          # created, not yet made runnable


kthread_fn = fn[[u64], None]


@struct
class SigQueued:
    """The siginfo of a pending signal beyond its number: si_code and the two words after
    siginfo's head (pid | uid << 32, or an address; then a status or a value)."""
    code: i32
    pad: i32
    f0: u64
    f1: u64


@struct
class Task:
    tid: u64
    state: u64                 # TASK_*
    process: ptr[Process]
    kstack: u64                # lowest address of the kernel stack (KSTACK_SIZE bytes)
    kstack_top: u64
    frame: ptr[TrapFrame]      # the user frame of the system call or fault being handled
    ctx_rsp: u64               # saved kernel rsp while switched out
    sigmask: u64               # blocked signals (bit n-1: signal n)
    sigpending: u64            # pending, not yet delivered
    fs_base: u64               # arch_prctl(ARCH_SET_FS)
    clear_child_tid: u64       # set_tid_address
    robust_list: u64           # set_robust_list
    robust_len: u64
    scratch: ptr[u8]           # SCRATCH_SIZE bytes for this task's in-flight system call
    run_next: ptr[Task]        # run queue / wait queue links
    run_prev: ptr[Task]
    queue: ptr[WaitQueue]      # the wait queue it sleeps on (NULL when running)
    deadline: u64              # a timed sleep's last tick (sched.ticks), 0 for none
    timer_next: ptr[Task]      # the list of timed sleepers
    wake_reason: u64           # why it woke: WAKE_* (sched.py)
    entry: kthread_fn          # a kernel thread's function and argument
    arg: u64
    ticks_left: u64            # its time slice (timer ticks) before preemption
    ring_done: u64             # 1 once its asynchronous host call completed (hostio.py)
    ring_result: u64           # that call's result (>= 0 or -errno)
    saved_sigmask: u64         # sigsuspend's mask to restore once a signal was handled
    restore_sigmask: bool
    altstack_sp: u64           # sigaltstack: base, size and SS_* flags (size 0: none)
    altstack_size: u64
    altstack_flags: u64
    siginfo: array[SigQueued, 64]   # per signal number - 1, while it is pending
    thread_next: ptr[Task]     # the process's next thread (from Process.leader); the dead list
    doomed: bool               # killed by another thread's execve: ends without ending the process
    futex_next: ptr[Task]      # qkernel/task/futex.py: its bucket's next waiter
    futex_key: u64             # the word waited on (0: none)
    futex_bitset: u64
    futex_woken: u64
    nice: i64                  # setpriority (-20 .. 19); the scheduler's policy and priority:
    policy: u64                # SCHED_* (sys_sched.py; reported, not yet acted on)
    rt_priority: u64
    sched_reset_on_fork: bool
    utime_cycles: u64          # CPU time in the program and in the kernel (TSC cycles: cputime.py)
    stime_cycles: u64
    acct_stamp: u64            # the TSC when the current one of the two started
    walk_file: u64             # the File a path walk ended on through a magic link (namei.walk)
    fpu: array[u8, 528]        # its x87/SSE state while switched out (arch/fpu: 512 bytes at fpu_area())
    kio_base: u64              # the kernel buffer sendfile/copy_file_range move data through
    kio_len: u64               # (uaccess.kernel_io; 0: none)


@struct
class WaitQueue:
    """Tasks parked until an event (sched.sleep_on / sched.wake_all), in FIFO order."""
    head: ptr[Task]
    tail: ptr[Task]


# The task on this CPU. Per-CPU state: one vCPU today; a second one reaches its own through GS.
current: ptr[Task] = NULL
next_pid: u64 = 1              # pids and tids share one space, as on Linux

task_pool: kalloc.Pool = kalloc.Pool()
process_pool: kalloc.Pool = kalloc.Pool()
mm_pool: kalloc.Pool = kalloc.Pool()
kstack_pool: kalloc.Pool = kalloc.Pool()
scratch_pool: kalloc.Pool = kalloc.Pool()


def init() -> None:
    """The pools (no memory is taken until the first alloc)."""
    kalloc.init(addr_of(task_pool), sizeof(Task), MAX_TASKS, True)
    kalloc.init(addr_of(process_pool), sizeof(Process), MAX_TASKS, True)
    kalloc.init(addr_of(mm_pool), sizeof(vma.AddressSpace), MAX_TASKS, False)
    kalloc.init(addr_of(kstack_pool), KSTACK_SIZE, MAX_TASKS, False)
    kalloc.init(addr_of(scratch_pool), SCRATCH_SIZE, MAX_TASKS, False)
    uaccess.kernel_buffer = in_kio


def in_kio(addr: u64, n: u64) -> bool:
    """uaccess's test: [addr, addr + n) lies in the current task's transfer buffer."""
    t = current
    if t == NULL or t.kio_len == 0:
        return False
    end = addr + n
    return end >= addr and addr >= t.kio_base and end <= t.kio_base + t.kio_len


def new_task(p: ptr[Process], tid: u64) -> ptr[Task]:
    """Task `tid` of process p, with its kernel stack and scratch buffer; NULL when out of
    memory. The first thread's tid is the pid; tid 0 is an idle task (no thread of p)."""
    t = cast(ptr[Task], kalloc.alloc(addr_of(task_pool)))
    if t == NULL:
        return NULL
    stack = u64(kalloc.alloc(addr_of(kstack_pool)))
    scratch = cast(ptr[u8], kalloc.alloc(addr_of(scratch_pool)))
    if stack == 0 or scratch == NULL:
        kalloc.free(addr_of(kstack_pool), cast(ptr[None], stack))
        kalloc.free(addr_of(scratch_pool), cast(ptr[None], scratch))
        kalloc.free(addr_of(task_pool), cast(ptr[None], t))
        return NULL
    t.kstack = stack
    t.kstack_top = stack + KSTACK_SIZE
    fpu.fxsave(fpu_area(t))      # the creator's state: a thread or a forked child inherits it
    t.scratch = scratch
    t.process = p
    t.state = TASK_RUNNING
    t.tid = tid
    if tid != 0:
        p.nthreads += 1
    return t


def charge(t: ptr[Task], user: bool) -> None:
    """The TSC cycles since t's last stamp go to its user (or system) time and its process's
    (qkernel/task/cputime.py reads them); the stamp moves to now."""
    now = rdtsc()
    old = t.acct_stamp
    t.acct_stamp = now
    if old == 0 or now <= old:
        return
    d = now - old
    if user:
        t.utime_cycles += d
        t.process.utime_cycles += d
    else:
        t.stime_cycles += d
        t.process.stime_cycles += d


def fpu_area(t: ptr[Task]) -> ptr[u8]:
    return fpu.aligned(u64(addr_of(t.fpu[0])))


def alloc_pid() -> u64:
    global next_pid
    pid = next_pid
    next_pid += 1
    return pid


def new_process() -> ptr[Process]:
    """A process with a fresh pid, default fields and an (uninitialised) AddressSpace object;
    NULL when out of memory."""
    p = cast(ptr[Process], kalloc.alloc(addr_of(process_pool)))
    if p == NULL:
        return NULL
    p.mm = new_mm()
    if p.mm == NULL:
        kalloc.free(addr_of(process_pool), cast(ptr[None], p))
        return NULL
    init_fields(p, alloc_pid())
    return p


def free_task(t: ptr[Task]) -> None:
    """Gives back a task that will never run again (a reaped zombie; never the current one)."""
    kalloc.free(addr_of(kstack_pool), cast(ptr[None], t.kstack))
    kalloc.free(addr_of(scratch_pool), cast(ptr[None], t.scratch))
    kalloc.free(addr_of(task_pool), cast(ptr[None], t))


def free_process(p: ptr[Process]) -> None:
    """Gives back a reaped process (its address space was dropped at exit: put_mm)."""
    kalloc.free(addr_of(process_pool), cast(ptr[None], p))


def new_mm() -> ptr[vma.AddressSpace]:
    """An AddressSpace object without page tables (NULL when out of memory)."""
    mm = cast(ptr[vma.AddressSpace], kalloc.alloc(addr_of(mm_pool)))
    if mm != NULL:
        mm.pml4 = 0
        mm.count = 0
        mm.users = 1
        mm.nfiles = 0
    return mm


def put_mm(mm: ptr[vma.AddressSpace]) -> None:
    """Drops one user of mm: the last one frees its pages, tables and the object. The space
    must not be the one in CR3 (the caller loads another first)."""
    if mm.users > 1:
        mm.users -= 1
        return
    mm.users = 0
    vma.destroy(mm)
    kalloc.free(addr_of(mm_pool), cast(ptr[None], mm))


def switch_in(t: ptr[Task]) -> None:
    """Makes t the CPU's current task: its kernel stack takes the next system call's frame, its
    address space is the active one (CR3 loaded when it changes) and its thread pointer is
    loaded. The scheduler calls this just before switching stacks."""
    global current
    prev_mm = vma.active
    prev_fs: u64 = current.fs_base if current != NULL else 0
    current = t
    percpu.set_stack_top(t.kstack_top)
    mm = t.process.mm
    if mm != prev_mm and mm.pml4 != 0:
        vma.active = mm
        priv.load_cr3(mm.pml4)
    if t.fs_base != prev_fs:
        percpu.set_fs_base(t.fs_base)
