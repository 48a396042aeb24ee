"""The initial process stack, laid out exactly as Linux's exec does for x86-64.

Owns: turning the boot argument block (qkernel/abi.py: the executable's path, argc argument
strings, envc environment strings, the working directory; all NUL-terminated) plus the values
of the auxiliary vector into the bytes at the top of the user stack, and the user rsp.

Layout, from the top (user_end) down, as fs/exec.c + fs/binfmt_elf.c create_elf_tables():

    user_end - 8       8 zero bytes (Linux: bprm->p = vm_end - sizeof(void *))
                       the executable's path, NUL-terminated          <- AT_EXECFN
                       argv strings, then envp strings (in the block's order, copied as one run)
                       ("" when argc == 0: Linux 5.18+ passes argv[0] = "" and argc 1)
                       -- rounded down to 16 --
                       "x86_64\\0"                                     <- AT_PLATFORM
                       16 random bytes                                <- AT_RANDOM
                       padding
                       auxv pairs (u64 type, u64 value) ending with AT_NULL, 0
                       NULL, envp pointers (envc)
                       NULL, argv pointers (argc)
    rsp (16-aligned)   argc

The auxv is Linux's order on x86-64: [AT_SYSINFO_EHDR], [AT_MINSIGSTKSZ], AT_HWCAP, AT_PAGESZ,
AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID,
AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_NULL (AT_SYSINFO_EHDR, the
vDSO, omitted when 0). (No AT_RSEQ_*; no stack randomisation below the strings.)

Memory contract: `buf` is kernel-writable memory of buf_len bytes that backs the user range
[user_end - buf_len, user_end); every pointer written is a user address in that range. Both
user_end and buf + buf_len are 16-aligned (a page-aligned mapping of the stack top is). build()
writes every byte of [rsp, user_end) and nothing below rsp. On error the buffer's contents are
unspecified. The argument block and the random bytes are only read.
"""

from __future__ import annotations

from qkernel.abi import ARGS_MAX
from qkernel.dialect import Final, asm, cast, i64, memcpy, memset, ptr, struct, u8, u64
from qkernel.loader import elf

E2BIG: Final = 7
EINVAL: Final = 22

MAX_ARG_STRLEN: Final = 32 * 4096   # bytes of one argument or environment string, NUL included
RANDOM_BYTES: Final = 16
PLATFORM_LEN: Final = 7             # "x86_64" and its NUL
CLK_TCK: Final = 100
PAGE_SIZE: Final = 4096

AT_NULL: Final = 0
AT_PHDR: Final = 3
AT_PHENT: Final = 4
AT_PHNUM: Final = 5
AT_PAGESZ: Final = 6
AT_BASE: Final = 7
AT_FLAGS: Final = 8
AT_ENTRY: Final = 9
AT_UID: Final = 11
AT_EUID: Final = 12
AT_GID: Final = 13
AT_EGID: Final = 14
AT_PLATFORM: Final = 15
AT_HWCAP: Final = 16
AT_CLKTCK: Final = 17
AT_SECURE: Final = 23
AT_RANDOM: Final = 25
AT_HWCAP2: Final = 26
AT_EXECFN: Final = 31
AT_SYSINFO_EHDR: Final = 33
AT_MINSIGSTKSZ: Final = 51
AUXV_MAX: Final = 21                # pairs written (AT_SYSINFO_EHDR, AT_MINSIGSTKSZ and AT_NULL included)


@struct
class StackParams:
    """build()'s inputs (filled by the caller) and outputs (user addresses, filled by build())."""
    # -- inputs
    args: ptr[u8]        # the argument block (kernel address), args_len bytes
    args_len: u64
    argc: u64            # argument strings in the block
    envc: u64            # environment strings in the block
    random: ptr[u8]      # RANDOM_BYTES bytes for AT_RANDOM (kernel address)
    phdr: u64            # AT_PHDR (user address: elf.user_phdr)
    phent: u64           # AT_PHENT
    phnum: u64           # AT_PHNUM
    entry: u64           # AT_ENTRY (user address: elf.user_entry)
    base: u64            # AT_BASE: the interpreter's base, 0 for a static program
    hwcap: u64           # AT_HWCAP (CPUID.1:EDX on x86)
    hwcap2: u64          # AT_HWCAP2
    minsigstksz: u64     # AT_MINSIGSTKSZ, omitted when 0
    sysinfo_ehdr: u64    # AT_SYSINFO_EHDR: the vDSO's user address, omitted when 0
    uid: u64
    euid: u64
    gid: u64
    egid: u64
    secure: u64          # AT_SECURE
    # -- outputs
    argc_out: u64        # argc as passed to the program (1 when the block has none)
    rsp: u64             # same as build()'s result
    argv: u64            # the argv pointer array
    envp: u64            # the envp pointer array
    auxv: u64            # the auxv pairs
    auxv_len: u64        # bytes of auxv, AT_NULL pair included
    arg_start: u64       # [arg_start, arg_end): argv strings (Linux mm->arg_start/arg_end)
    arg_end: u64
    env_start: u64       # [env_start, env_end): envp strings
    env_end: u64
    execfn: u64          # AT_EXECFN
    platform: u64        # AT_PLATFORM
    random_addr: u64     # AT_RANDOM


