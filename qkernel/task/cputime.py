"""CPU time: what each thread and process spent in the program (user) and in the kernel (system),
counted with the TSC at every entry to the kernel and return to the program and at each context
switch (time switched out counts for nobody), as Linux's tick-less accounting
(VIRT_CPU_ACCOUNTING_GEN) does. The process's sums include threads that ended; a reaped child's
sums, its own children's included, go to its parent's children totals (getrusage
RUSAGE_CHILDREN, times(2)'s cutime/cstime).

It also drives ITIMER_VIRTUAL (user time: SIGVTALRM) and ITIMER_PROF (user + system: SIGPROF):
`check` at each entry to the kernel sends the signal once the process's time passed the
deadline and re-arms it by the interval. A program that never enters the kernel is only seen
at its next entry.
"""

from __future__ import annotations

from qkernel.dialect import addr_of, ptr, u64
from qkernel.linux.signal import SI_KERNEL, SIGPROF, SIGVTALRM
from qkernel.task import clock, signals, task
from qkernel.task.process import Process
from qkernel.task.task import Task


def ns(cycles: u64) -> u64:
    """TSC cycles as nanoseconds (0 without a TSC clock)."""
    if not clock.tsc_ok:
        return 0
    return clock.mul_shift(cycles, clock.mult, clock.SHIFT)


def enter(t: ptr[Task]) -> None:
    """t entered the kernel (a system call, a fault): the program's time so far is user time."""
    task.charge(t, True)
    p = t.process
    if p.vtimer_deadline != 0 or p.ptimer_deadline != 0:
        check(t)


def leave(t: ptr[Task]) -> None:
    """t returns to the program: the kernel's time so far is system time."""
    task.charge(t, False)


def user_ns(p: ptr[Process]) -> u64:
    return ns(p.utime_cycles)


def total_ns(p: ptr[Process]) -> u64:
    return ns(p.utime_cycles + p.stime_cycles)


def reaped(parent: ptr[Process], c: ptr[Process]) -> None:
    """Child c's times (and its reaped children's) go to parent's children totals."""
    parent.cutime_ns += ns(c.utime_cycles) + c.cutime_ns
    parent.cstime_ns += ns(c.stime_cycles) + c.cstime_ns


def fire(t: ptr[Task], deadline: ptr[u64], interval: u64, at: u64, sig: u64) -> None:
    if deadline[0] == 0 or at < deadline[0]:
        return
    if interval == 0:
        deadline[0] = 0
    else:
        while deadline[0] <= at:
            deadline[0] += interval
    signals.send_process(t.process, sig, SI_KERNEL, 0, 0)


def check(t: ptr[Task]) -> None:
    p = t.process
    if p.vtimer_deadline != 0:
        fire(t, addr_of(p.vtimer_deadline), p.vtimer_interval, user_ns(p), SIGVTALRM)
    if p.ptimer_deadline != 0:
        fire(t, addr_of(p.ptimer_deadline), p.ptimer_interval, total_ns(p), SIGPROF)
