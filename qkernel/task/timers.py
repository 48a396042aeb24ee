"""Interval timers (ITIMER_REAL, alarm): a deadline per process on CLOCK_MONOTONIC that sends
SIGALRM when it passes, re-armed by its interval.

There is no in-kernel timer interrupt while programs run yet, so deadlines are looked at where
time passes: the idle task before it waits in the host (every process), a sleeping system call
between its steps (sigsuspend, pause, nanosleep: `next_step`), and the return from each system
call of a process with a timer armed. A SIGALRM can so come up to one host wait late (50 ms at
most) but never early.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, ptr, u64
from qkernel.linux.signal import SI_KERNEL, SIGALRM
from qkernel.task import clock, family, signals
from qkernel.task.process import PROC_ZOMBIE, Process
from qkernel.task.task import Task

STEP_NS: Final = 10_000_000    # the longest nap of a sleeping call with a timer to watch


def now() -> u64:
    return clock.mono_ns()


def fire(p: ptr[Process], at: u64) -> None:
    """Sends SIGALRM if p's deadline passed by `at`, and re-arms it."""
    if p.itimer_deadline == 0 or at < p.itimer_deadline:
        return
    if p.itimer_interval == 0:
        p.itimer_deadline = 0
    else:
        while p.itimer_deadline <= at:
            p.itimer_deadline += p.itimer_interval
    signals.send_process(p, SIGALRM, SI_KERNEL, 0, 0)


def check(t: ptr[Task]) -> None:
    """t's process's timer, at a system call's return."""
    if t.process.itimer_deadline != 0:
        fire(t.process, now())


def check_all() -> None:
    """Every process's timer (the idle task, before it waits)."""
    at: u64 = 0
    p = family.init_process
    while p != NULL:
        if p.itimer_deadline != 0 and p.state != PROC_ZOMBIE:
            if at == 0:
                at = now()
            fire(p, at)
        p = family.next_in_tree(p)


def next_step(t: ptr[Task], left: u64) -> u64:
    """How long a sleeping call of t may nap before it looks again: at most `left`, and not past
    its process's timer (firing it when due)."""
    p = t.process
    if p.itimer_deadline == 0:
        return left
    at = now()
    fire(p, at)
    if p.itimer_deadline == 0:
        return left
    d = p.itimer_deadline - at if p.itimer_deadline > at else 0
    if d > STEP_NS:
        d = STEP_NS
    return d if d < left else left