platform_name: ptr[u8] = b"x86_64"


def fill_from_load_info(p: ptr[StackParams], info: ptr[elf.LoadInfo]) -> None:
    """Sets the auxv values that come from the parsed executable (with its load bias)."""
    p.phdr = elf.user_phdr(info)
    p.phent = info.phentsize
    p.phnum = info.phnum
    p.entry = elf.user_entry(info)
    p.base = 0


def lowest_set(x: u64) -> u64:
    """Index of the lowest set bit of a nonzero x."""
    return asm("bsfq $1, $0", "=r,r", x)


def find_nul(s: ptr[u8], n: u64) -> u64:
    """Index of the first NUL in s[0..n), or n. Eight bytes per step once aligned (the kernel
    runs under an instruction emulator): the lowest 0x80 bit of (v - 0x01..01) & ~v & 0x80..80
    marks the first zero byte. Never reads outside s[0..n)."""
    i: u64 = 0
    while i < n and (u64(s) + i) & 7 != 0:
        if s[i] == 0:
            return i
        i += 1
    while n - i >= 8:
        v = cast(ptr[u64], s + i)[0]
        z = (v - 0x0101010101010101) & ~v & 0x8080808080808080
        if z != 0:
            return i + (lowest_set(z) >> 3)
        i += 8
    while i < n:
        if s[i] == 0:
            return i
        i += 1
    return n


def up16(x: u64) -> u64:
    return (x + 15) & ~u64(15)


def find_cwd(args: ptr[u8], alen: u64, exe_len: u64) -> u64:
    """Where the argument block's last string, the working directory, starts (the block ends
    with a NUL); <= exe_len when the exe path is the only string."""
    start = alen - 1
    while start > exe_len + 1 and args[start - 1] != 0:
        start -= 1
    return start


