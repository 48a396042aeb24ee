"""The dentry cache: names already looked up, found again without asking their filesystem.

A dentry is hashed by (parent, name) and linked into its parent's list of children. Negative
entries (inode NULL, D_LOOKED set) remember that a name does not exist, so a failed lookup of a
host file costs one host call, not one per attempt. Whiteouts (D_WHITEOUT) and in-memory names
(D_PINNED) are dentries too: for them the cache is the only record, so they are never dropped.

No eviction yet: every dentry lives until the sandbox ends (bounded by the dentry pool, whose
exhaustion makes a lookup fail with -ENOMEM). Per-CPU free state: one vCPU today.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, array, cast, memcmp, memcpy, ptr, u8, u64
from qkernel.fs.node import Dentry, Mount, name_hash, new_dentry

BUCKETS: Final = 8192          # a power of two
buckets: array[u64, 8192] = array[u64, 8192]()
next_seq: u64 = 0


def bucket(h: u64) -> ptr[u64]:
    return addr_of(buckets[h & (BUCKETS - 1)])


def lookup(parent: ptr[Dentry], name: ptr[u8], n: u64) -> ptr[Dentry]:
    """The cached dentry of `name` (n bytes) in parent, positive or negative; NULL: not cached."""
    h = name_hash(parent, name, n)
    d = cast(ptr[Dentry], bucket(h)[0])
    while d != NULL:
        if d.hash == h and d.parent == parent and d.name_len == n:
            if n == 0 or memcmp(addr_of(d.name[0]), name, n) == 0:
                return d
        d = d.hash_next
    return NULL


def add(parent: ptr[Dentry], d: ptr[Dentry]) -> None:
    """Hashes d (made by new_dentry for parent) and appends it to parent's children, with the
    next sequence number (a directory lists its in-memory names in that order)."""
    global next_seq
    b = bucket(d.hash)
    d.hash_next = cast(ptr[Dentry], b[0])
    b[0] = u64(d)
    next_seq += 1
    d.seq = next_seq
    d.next_sibling = NULL
    if parent.last_child == NULL:
        parent.first_child = d
    else:
        parent.last_child.next_sibling = d
    parent.last_child = d
    parent.refs += 1


def unhash(d: ptr[Dentry]) -> None:
    """Removes d from the hash and from its parent's children (the caller frees or re-adds it)."""
    b = bucket(d.hash)
    cur = cast(ptr[Dentry], b[0])
    prev: ptr[Dentry] = NULL
    while cur != NULL and cur != d:
        prev = cur
        cur = cur.hash_next
    if cur != NULL:
        if prev == NULL:
            b[0] = u64(d.hash_next)
        else:
            prev.hash_next = d.hash_next
    parent = d.parent
    c = parent.first_child
    pc: ptr[Dentry] = NULL
    while c != NULL and c != d:
        pc = c
        c = c.next_sibling
    if c != NULL:
        if pc == NULL:
            parent.first_child = d.next_sibling
        else:
            pc.next_sibling = d.next_sibling
        if parent.last_child == d:
            parent.last_child = pc
        parent.refs -= 1
    d.hash_next = NULL
    d.next_sibling = NULL


def child(parent: ptr[Dentry], m: ptr[Mount], name: ptr[u8], n: u64) -> ptr[Dentry]:
    """The dentry of `name` in parent: the cached one, else a new one not yet looked up
    (flags 0) added to the cache; NULL when the pool is exhausted."""
    d = lookup(parent, name, n)
    if d != NULL:
        return d
    d = new_dentry(parent, m, name, n)
    if d == NULL:
        return NULL
    add(parent, d)
    return d


def move(d: ptr[Dentry], parent: ptr[Dentry], name: ptr[u8], n: u64) -> None:
    """Renames d to `name` under parent (rename(2) after the filesystem agreed)."""
    unhash(d)
    d.parent = parent
    d.name_len = n
    memcpy(addr_of(d.name[0]), name, n)
    d.name[n] = 0
    d.hash = name_hash(parent, name, n)
    add(parent, d)
