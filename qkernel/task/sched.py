"""The scheduler: a run queue, context switches, wait queues with timeouts, a time slice driven
by the timer tick, and the idle loop.

One vCPU today: the run queue, `ticks`, `need_resched` and the slice's start are per-CPU state
(a second vCPU gets its own and a lock on wait queues). The slice is charged by the timer's
tick (`tick`) and, since no timer is armed while programs run, by the TSC at each preemption
point (`slice_used`). The running task is not on the run queue; `schedule()` puts
it back if it is still runnable and switches to the queue's head, or to the idle task when
nothing else can run. Waiting never blocks the vCPU in the host: a task parks on a WaitQueue
(`sleep_on`), others run, and `wake_one`/`wake_all` or its deadline make it runnable again.

Context switch (`switch_stacks`): the callee-saved registers and a resume address are pushed on
the old task's kernel stack, its rsp saved in Task.ctx_rsp, the new task's loaded, and `ret`
resumes it: after its own switch, or, for a new task, at `task_start` (new_kthread lays out that
first frame).
"""

from __future__ import annotations

from qkernel.arch import fpu
from qkernel.arch.cpu import rdtsc
from qkernel.dialect import NULL, Final, addr_of, asm, cast, export, fn, halt, noinline, ptr, u64
from qkernel.task import task
from qkernel.task.task import (TASK_NEW, TASK_RUNNING, TASK_SLEEPING, TASK_ZOMBIE, Task,
                               WaitQueue)

SLICE_TICKS: Final = 4        # timer ticks a task runs before it is preempted (at a preemption point)
TICK_NS: Final = 10_000_000   # the timer's period while programs run (qkernel/exec.py arms it)
SLICE_NS: Final = 4_000_000   # the same slice by the clock, for when no timer ticks (see preempt_point)
WAKE_EVENT: Final = 0         # woken by wake_one / wake_all
WAKE_TIMEOUT: Final = 1       # its deadline passed
SWITCH_FRAME: Final = 7       # words switch_stacks pushes: resume address + 6 callee-saved registers

run_head: ptr[Task] = NULL
run_tail: ptr[Task] = NULL
timed: ptr[Task] = NULL       # tasks sleeping with a deadline
idle: ptr[Task] = NULL        # runs when nothing else can (the boot context)
ticks: u64 = 0
need_resched: bool = False
switches: u64 = 0             # context switches so far (statistics, tests)
slice_start: u64 = 0          # the TSC when the running task last got the CPU
slice_cycles: u64 = 0         # SLICE_NS in TSC cycles (set once the clock is known; 0: ticks only)
# What the idle task does when nothing is runnable, instead of halting (hostio's wait for a
# host completion: flat mode's CPL 3 kernel cannot hlt)
idle_hook: fn[[], None] = NULL
# Looked at by the idle task before it waits (the interval timers: qkernel/task/timers.py)
timer_hook: fn[[], None] = NULL
# Takes the host's completions (qkernel/task/hostio.py's poll): run by a task that keeps the CPU
# past its slice, so that sleepers whose host timer went off wake without the idle task.
poll_hook: fn[[], u64] = NULL


def init(boot: ptr[Task]) -> None:
    """The running context becomes the idle task (and current)."""
    global idle, run_head, run_tail, timed, ticks, need_resched, switches
    idle = boot
    boot.state = TASK_RUNNING
    run_head = NULL
    run_tail = NULL
    timed = NULL
    ticks = 0
    need_resched = False
    switches = 0
    task.current = boot


# ---- the run queue ---------------------------------------------------------------------------

def enqueue(t: ptr[Task]) -> None:
    """Makes t runnable, at the tail of the run queue (the idle task is never queued)."""
    global run_head, run_tail
    t.state = TASK_RUNNING
    if t == idle:
        return
    t.run_next = NULL
    t.run_prev = run_tail
    if run_tail != NULL:
        run_tail.run_next = t
    else:
        run_head = t
    run_tail = t


def dequeue_head() -> ptr[Task]:
    global run_head, run_tail
    t = run_head
    if t == NULL:
        return NULL
    run_head = t.run_next
    if run_head == NULL:
        run_tail = NULL
    else:
        run_head.run_prev = NULL
    t.run_next = NULL
    return t


def runnable() -> bool:
    return run_head != NULL


