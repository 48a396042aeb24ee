"""Credentials: the get and set families of user and group ids (getuid .. getresgid,
getgroups; setuid, setreuid, setresuid, setfsuid and their gid twins; setgroups), with
Linux's rules (kernel/sys.c): a privileged caller (effective uid 0, the root of a container,
which holds CAP_SETUID and CAP_SETGID) may set any id, an unprivileged one only ids it
already holds as its real, effective or saved one; -1 leaves an id as it is; the filesystem id
follows the effective one. The ids are the process's (Process.creds: glibc's setxid
broadcast makes every thread agree anyway).

What an id changes in the sandbox: what the calls, stat of new files, signals' si_uid, and
/proc report. File permissions are not checked against them yet (the sandbox's files are
checked as root's: modes do not refuse)."""

from __future__ import annotations

from qkernel.dialect import Final, addr_of, array, cast, i64, ptr, u8, u32, u64
from qkernel.linux.errno import EFAULT, EINVAL, EPERM
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.process import Creds
from qkernel.task.task import Task

NO_ID: Final = 0xFFFF_FFFF      # (uid_t)-1: "leave it"
REAL: Final = 0                 # ids[REAL .. FS]: Creds.uid, euid, suid, fsuid (and the gid four)
EFF: Final = 1
SAVED: Final = 2
FS: Final = 3
MAX_GROUPS: Final = 32          # Creds.groups (Linux's NGROUPS_MAX is 65536)


def uids(t: ptr[Task]) -> ptr[u32]:
    return addr_of(t.process.creds.uid)


def gids(t: ptr[Task]) -> ptr[u32]:
    return addr_of(t.process.creds.gid)


def privileged(t: ptr[Task]) -> bool:
    return t.process.creds.euid == 0


def holds(ids: ptr[u32], v: u64) -> bool:
    """Is v the caller's real, effective or saved id?"""
    return v == u64(ids[REAL]) or v == u64(ids[EFF]) or v == u64(ids[SAVED])


def id_arg(x: u64) -> u64:
    return x & 0xFFFF_FFFF


def set_one(t: ptr[Task], ids: ptr[u32], v: u64) -> i64:
    """setuid/setgid: privileged, all four; else the effective (and fs) id, to the real or saved."""
    v = id_arg(v)
    if v == NO_ID:
        return -EINVAL
    if privileged(t):
        ids[REAL] = u32(v)
        ids[SAVED] = u32(v)
    elif v != u64(ids[REAL]) and v != u64(ids[SAVED]):
        return -EPERM
    ids[EFF] = u32(v)
    ids[FS] = u32(v)
    return 0


def set_re(t: ptr[Task], ids: ptr[u32], r: u64, e: u64) -> i64:
    """setreuid/setregid."""
    r = id_arg(r)
    e = id_arg(e)
    p = privileged(t)
    if r != NO_ID and not p and r != u64(ids[REAL]) and r != u64(ids[EFF]):
        return -EPERM
    if e != NO_ID and not p and not holds(ids, e):
        return -EPERM
    old_real = u64(ids[REAL])
    if r != NO_ID:
        ids[REAL] = u32(r)
    if e != NO_ID:
        ids[EFF] = u32(e)
    if r != NO_ID or (e != NO_ID and e != old_real):
        ids[SAVED] = ids[EFF]
    ids[FS] = ids[EFF]
    return 0


def set_res(t: ptr[Task], ids: ptr[u32], r: u64, e: u64, s: u64) -> i64:
    """setresuid/setresgid."""
    r = id_arg(r)
    e = id_arg(e)
    s = id_arg(s)
    if not privileged(t):
        if (r != NO_ID and not holds(ids, r)) or (e != NO_ID and not holds(ids, e)) or \
                (s != NO_ID and not holds(ids, s)):
            return -EPERM
    if r != NO_ID:
        ids[REAL] = u32(r)
    if e != NO_ID:
        ids[EFF] = u32(e)
    if s != NO_ID:
        ids[SAVED] = u32(s)
    ids[FS] = ids[EFF]
    return 0


def set_fs(t: ptr[Task], ids: ptr[u32], v: u64) -> i64:
    """setfsuid/setfsgid: the old fs id, whether or not the change was allowed."""
    old = i64(ids[FS])
    v = id_arg(v)
    if v != NO_ID and (privileged(t) or holds(ids, v) or v == u64(ids[FS])):
        ids[FS] = u32(v)
    return old


def put_ids(ids: ptr[u32], r: u64, e: u64, s: u64) -> i64:
    """getresuid/getresgid: the three ids to user memory."""
    if copy_to_user(r, cast(ptr[u8], ids), 4) != 0 or \
            copy_to_user(e, cast(ptr[u8], ids + EFF), 4) != 0 or \
            copy_to_user(s, cast(ptr[u8], ids + SAVED), 4) != 0:
        return -EFAULT
    return 0


def sys_getuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.creds.uid)


def sys_geteuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.creds.euid)


def sys_getgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.creds.gid)


def sys_getegid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return i64(t.process.creds.egid)


def sys_getresuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return put_ids(uids(t), a.a0, a.a1, a.a2)


def sys_getresgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return put_ids(gids(t), a.a0, a.a1, a.a2)


def sys_setuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_one(t, uids(t), a.a0)


def sys_setgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_one(t, gids(t), a.a0)


def sys_setreuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_re(t, uids(t), a.a0, a.a1)


def sys_setregid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_re(t, gids(t), a.a0, a.a1)


def sys_setresuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_res(t, uids(t), a.a0, a.a1, a.a2)


def sys_setresgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_res(t, gids(t), a.a0, a.a1, a.a2)


def sys_setfsuid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_fs(t, uids(t), a.a0)


def sys_setfsgid(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return set_fs(t, gids(t), a.a0)


def sys_getgroups(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    c = addr_of(t.process.creds)
    size = a.a0 & 0xFFFFFFFF
    if size == 0:
        return i64(c.ngroups)
    if size < u64(c.ngroups) or size > 0x7FFF_FFFF:
        return -EINVAL
    r = copy_to_user(a.a1, cast(ptr[u8], addr_of(c.groups[0])), u64(c.ngroups) * 4)
    return r if r < 0 else i64(c.ngroups)


def sys_setgroups(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Privileged only; at most MAX_GROUPS groups (-EINVAL beyond)."""
    if not privileged(t):
        return -EPERM
    n = a.a0 & 0xFFFFFFFF
    if n > MAX_GROUPS:
        return -EINVAL
    g: array[u32, 32] = array[u32, 32]()
    if n > 0 and copy_from_user(cast(ptr[u8], addr_of(g[0])), a.a1, n * 4) != 0:
        return -EFAULT
    c: ptr[Creds] = addr_of(t.process.creds)
    for i in range(n):
        c.groups[i] = g[i]
    c.ngroups = u32(n)
    return 0
