"""Kernel threads for the scheduler's unit tests (tests/qkernel/test_sched.py): compiled with
qkernel.task.sched and run under unicorn. Each scenario appends to `log` and ends when the idle
loop finds nothing left to run."""

from __future__ import annotations

from qkernel.dialect import NULL, addr_of, array, ptr, u64
from qkernel.task import sched, task
from qkernel.task.task import Process, Task, WaitQueue

log: array[u64, 256] = array[u64, 256]()
nlog: u64 = 0
proc: ptr[Process] = NULL
wq: WaitQueue = WaitQueue()
woke: array[u64, 8] = array[u64, 8]()


def note(v: u64) -> None:
    global nlog
    if nlog < 256:
        log[nlog] = v
        nlog += 1


def setup() -> u64:
    """The pools, a process for the threads and the boot context as the idle task."""
    global proc, nlog
    task.init()
    proc = task.new_process()
    if proc == NULL:
        return 0
    boot = task.new_task(proc, proc.pid)
    if boot == NULL:
        return 0
    sched.init(boot)
    sched.wq_init(addr_of(wq))
    nlog = 0
    return 1


def spawn(entry: task.kthread_fn, arg: u64) -> u64:
    t = sched.new_kthread(proc, entry, arg)
    return 0 if t == NULL else t.tid


def pinger(arg: u64) -> None:
    for i in range(3):
        note(arg * 10 + u64(i))
        sched.schedule()


def run_pingpong() -> u64:
    if spawn(pinger, 1) == 0 or spawn(pinger, 2) == 0:
        return 0
    sched.idle_loop(True)
    return nlog


def waiter(arg: u64) -> None:
    note(100 + arg)
    woke[arg] = sched.sleep_on(addr_of(wq), 0)
    note(200 + arg)


def waker(arg: u64) -> None:
    note(300)
    n = sched.wake_all(addr_of(wq))
    note(400 + n)


def run_waitqueue() -> u64:
    if spawn(waiter, 1) == 0 or spawn(waiter, 2) == 0 or spawn(waker, 0) == 0:
        return 0
    sched.idle_loop(True)
    return nlog


def sleeper(arg: u64) -> None:
    start = sched.ticks
    woke[0] = sched.sleep_on(addr_of(wq), arg)
    note(sched.ticks - start)


def run_timeout(ticks: u64) -> u64:
    if spawn(sleeper, ticks) == 0:
        return 0
    sched.idle_loop(True)
    return nlog


def spinner(arg: u64) -> None:
    """Runs without yielding; the (simulated) timer's tick and the preemption point switch."""
    for i in range(8):
        note(arg)
        sched.tick()
        sched.preempt_point()


def run_preempt() -> u64:
    if spawn(spinner, 1) == 0 or spawn(spinner, 2) == 0:
        return 0
    sched.idle_loop(True)
    return nlog


def clock_spinner(arg: u64) -> None:
    """Runs without yielding and with no timer tick: only the clock's slice switches."""
    for i in range(8):
        note(arg)
        sched.preempt_point()


def run_preempt_clock(cycles: u64) -> u64:
    """Two clock_spinners with a slice of `cycles` TSC cycles (0: no clock slice)."""
    sched.slice_cycles = cycles
    if spawn(clock_spinner, 1) == 0 or spawn(clock_spinner, 2) == 0:
        return 0
    sched.idle_loop(True)
    sched.slice_cycles = 0
    return nlog


def run_many(n: u64) -> u64:
    """Spawns until the pools or memory say no: how many threads ran."""
    count: u64 = 0
    for i in range(n):
        if spawn(pinger, 0) == 0:
            break
        count += 1
    sched.idle_loop(True)
    return count


def current_tid() -> u64:
    t: ptr[Task] = task.current
    return t.tid
