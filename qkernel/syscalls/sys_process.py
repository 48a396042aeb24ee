"""Process identity and lifetime: exit, exit_group, getpid & co., set_tid_address,
set_robust_list, arch_prctl, prctl, uname, sched_yield, sched_getaffinity."""

from __future__ import annotations

from qkernel.abi import QCALL_EXIT
from qkernel.arch import syscall
from qkernel.dialect import Final, addr_of, array, i64, memset, ptr, u8, u64
from qkernel.mm.uaccess import copy_from_user, copy_to_user
from qkernel.proc import current
from qkernel.qcall import qcall
from qkernel.syscalls.errno import EFAULT, EINVAL

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
    if size < 8:
        return -EINVAL
    one: u64 = 1
    r = copy_to_user(mask, addr_of(one), 8)
    return r if r < 0 else 8