def build(buf: ptr[u8], buf_len: u64, user_end: u64, p: ptr[StackParams]) -> i64:
    """Builds the initial stack in buf (see the module docstring); returns the user rsp, or
    -E2BIG (it does not fit in buf_len bytes, or a string is longer than MAX_ARG_STRLEN), or
    -EINVAL (user_end or buf + buf_len not 16-aligned, user_end below buf_len, or a malformed
    argument block)."""
    if user_end % 16 != 0 or buf_len > user_end or (u64(buf) + buf_len) % 16 != 0:
        return -EINVAL
    args = p.args
    alen = p.args_len
    if alen > ARGS_MAX:
        return -E2BIG
    # Every string takes at least its NUL: exe + argc + envc + cwd strings need that many bytes.
    if alen == 0 or args[alen - 1] != 0 or p.argc > alen or p.envc > alen or p.argc + p.envc + 2 > alen:
        return -EINVAL
    exe_len = find_nul(args, alen)            # < alen: the block ends with a NUL
    cwd_start = find_cwd(args, alen, exe_len)
    if cwd_start <= exe_len:                  # the exe path is the last string: no cwd
        return -EINVAL
    if exe_len + 1 > MAX_ARG_STRLEN:
        return -E2BIG
    region = args + (exe_len + 1)             # argv and envp strings, one run
    region_len = cwd_start - (exe_len + 1)
    nstr = p.argc + p.envc
    argc = p.argc
    empty_argv0: u64 = 0
    if argc == 0:
        empty_argv0 = 1
        argc = 1

    # Sizes as offsets below user_end (all bounded by ~2 * ARGS_MAX: no wrap).
    off_execfn = 8 + exe_len + 1
    off_strings = off_execfn + region_len + empty_argv0
    off_platform = up16(off_strings) + PLATFORM_LEN
    off_random = off_platform + RANDOM_BYTES
    nauxv: u64 = AUXV_MAX - u64(p.minsigstksz == 0) - u64(p.sysinfo_ehdr == 0)
    words = 1 + (argc + 1) + (p.envc + 1) + 2 * nauxv
    off_sp = up16(off_random + words * 8)
    if off_sp > buf_len:
        return -E2BIG

    kend = buf + buf_len                      # kernel address of user_end
    memset(kend - off_sp, 0, off_sp)
    memcpy(kend - off_execfn, args, exe_len + 1)
    memcpy(kend - (off_execfn + region_len), region, region_len)
    memcpy(kend - off_platform, platform_name, PLATFORM_LEN)
    memcpy(kend - off_random, p.random, RANDOM_BYTES)

    sp = user_end - off_sp
    vec = cast(ptr[u64], kend - off_sp)       # vec[k] is at user address sp + 8k
    vec[0] = argc
    strings_user = user_end - (off_execfn + region_len)
    argv_at: u64 = 1
    envp_at: u64 = argc + 2
    if empty_argv0 != 0:
        vec[1] = user_end - off_strings      # the zero byte just below the strings
    # Walk the copied strings (what the program will see), writing one pointer per string.
    copied = kend - (off_execfn + region_len)
    pos: u64 = 0
    k: u64 = 0
    p.env_start = strings_user + region_len
    while pos < region_len:
        z = find_nul(copied + pos, region_len - pos)
        if z == region_len - pos or k >= nstr:  # no NUL (cannot happen: cwd_start follows one)
            return -EINVAL
        if z + 1 > MAX_ARG_STRLEN:
            return -E2BIG
        if k < p.argc:
            vec[argv_at + k] = strings_user + pos
        else:
            if k == p.argc:
                p.env_start = strings_user + pos
            vec[envp_at + (k - p.argc)] = strings_user + pos
        pos += z + 1
        k += 1
    if k != nstr:
        return -EINVAL
    # vec[argc + 1] and vec[argc + 2 + envc] are the NULL terminators (zeroed above).

    execfn = user_end - off_execfn
    platform = user_end - off_platform
    random = user_end - off_random
    a = cast(ptr[u64], vec + (argc + 2 + p.envc + 1))
    n: u64 = 0
    if p.sysinfo_ehdr != 0:
        n = put_aux(a, n, AT_SYSINFO_EHDR, p.sysinfo_ehdr)
    if p.minsigstksz != 0:
        n = put_aux(a, n, AT_MINSIGSTKSZ, p.minsigstksz)
    n = put_aux(a, n, AT_HWCAP, p.hwcap)
    n = put_aux(a, n, AT_PAGESZ, PAGE_SIZE)
    n = put_aux(a, n, AT_CLKTCK, CLK_TCK)
    n = put_aux(a, n, AT_PHDR, p.phdr)
    n = put_aux(a, n, AT_PHENT, p.phent)
    n = put_aux(a, n, AT_PHNUM, p.phnum)
    n = put_aux(a, n, AT_BASE, p.base)
    n = put_aux(a, n, AT_FLAGS, 0)
    n = put_aux(a, n, AT_ENTRY, p.entry)
    n = put_aux(a, n, AT_UID, p.uid)
    n = put_aux(a, n, AT_EUID, p.euid)
    n = put_aux(a, n, AT_GID, p.gid)
    n = put_aux(a, n, AT_EGID, p.egid)
    n = put_aux(a, n, AT_SECURE, p.secure)
    n = put_aux(a, n, AT_RANDOM, random)
    n = put_aux(a, n, AT_HWCAP2, p.hwcap2)
    n = put_aux(a, n, AT_EXECFN, execfn)
    n = put_aux(a, n, AT_PLATFORM, platform)
    n = put_aux(a, n, AT_NULL, 0)

    p.argc_out = argc
    p.rsp = sp
    p.argv = sp + 8
    p.envp = sp + 8 * envp_at
    p.auxv = sp + 8 * (argc + 2 + p.envc + 1)
    p.auxv_len = n * 16
    p.arg_start = strings_user if empty_argv0 == 0 else user_end - off_strings
    p.arg_end = p.env_start
    p.env_end = strings_user + region_len
    p.execfn = execfn
    p.platform = platform
    p.random_addr = random
    return i64(sp)


def put_aux(a: ptr[u64], n: u64, kind: u64, value: u64) -> u64:
    a[2 * n] = kind
    a[2 * n + 1] = value
    return n + 1
