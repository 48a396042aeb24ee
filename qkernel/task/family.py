"""The process tree: each Process's parent, children (first_child, next_sibling) and the
sandbox's first process (pid 1), which adopts orphans as a PID namespace's init does; zombies
are reaped here once their parent collected the status.

Kernel-wide state, one copy for the sandbox (not per CPU): `init_process`, `child_exit`, the
wait queue every wait4/waitid parks on (woken at each exit, stop and continue; a waiter looks
at its own children again: Linux's per-process wait_chldexit, shared), and `vfork_done`.
"""

from __future__ import annotations

from qkernel.dialect import NULL, addr_of, cast, ptr, u64
from qkernel.task import task
from qkernel.task.process import Process
from qkernel.task.task import Task, WaitQueue

init_process: ptr[Process] = NULL
child_exit: WaitQueue = WaitQueue()
vfork_done: WaitQueue = WaitQueue()   # vfork parents, until their child execs or exits


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


def reap(parent: ptr[Process], c: ptr[Process]) -> None:
    """Frees zombie c (its first thread's stack and the Process) after parent took its status."""
    unlink_child(parent, c)
    if c.leader != 0:
        task.free_task(cast(ptr[Task], c.leader))
    task.free_process(c)
