"""Process identity and lifetime: exit, exit_group, getpid & co., set_tid_address,
set_robust_list, arch_prctl, prctl, uname, sched_yield, sched_getaffinity."""

from __future__ import annotations

from qkernel.abi import QCALL_EXIT
from qkernel.arch import syscall
from qkernel.dialect import Final, addr_of, array, i64, memset, ptr, u8, u32, u64
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.proc import current
from qkernel.qcall import qcall
from qkernel.syscalls.errno import EFAULT, EINVAL, EPERM, ESRCH

ARCH_SET_GS: Final = 0x1001
ARCH_SET_FS: Final = 0x1002
ARCH_GET_FS: Final = 0x1003
ARCH_GET_GS: Final = 0x1004
PR_SET_NAME: Final = 15
PR_GET_NAME: Final = 16
USER_TOP: Final = 0x0000_8000_0000_0000
UTS_FIELD: Final = 65


def exit_process(status: u64) -> None:
    """Ends the sandbox with `status` (0..255, or 128+N for death by signal N)."""
    qcall(QCALL_EXIT, status & 0xFF, 0, 0, 0)


def sys_exit_group(status: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    exit_process(status)
    return 0


def sys_getpid(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return i64(current.pid)


def sys_getppid(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return i64(current.ppid)


def sys_getid_zero(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """getuid/geteuid/getgid/getegid: the sandbox runs as root inside (uid 0)."""
    return 0


def sys_set_tid_address(tidptr: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    current.clear_child_tid = tidptr
    return i64(current.pid)


def sys_set_robust_list(head: u64, length: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if length != 24:
        return -EINVAL
    current.robust_list = head
    return 0


def sys_arch_prctl(code: u64, addr: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if code == ARCH_SET_FS:
        if addr >= USER_TOP:
            return -EFAULT  # Linux: -EPERM for non-canonical; a kernel-half base is refused
        current.fs_base = addr
        syscall.set_fs_base(addr)
        return 0
    if code == ARCH_GET_FS:
        v = current.fs_base
        return copy_to_user(addr, addr_of(v), 8)
    return -EINVAL


def sys_prctl(option: u64, arg2: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if option == PR_SET_NAME:
        buf: array[u8, 16] = array[u8, 16]()
        i: u64 = 0
        while i < 15:  # copy up to 15 bytes, stopping at NUL (Linux: strncpy_from_user, 16)
            if copy_from_user(addr_of(buf[i]), arg2 + i, 1) != 0:
                return -EFAULT
            if buf[i] == 0:
                break
            i += 1
        buf[15] = 0
        memset(addr_of(current.name[0]), 0, 16)
        for j in range(i):
            current.name[j] = buf[j]
        return 0
    if option == PR_GET_NAME:
        return copy_to_user(arg2, addr_of(current.name[0]), 16)
    return -EINVAL


uts: array[u8, 390] = array[u8, 390]()  # struct utsname: 6 fields of 65 bytes


def sys_uname(buf: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    memset(addr_of(uts[0]), 0, 390)
    _put(0, b"Linux")
    _put(1, b"pyquark")
    _put(2, b"6.1.0-pyquark")
    _put(3, b"#1 SMP PREEMPT_DYNAMIC pyquark")
    _put(4, b"x86_64")
    _put(5, b"(none)")
    return copy_to_user(buf, addr_of(uts[0]), 390)


def _put(field: u64, text: ptr[u8]) -> None:
    i: u64 = 0
    while text[i] != 0 and i < UTS_FIELD - 1:
        uts[field * UTS_FIELD + i] = text[i]
        i += 1


def sys_sched_yield(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    return 0


def sys_sched_getaffinity(pid: u64, size: u64, mask: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """One CPU: bit 0. Returns the bytes written (8, Linux's cpumask size here), like the syscall."""
    if pid != 0 and pid != current.pid:
        return -ESRCH
    if size < 8:
        return -EINVAL
    one: u64 = 1
    r = copy_to_user(mask, addr_of(one), 8)
    return r if r < 0 else 8


ids: array[u32, 3] = array[u32, 3]()
umask_value: u64 = 0o022


def sys_getresid(r: u64, e: u64, s: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """getresuid/getresgid: real, effective and saved ids, all 0 (root inside the sandbox)."""
    ids[0] = 0
    if copy_to_user(r, addr_of(ids[0]), 4) != 0 or copy_to_user(e, addr_of(ids[0]), 4) != 0 \
            or copy_to_user(s, addr_of(ids[0]), 4) != 0:
        return -EFAULT
    return 0


def sys_getgroups(size: u64, lst: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """No supplementary groups."""
    return 0


def sys_setid(id: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """setuid/setgid: the sandbox has one identity (0); changing to it succeeds, others -EPERM."""
    return 0 if id & 0xFFFFFFFF == 0 else -EPERM


def sys_getpgrp(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """getpgrp/getsid(0)/getpgid(0): the program leads its own session and group."""
    return i64(current.pid)


def sys_getpgid(pid: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if pid != 0 and pid != current.pid:
        return -ESRCH
    return i64(current.pid)


def sys_umask(mask: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    global umask_value
    old = umask_value
    umask_value = mask & 0o777
    return i64(old)


def sys_getcpu(cpu: u64, node: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    ids[0] = 0
    if cpu != 0 and copy_to_user(cpu, addr_of(ids[0]), 4) != 0:
        return -EFAULT
    if node != 0 and copy_to_user(node, addr_of(ids[0]), 4) != 0:
        return -EFAULT
    return 0


def sys_sched_getscheduler(pid: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if pid != 0 and pid != current.pid:
        return -ESRCH
    return 0  # SCHED_OTHER


def sys_sched_getparam(pid: u64, param: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if pid != 0 and pid != current.pid:
        return -ESRCH
    ids[0] = 0
    return copy_to_user(param, addr_of(ids[0]), 4)


def set_name_from_path(path: ptr[u8], n: u64) -> None:
    """comm: the executable's basename, at most 15 bytes (as Linux's __set_task_comm)."""
    start: u64 = 0
    for i in range(n):
        if path[i] == 47:
            start = i + 1
    memset(addr_of(current.name[0]), 0, 16)
    j: u64 = 0
    while start + j < n and j < 15:
        current.name[j] = path[start + j]
        j += 1