# ---- switching -------------------------------------------------------------------------------

@noinline
def switch_stacks(save: ptr[u64], rsp: u64) -> None:
    """Saves this context's callee-saved registers and rsp at `save`, resumes the one at rsp.
    Not inlined: nothing of the caller may live in a register across it but callee-saved ones."""
    asm("leaq 1f(%rip), %rax\n\tpushq %rax\n\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\t"
        "pushq %r13\n\tpushq %r14\n\tpushq %r15\n\tmovq %rsp, ($0)\n\tmovq $1, %rsp\n\t"
        "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret\n1:",
        "{rdi},{rsi},~{rax},~{rbx},~{rcx},~{rdx},~{r8},~{r9},~{r10},~{r11},~{r12},~{r13},"
        "~{r14},~{r15},~{memory},~{cc}", save, rsp)


def schedule() -> None:
    """Gives the CPU to the next runnable task (the current one goes to the tail if it is still
    runnable); returns when the current task runs again."""
    global need_resched, switches, slice_start
    prev = task.current
    need_resched = False
    if prev.state == TASK_RUNNING and prev != idle:
        enqueue(prev)
    nxt = dequeue_head()
    if nxt == NULL:
        nxt = idle
    now = rdtsc()
    slice_start = now
    if nxt == prev:
        return
    nxt.ticks_left = SLICE_TICKS
    switches += 1
    if prev != idle:               # its kernel time so far (the idle task's counts for no one)
        task.charge(prev, False)
    nxt.acct_stamp = now           # nxt's clock starts now
    fpu.fxsave(task.fpu_area(prev))
    fpu.fxrstor(task.fpu_area(nxt))
    task.switch_in(nxt)
    switch_stacks(addr_of(prev.ctx_rsp), nxt.ctx_rsp)


# ---- kernel threads --------------------------------------------------------------------------

@export("task_start")
def task_start() -> None:
    """Where a new kernel thread's first switch lands: runs entry(arg), then exits."""
    t = task.current
    t.entry(t.arg)
    exit_current()


def start_address() -> u64:
    return asm("leaq task_start(%rip), $0", "=r")


def new_kthread(p: ptr[task.Process], entry: task.kthread_fn, arg: u64) -> ptr[Task]:
    """A kernel thread of process p that will run entry(arg) once scheduled; NULL when out of
    memory. It is runnable at once."""
    t = task.new_task(p, task.alloc_pid())
    if t == NULL:
        return NULL
    make_kthread(t, entry, arg)
    enqueue(t)
    return t


def make_kthread(t: ptr[Task], entry: task.kthread_fn, arg: u64) -> None:
    """Lays out t's first switch frame so that, once switched to, it runs entry(arg)."""
    t.entry = entry
    t.arg = arg
    t.state = TASK_NEW
    # the first frame switch_stacks pops: six zero registers, then task_start as the resume
    # address; after that `ret`, rsp is kstack_top - 8 (as after a call: 16-byte ABI alignment)
    sp = t.kstack_top - 16
    cast(ptr[u64], sp)[0] = 0
    sp -= 8
    cast(ptr[u64], sp)[0] = start_address()
    for i in range(SWITCH_FRAME - 1):
        sp -= 8
        cast(ptr[u64], sp)[0] = 0
    t.ctx_rsp = sp


def exit_current() -> None:
    """Ends the current task (a zombie until reaped); never returns."""
    t = task.current
    t.state = TASK_ZOMBIE
    t.process.nthreads -= 1
    while True:
        schedule()


# ---- wait queues -----------------------------------------------------------------------------

def wq_init(q: ptr[WaitQueue]) -> None:
    q.head = NULL
    q.tail = NULL


def _wq_remove(q: ptr[WaitQueue], t: ptr[Task]) -> None:
    if t.run_prev != NULL:
        t.run_prev.run_next = t.run_next
    else:
        q.head = t.run_next
    if t.run_next != NULL:
        t.run_next.run_prev = t.run_prev
    else:
        q.tail = t.run_prev
    t.run_next = NULL
    t.run_prev = NULL
    t.queue = NULL


