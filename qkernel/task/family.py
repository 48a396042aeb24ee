"""The process tree: each Process's parent, children (first_child, next_sibling) and the
sandbox's first process (pid 1), which adopts orphans as a PID namespace's init does; zombies
are reaped here once their parent collected the status.

Kernel-wide state, one copy for the sandbox (not per CPU): `init_process`, `child_exit`, the
wait queue every wait4/waitid parks on (woken at each exit, stop and continue; a waiter looks
at its own children again: Linux's per-process wait_chldexit, shared), and `vfork_done`.
"""

from __future__ import annotations

from qkernel.dialect import NULL, cast, ptr, u64
from qkernel.task import task
from qkernel.task.process import PROC_ZOMBIE, Process
from qkernel.task.task import TASK_ZOMBIE, Task, WaitQueue

init_process: ptr[Process] = NULL
child_exit: WaitQueue = WaitQueue()
vfork_done: WaitQueue = WaitQueue()   # vfork parents, until their child execs or exits
dead: ptr[Process] = NULL             # zombies nobody waits for, freed by the next live task
dead_tasks: ptr[Task] = NULL          # ended threads (not first threads), freed likewise
thread_exit: WaitQueue = WaitQueue()  # an execve waiting for its process's other threads to end


def link_child(parent: ptr[Process], c: ptr[Process]) -> None:
    """c becomes parent's youngest child."""
    c.parent = parent
    c.ppid = parent.pid
    c.next_sibling = parent.first_child
    parent.first_child = c


def unlink_child(parent: ptr[Process], c: ptr[Process]) -> None:
    prev: ptr[Process] = NULL
    cur = parent.first_child
    while cur != NULL and cur != c:
        prev = cur
        cur = cur.next_sibling
    if cur == NULL:
        return
    if prev == NULL:
        parent.first_child = c.next_sibling
    else:
        prev.next_sibling = c.next_sibling
    c.next_sibling = NULL
    c.parent = NULL


def reparent_children(p: ptr[Process]) -> None:
    """p's children go to the sandbox's first process (Linux: the namespace's child reaper)."""
    to = init_process
    while p.first_child != NULL:
        c = p.first_child
        p.first_child = c.next_sibling
        if to == NULL or to == p:
            c.parent = NULL
            c.ppid = 0
            c.next_sibling = NULL
        else:
            link_child(to, c)


def find(pid: u64) -> ptr[Process]:
    """The live or zombie process with this pid, or NULL: a walk of the tree from pid 1,
    iterative (parent links lead back up; a pid table comes with many processes)."""
    p = init_process
    while p != NULL:
        if p.pid == pid:
            return p
        p = next_in_tree(p)
    return NULL


def next_in_tree(p: ptr[Process]) -> ptr[Process]:
    """The process after p in a depth-first walk from pid 1 (NULL at the end)."""
    if p.first_child != NULL:
        return p.first_child
    while p != NULL and p != init_process:
        if p.next_sibling != NULL:
            return p.next_sibling
        p = p.parent
    return NULL


def bury(p: ptr[Process]) -> None:
    """A zombie no parent will collect (it still runs on its own stack: freed later)."""
    global dead
    p.next_sibling = dead
    dead = p


def bury_task(t: ptr[Task]) -> None:
    """An ended thread, freed later (it still runs on its own stack)."""
    global dead_tasks
    t.thread_next = dead_tasks
    dead_tasks = t


def first_thread(p: ptr[Process]) -> ptr[Task]:
    return cast(ptr[Task], p.leader)


def unlink_thread(p: ptr[Process], t: ptr[Task]) -> None:
    """Takes a thread other than the first out of p's chain."""
    c = first_thread(p)
    while c != NULL and c.thread_next != t:
        c = c.thread_next
    if c != NULL:
        c.thread_next = t.thread_next
    t.thread_next = NULL


def find_thread(tid: u64) -> ptr[Task]:
    """The live task with this tid, or NULL."""
    p = init_process
    while p != NULL:
        if p.state != PROC_ZOMBIE:
            c = first_thread(p)
            while c != NULL:
                if c.tid == tid and c.state != TASK_ZOMBIE:
                    return c
                c = c.thread_next
        p = next_in_tree(p)
    return cast(ptr[Task], NULL)


def free_dead() -> None:
    """Frees the buried zombies and threads (called by a live task: every one of them
    switched away)."""
    global dead, dead_tasks
    while dead_tasks != NULL:
        t = dead_tasks
        dead_tasks = t.thread_next
        task.free_task(t)
    while dead != NULL:
        p = dead
        dead = p.next_sibling
        if p.leader != 0:
            task.free_task(cast(ptr[Task], p.leader))
        task.free_process(p)


def reap(parent: ptr[Process], c: ptr[Process]) -> None:
    """Frees zombie c (its first thread's stack and the Process) after parent took its status."""
    unlink_child(parent, c)
    if c.leader != 0:
        task.free_task(cast(ptr[Task], c.leader))
    task.free_process(c)
