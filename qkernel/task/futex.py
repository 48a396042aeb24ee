"""Futexes (kernel/futex/): tasks waiting on a 32-bit word of user memory.

A waiter is keyed by the word's guest-physical address, so one word is found through any
mapping of its page: the private futexes of an address space and words in memory shared
between processes alike (FUTEX_PRIVATE_FLAG only says which the program meant). Waiters hang
in NBUCKETS FIFO chains (Task.futex_next) hashed by key; `wake` takes them off and makes them
runnable, `requeue` moves them to another word (pthread condition variables).

Kernel-wide state, one CPU: the buckets and `sleepers`, the wait queue untimed waiters park on
(a second vCPU needs a lock per bucket). A word's check-and-sleep is atomic because nothing
else runs on the CPU in between.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, ptr, u64
from qkernel.mm.pagetable import NO_PA
from qkernel.mm.uaccess import user_page_pa
from qkernel.task import sched
from qkernel.task.task import TASK_SLEEPING, Task, WaitQueue

NBUCKETS: Final = 64

buckets: array[u64, 64] = array[u64, 64]()   # each the first waiter's Task (0: none)
sleepers: WaitQueue = WaitQueue()


def key_of(uaddr: u64) -> u64:
    """The key of the futex word at uaddr (its physical address; the page is faulted in), or
    0 when it is not mapped readable."""
    pa = user_page_pa(uaddr, False)
    if pa == NO_PA:
        return 0
    return pa


def bucket(key: u64) -> u64:
    return (key >> 2) % NBUCKETS


def enqueue(t: ptr[Task], key: u64, bitset: u64) -> None:
    """t waits on key (at the tail of its chain)."""
    t.futex_key = key
    t.futex_bitset = bitset
    t.futex_woken = 0
    t.futex_next = NULL
    b = bucket(key)
    if buckets[b] == 0:
        buckets[b] = u64(t)
        return
    c = cast(ptr[Task], buckets[b])
    while c.futex_next != NULL:
        c = c.futex_next
    c.futex_next = t


def dequeue(t: ptr[Task]) -> None:
    """Takes t off its chain, if it is on one."""
    if t.futex_key == 0:
        return
    b = bucket(t.futex_key)
    t.futex_key = 0
    if buckets[b] == u64(t):
        buckets[b] = u64(t.futex_next)
        t.futex_next = NULL
        return
    c = cast(ptr[Task], buckets[b])
    while c != NULL and c.futex_next != t:
        c = c.futex_next
    if c != NULL:
        c.futex_next = t.futex_next
    t.futex_next = NULL


def wake(key: u64, n: u64, bitset: u64) -> u64:
    """Wakes up to n waiters on key whose bitset meets `bitset`; how many."""
    done: u64 = 0
    c = cast(ptr[Task], buckets[bucket(key)])
    while c != NULL and done < n:
        nxt = c.futex_next
        if c.futex_key == key and c.futex_bitset & bitset != 0:
            dequeue(c)
            c.futex_woken = 1
            if c.state == TASK_SLEEPING and c.queue == addr_of(sleepers):
                sched.wake(c)          # a timed waiter notices futex_woken after its nap
            done += 1
        c = nxt
    return done


def requeue(key: u64, key2: u64, nwake: u64, nmove: u64) -> u64:
    """Wakes up to nwake waiters on key and moves up to nmove more to key2; woken + moved."""
    done = wake(key, nwake, 0xFFFF_FFFF)
    moved: u64 = 0
    c = cast(ptr[Task], buckets[bucket(key)])
    while c != NULL and moved < nmove:
        nxt = c.futex_next
        if c.futex_key == key:
            bs = c.futex_bitset
            dequeue(c)
            enqueue(c, key2, bs)
            moved += 1
        c = nxt
    return done + moved


def waiters(key: u64) -> u64:
    n: u64 = 0
    c = cast(ptr[Task], buckets[bucket(key)])
    while c != NULL:
        if c.futex_key == key:
            n += 1
        c = c.futex_next
    return n