def _timer_remove(t: ptr[Task]) -> None:
    global timed
    if t.deadline == 0:
        return
    t.deadline = 0
    if timed == t:
        timed = t.timer_next
        t.timer_next = NULL
        return
    c = timed
    while c != NULL:
        if c.timer_next == t:
            c.timer_next = t.timer_next
            t.timer_next = NULL
            return
        c = c.timer_next


def sleep_on(q: ptr[WaitQueue], timeout_ticks: u64) -> u64:
    """Parks the current task on q until woken (WAKE_EVENT) or, with timeout_ticks > 0, until
    that many timer ticks pass (WAKE_TIMEOUT). Other tasks run meanwhile. The idle task must
    not sleep."""
    global timed
    t = task.current
    t.state = TASK_SLEEPING
    t.queue = q
    t.run_next = NULL
    t.run_prev = q.tail
    if q.tail != NULL:
        q.tail.run_next = t
    else:
        q.head = t
    q.tail = t
    if timeout_ticks > 0:
        t.deadline = ticks + timeout_ticks
        t.timer_next = timed
        timed = t
    t.wake_reason = WAKE_EVENT
    schedule()
    return t.wake_reason


def wake(t: ptr[Task]) -> None:
    """Wakes one sleeping task wherever it waits (WAKE_EVENT)."""
    if t.state == TASK_SLEEPING:
        _wake(t, WAKE_EVENT)


def _wake(t: ptr[Task], reason: u64) -> None:
    if t.queue != NULL:
        _wq_remove(t.queue, t)
    _timer_remove(t)
    t.wake_reason = reason
    enqueue(t)


def wake_one(q: ptr[WaitQueue]) -> bool:
    """Wakes the longest waiter on q; False when none waits."""
    if q.head == NULL:
        return False
    _wake(q.head, WAKE_EVENT)
    return True


def wake_all(q: ptr[WaitQueue]) -> u64:
    """Wakes every waiter on q (in FIFO order); how many."""
    n: u64 = 0
    while q.head != NULL:
        _wake(q.head, WAKE_EVENT)
        n += 1
    return n


# ---- time ------------------------------------------------------------------------------------

def tick() -> None:
    """The timer interrupt: wakes sleepers whose deadline passed and charges the running task's
    slice; `need_resched` asks the next preemption point to switch."""
    global ticks, need_resched
    ticks += 1
    t = timed
    while t != NULL:
        nxt = t.timer_next
        if t.deadline != 0 and t.deadline <= ticks:
            _wake(t, WAKE_TIMEOUT)
            need_resched = True
        t = nxt
    cur = task.current
    if cur == idle:
        if runnable():
            need_resched = True
        return
    if cur.ticks_left > 0:
        cur.ticks_left -= 1
    if cur.ticks_left == 0 and runnable():
        need_resched = True


def slice_used() -> bool:
    """Whether the running task has had the CPU for SLICE_NS since it got it, by the TSC
    (False without slice_cycles: then only the tick's slice counts)."""
    return slice_cycles != 0 and rdtsc() - slice_start >= slice_cycles


def preempt_point() -> None:
    """Where the kernel may switch (the return to user mode, loops that run long): when the
    tick asked for it, or when others are runnable and the running task's slice is used up by
    the clock. The timer is not armed while programs run, so without the clock a task that
    never blocks (a thread polling a pipe that stays readable until another thread of the
    run queue reads it: multiprocessing.Pool) would keep the CPU forever. Past its slice the
    task also takes the host's completions first: a timed sleeper (a futex wait with a timeout,
    Python's GIL request) whose host timer went off wakes and gets its turn."""
    used = slice_used()
    if used and poll_hook != NULL:
        poll_hook()
    if need_resched or (run_head != NULL and used):
        schedule()


def idle_loop(until_no_tasks: bool) -> None:
    """The idle task: runs whatever is runnable, else halts until an interrupt (whose tick may
    wake a sleeper). With until_no_tasks, returns once nothing is runnable or sleeping with a
    deadline (kernel unit tests; the kernel's own idle never returns)."""
    while True:
        if runnable():
            schedule()
        elif until_no_tasks and timed == NULL:
            return
        elif until_no_tasks:
            tick()  # no interrupts under the unit-test harness: time advances here
        elif idle_hook != NULL:
            if timer_hook != NULL:
                timer_hook()
                if runnable():
                    continue
            idle_hook()
        else:
            asm("sti", "~{memory}")
            halt()
