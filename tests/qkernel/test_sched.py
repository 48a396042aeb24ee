"""The scheduler (qkernel/task/sched.py) under unicorn, with kernel threads that yield, sleep on
wait queues, time out and are preempted at a preemption point; the boot context is the idle
task and gets the CPU back when nothing is left to run."""

from __future__ import annotations

import pytest

from qkernel.abi import DIRECT_MAP_BASE as D

WIN = 0x8000_0000
PAGE = 4096
G = "tests.qkernel.guests.sched_guest"
S = "qkernel.task.sched"


@pytest.fixture
def guest(kmachine):
    def make(frames: int = 2048):
        m = kmachine(G)
        m.map_region(D + WIN, frames * PAGE, "rw", phys=WIN)
        m.call("qkernel.mm.frames.init", WIN + frames * PAGE, WIN)
        assert m.call(f"{G}.setup") == 1
        return m
    return make


def log(m, n: int) -> list[int]:
    base = m.symbol(f"{G}.log")
    return [m.read_u64(base + 8 * i) for i in range(n)]


def test_yielding_threads_alternate_and_idle_resumes(guest):
    m = guest()
    n = m.call(f"{G}.run_pingpong")
    assert log(m, n) == [10, 20, 11, 21, 12, 22]
    assert m.call(f"{G}.current_tid") == 1           # back on the boot (idle) task
    assert m.read_u64(m.symbol(f"{S}.switches")) >= 6


def test_wait_queue_parks_until_woken_in_fifo_order(guest):
    m = guest()
    n = m.call(f"{G}.run_waitqueue")
    # both waiters park, the waker runs and wakes 2, then the waiters resume in arrival order
    assert log(m, n) == [101, 102, 300, 402, 201, 202]
    woke = m.symbol(f"{G}.woke")
    assert m.read_u64(woke + 8) == m.read_u64(woke + 16) == 0   # WAKE_EVENT


def test_sleep_with_a_deadline_times_out(guest):
    m = guest()
    n = m.call(f"{G}.run_timeout", 5)
    assert n == 1 and log(m, 1)[0] >= 5                # woke no earlier than its deadline
    assert m.read_u64(m.symbol(f"{G}.woke")) == 1      # WAKE_TIMEOUT


def test_timer_slice_preempts_a_spinning_thread(guest):
    m = guest()
    n = m.call(f"{G}.run_preempt")
    got = log(m, n)
    assert sorted(got) == [1] * 8 + [2] * 8
    assert got != [1] * 8 + [2] * 8                    # interleaved, not run to completion
    runs = [got[0]]
    for v in got[1:]:
        if v != runs[-1]:
            runs.append(v)
    assert len(runs) >= 4                              # switched back and forth by the slice


def test_clock_slice_preempts_without_a_tick(guest):
    # no timer while programs run: a thread that never blocks still gives the CPU up at a
    # preemption point once its slice by the TSC is used (a 1-cycle slice: at every one)
    m = guest()
    n = m.call(f"{G}.run_preempt_clock", 1)
    assert log(m, n) == [1, 2] * 8
    # without the clock's slice (no TSC clock) and no tick, each runs to completion
    m = guest()
    n = m.call(f"{G}.run_preempt_clock", 0)
    assert log(m, n) == [1] * 8 + [2] * 8


def test_running_out_of_memory_refuses_threads_without_crashing(guest):
    m = guest(frames=160)                              # room for only a few 16+64 KiB tasks
    ran = m.call(f"{G}.run_many", 50)
    assert 0 < ran < 50
    assert m.call(f"{G}.current_tid") == 1
