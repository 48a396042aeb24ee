"""System information and limits: sysinfo, getrandom, getrlimit, prlimit64."""

from __future__ import annotations

from qkernel import qcall
from qkernel.abi import PAGE_SIZE
from qkernel.dialect import addr_of, cast, i64, ptr, sizeof, u8, u64
from qkernel.linux.errno import EFAULT, EINVAL, ESRCH
from qkernel.linux.resource import RLIMIT_NLIMITS, Rlimit, Sysinfo
from qkernel.linux.utsname import GETRANDOM_MAX, GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM
from qkernel.mm import frames
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import SCRATCH_SIZE, Task


def sys_sysinfo(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Partial: memory figures and one process; no load averages or uptime yet."""
    si: Sysinfo = Sysinfo()
    si.totalram = frames.nframes * PAGE_SIZE
    si.freeram = frames.nfree * PAGE_SIZE
    si.procs = 1
    si.mem_unit = 1
    return copy_to_user(a.a0, cast(ptr[u8], addr_of(si)), sizeof(Sysinfo))


def sys_getrandom(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    buf = a.a0
    n = a.a1
    if a.a2 & ~u64(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0:
        return -EINVAL
    if n > GETRANDOM_MAX:
        n = GETRANDOM_MAX
    if not range_ok(buf, n, True):
        return -EFAULT
    done: u64 = 0
    while done < n:
        chunk = n - done
        if chunk > SCRATCH_SIZE:
            chunk = SCRATCH_SIZE
        qcall.random_bytes(t.scratch, chunk)
        if copy_to_user(buf + done, t.scratch, chunk) != 0:
            return -EFAULT
        done += chunk
    return i64(done)


def sys_getrlimit(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    if a.a0 >= RLIMIT_NLIMITS:
        return -EINVAL
    lim = addr_of(t.process.rlimits[a.a0])
    return copy_to_user(a.a1, cast(ptr[u8], lim), sizeof(Rlimit))


def sys_prlimit64(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    """Partial: reports the limits; setting them is accepted and ignored."""
    if a.a0 != 0 and a.a0 != t.process.pid:
        return -ESRCH
    if a.a1 >= RLIMIT_NLIMITS:
        return -EINVAL
    if a.a3 != 0:
        lim = addr_of(t.process.rlimits[a.a1])
        if copy_to_user(a.a3, cast(ptr[u8], lim), sizeof(Rlimit)) != 0:
            return -EFAULT
    return 0
