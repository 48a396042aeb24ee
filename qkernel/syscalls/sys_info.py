"""System information and limits: sysinfo, getrandom, getrlimit, prlimit64, rseq."""

from __future__ import annotations

from qkernel.abi import QCALL_RANDOM
from qkernel.dialect import Final, addr_of, array, i64, memset, u64
from qkernel.mm import frames
from qkernel.mm.addr import pa
from qkernel.mm.uaccess import copy_to_user, range_ok
from qkernel.qcall import qcall
from qkernel.syscalls.errno import EFAULT, EINVAL, ENOSYS
from qkernel.syscalls.sys_io import bounce

GRND_NONBLOCK: Final = 1
GRND_RANDOM: Final = 2
GRND_INSECURE: Final = 4
RLIM_INFINITY: Final = 0xFFFF_FFFF_FFFF_FFFF
RLIMIT_STACK: Final = 3
RLIMIT_NOFILE: Final = 7
RLIMIT_NLIMITS: Final = 16
GETRANDOM_MAX: Final = 33554431  # Linux caps one call at 32 MiB - 1

info: array[u64, 14] = array[u64, 14]()   # struct sysinfo (112 bytes)
lim: array[u64, 2] = array[u64, 2]()


def sys_sysinfo(buf: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    memset(addr_of(info[0]), 0, 112)
    info[4] = frames.nframes * 4096    # totalram
    info[5] = frames.nfree * 4096      # freeram
    info[10] = 1                       # procs (u16 in the first half of the word)
    info[13] = 1                       # mem_unit (u32 at offset 104)
    return copy_to_user(buf, addr_of(info[0]), 112)


def sys_getrandom(buf: u64, n: u64, flags: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if flags & ~u64(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0:
        return -EINVAL
    if n > GETRANDOM_MAX:
        n = GETRANDOM_MAX
    if not range_ok(buf, n, True):
        return -EFAULT
    done: u64 = 0
    while done < n:
        chunk = n - done
        if chunk > 65536:
            chunk = 65536
        qcall(QCALL_RANDOM, pa(u64(addr_of(bounce[0]))), chunk, 0, 0)
        if copy_to_user(buf + done, addr_of(bounce[0]), chunk) != 0:
            return -EFAULT
        done += chunk
    return i64(done)


def _limit(resource: u64) -> None:
    lim[0] = RLIM_INFINITY
    lim[1] = RLIM_INFINITY
    if resource == RLIMIT_STACK:
        lim[0] = 8 << 20
    elif resource == RLIMIT_NOFILE:
        lim[0] = 1024
        lim[1] = 4096


def sys_getrlimit(resource: u64, rlim: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    if resource >= RLIMIT_NLIMITS:
        return -EINVAL
    _limit(resource)
    return copy_to_user(rlim, addr_of(lim[0]), 16)


def sys_prlimit64(pid: u64, resource: u64, new: u64, old: u64, a4: u64, a5: u64) -> i64:
    """Reports the limits; setting them is accepted and ignored (partial)."""
    if resource >= RLIMIT_NLIMITS:
        return -EINVAL
    if old != 0:
        _limit(resource)
        if copy_to_user(old, addr_of(lim[0]), 16) != 0:
            return -EFAULT
    return 0


def sys_rseq(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64:
    """Restartable sequences are optional for libcs (glibc falls back when this fails)."""
    return -ENOSYS
