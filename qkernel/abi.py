"""The guest-host ABI, defined once: boot layout, boot parameters, qcall numbers and blocks.

QVisor imports this module under CPython (constants are plain ints there, struct layouts come from
qkernel.dialect.layout) and the kernel compiles it: there is no second hand-kept copy.

qcall protocol (synchronous): the kernel fills a Qcall block in guest memory, then writes the
block's guest-physical address (which must lie below 4 GiB) to port QCALL_PORT with `outl`. The host
validates the block and every guest-physical (address, length) pair in it, performs the call,
stores the result (>= 0, or -errno) in `result`, and resumes the vCPU. Addresses in qcall
arguments are guest-physical.
"""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, u8, u32, u64
from qkernel.linux.stat import Stat  # noqa: F401 (the host's K.Stat)

# ---- memory layout (virtual addresses in the upper half, none in the top 2 GiB)
DIRECT_MAP_BASE: Final = 0xFFFF_A000_0000_0000  # + pa -> pa, all of guest RAM (not PML4 slot 256:
#                                                kvm_pvm keeps that slot from ring 3, see flat mode)
KERNEL_BASE: Final = 0xFFFF_C000_0000_0000      # the image, linked here
KERNEL_PHYS: Final = 0x20_0000                  # where the image is loaded
GDT_PHYS: Final = 0x1000
TSS_PHYS: Final = 0x2000
BOOT_PARAMS_PHYS: Final = 0x7000
PAGE_TABLES_PHYS: Final = 0x1_0000
PAGE_TABLES_END: Final = 0x8_0000
BOOT_STACK_PHYS: Final = 0x8_0000
BOOT_STACK_SIZE: Final = 0x1_0000
ARGS_PHYS: Final = 0x10_0000   # the program's argument block (see BootParams.args_len)
ARGS_MAX: Final = 0x10_0000    # bytes, like Linux's ARG_MAX order of magnitude
PAGE_SIZE: Final = 4096

# ---- boot parameters
BOOT_MAGIC: Final = 0x4B52_4155_5159_5000  # "PYQUARK" + 0
PLATFORM_PVM: Final = 1
PLATFORM_KVM: Final = 2
PLATFORM_EMU: Final = 3
MODE_FLAT: Final = 1   # kernel and application share a privilege level (planned for pvm)
MODE_SPLIT: Final = 2  # application in ring 3, kernel in ring 0 (every platform today)

# boot flags: self-tests and deliberate faults (for crash-report tests)
BOOT_SELFTEST: Final = 1
BOOT_FAULT_UD: Final = 2      # execute ud2 in the kernel
BOOT_FAULT_PF: Final = 4      # read an unmapped address
BOOT_FAULT_DE: Final = 8      # divide by zero
BOOT_FAULT_PANIC: Final = 16  # call panic()
BOOT_FAULT_INT3: Final = 32   # int3 at CPL 0
BOOT_FAULT_TRIPLE: Final = 64  # load an empty IDT and fault
BOOT_STRACE: Final = 128      # print every system call and its result to stderr

CMDLINE_MAX: Final = 256

# platform capabilities (BootParams.caps): what the kernel adapts to, never a platform's name
CAP_CPL0_EMULATED: Final = 1  # CPL 0 code runs in the hypervisor's instruction emulator (kvm_pvm:
#                               ~1 us per instruction): the host zeroes frames (QCALL_ZERO_PAGES)
CAP_NO_PROGRAM_TICK: Final = 2  # the platform cannot deliver a timer interrupt into a running
#                               program faithfully (emu: an asynchronous stop of unicorn can
#                               re-run instructions of the program): no preemption tick is armed;
#                               tasks switch where they block or at a system call past their slice


@struct
class BootParams:
    magic: u64
    mem_size: u64        # bytes of guest RAM at guest-physical 0
    platform: u64        # PLATFORM_*
    mode: u64            # MODE_*
    flags: u64           # BOOT_*
    log_level: u64       # messages at this level or more severe go to the console
    image_end_phys: u64  # first guest-physical byte after the kernel image (page aligned)
    tsc_khz: u64         # TSC frequency reported by the host, 0 if unknown
    # The program to run (0 when only booting): at ARGS_PHYS, args_len bytes of NUL-terminated
    # strings: the executable's path in the root, argc argument strings, envc environment
    # strings ("K=V"), then the working directory.
    argc: u64
    envc: u64
    args_len: u64
    caps: u64            # CAP_* of the platform
    fault_around: u64    # bytes a user page fault maps around the page (a power of two; 0: one page)
    stdio_closed: u64    # bit n: the sandbox's fd n (0..2) was closed when qvisor started (EBADF)
    cmdline: array[u8, 256]


# ---- qcalls
QCALL_PORT: Final = 0x0CA0

QCALL_CONSOLE_WRITE: Final = 1  # (fd 1|2, buf_pa, len) -> bytes written
QCALL_EXIT: Final = 2           # (status) -> does not return
QCALL_CLOCK: Final = 3          # (clock id: 0 realtime, 1 monotonic) -> nanoseconds
QCALL_RANDOM: Final = 4         # (buf_pa, len) -> len
QCALL_LOG: Final = 5            # (level, buf_pa, len) -> 0
QCALL_PANIC: Final = 6          # (msg_pa, len, frame_pa) -> does not return; the host writes a crash report
# Files of the sandbox's host trees: tree 0 is the root (a host directory, read-only), trees
# 1..n the binds (`--mount HOST:GUEST[:ro|rw]`, listed by QCALL_HOST_MOUNT). Paths are resolved
# inside their tree: absolute paths start at its top, and neither `..` nor symlinks ever leave it.
# `tree` is the last argument of the path calls (0 when left out).
QCALL_OPEN: Final = 7           # (path_pa, path_len, flags OPEN_*, tree) -> handle >= 0 | -errno
QCALL_PREAD: Final = 8          # (handle, buf_pa, len, offset) -> bytes read | -errno
QCALL_CLOSE: Final = 9          # (handle) -> 0 | -EBADF
QCALL_FSTAT: Final = 10         # (handle, stat_pa) -> 0, a Stat written at stat_pa | -errno
QCALL_STAT: Final = 11          # (path_pa, path_len, stat_pa, nofollow, tree) -> 0 | -errno
QCALL_READLINK: Final = 12      # (path_pa, path_len, buf_pa, buf_len, tree) -> bytes | -errno
QCALL_TTY_IOCTL: Final = 13     # (fd 0..2, request TCGETS|TIOCGWINSZ, buf_pa) -> 0 | -ENOTTY/-EINVAL
QCALL_CONSOLE_READ: Final = 14  # (fd 0, buf_pa, len) -> bytes read (0 at EOF) | -errno
QCALL_NANOSLEEP: Final = 15     # (nanoseconds) -> 0; the host sleeps (no other vCPU work exists yet)
QCALL_STDIO_FSTAT: Final = 16   # (fd 0..2, stat_pa) -> 0 | -errno: the host's fstat of that stdio fd
QCALL_ZERO_PAGES: Final = 17    # (pa, npages) -> 0: the host zeroes guest frames (pvm: CPL 0 is emulated)
QCALL_GETDENTS: Final = 22      # (handle of a directory, buf_pa, len, cookie) -> bytes | -errno:
#   linux_dirent64 records (qkernel.linux.uio.Dirent64 + name + NUL, 8-aligned) of the entries
#   from position `cookie` on (0: the first), "." and ".." left out (the kernel makes its own),
#   each record's d_off the cookie of the next; 0 at the end, -EINVAL when len cannot hold the
#   next record. The listing is taken when cookie 0 is read and kept with the handle.
QCALL_HOST_MOUNT: Final = 23    # (index 1.., buf_pa, len) -> flags HOST_MOUNT_* | -ENOENT past the
#   last bind; writes the bind's guest path (absolute, normalised, NUL-terminated) at buf_pa
# Writing calls: only on a tree bound rw (others: -EROFS); `dir_handle` is a handle of a
# directory of that tree, `name` one component (no "/", not "." or ".."), at most NAME_MAX bytes.
QCALL_CREATE: Final = 24        # (dir_handle, name_pa, name_len, flags CREATE_*, mode) -> handle
QCALL_PWRITE: Final = 25        # (handle opened with OPEN_WRITE, buf_pa, len, offset) -> bytes | -errno
QCALL_MKDIR: Final = 26         # (dir_handle, name_pa, name_len, mode) -> 0 | -errno
QCALL_UNLINK: Final = 27        # (dir_handle, name_pa, name_len, is_dir) -> 0 | -errno (rmdir when is_dir)
QCALL_RENAME: Final = 28        # (old_dir_handle, old_name_pa, old_name_len, new_dir_handle, new_name_pa,
#                                  new_name_len) -> 0 | -errno (-EXDEV across trees)
QCALL_SYMLINK: Final = 29       # (dir_handle, name_pa, name_len, target_pa, target_len) -> 0 | -errno
QCALL_TRUNCATE: Final = 30      # (handle opened with OPEN_WRITE, length) -> 0 | -errno
QCALL_SETATTR: Final = 31       # (handle, what SETATTR_*, a, b) -> 0 | -errno: chmod (a = mode),
#                                  chown (a = uid, b = gid), times (a = atime ns, b = mtime ns)
QCALL_MAX: Final = 32

OPEN_DIRECTORY: Final = 1       # fail with -ENOTDIR unless the path is a directory
OPEN_NOFOLLOW: Final = 2        # do not follow a symlink in the last component (-ELOOP)
OPEN_WRITE: Final = 4           # open for writing too (only in a tree bound rw; else -EROFS)
HOST_FILES_MAX: Final = 1024    # open handles per sandbox (-EMFILE beyond)
HOST_MOUNT_RW: Final = 1        # QCALL_HOST_MOUNT flags: the bind is writable
CREATE_EXCL: Final = 1          # QCALL_CREATE: fail with -EEXIST if the name exists
CREATE_TRUNC: Final = 2         # QCALL_CREATE: truncate an existing file
SETATTR_MODE: Final = 1
SETATTR_OWNER: Final = 2
SETATTR_TIMES: Final = 3        # a time of UTIME_OMIT_NS leaves it as it is
UTIME_OMIT_NS: Final = 0xFFFF_FFFF_FFFF_FFFF


# QCALL_FSTAT, QCALL_STAT and QCALL_STDIO_FSTAT write a qkernel.linux.stat.Stat (Linux's own
# struct stat); the host reads its layout as K.Stat.


@struct
class Qcall:
    nr: u64
    args: array[u64, 6]
    result: u64  # >= 0 on success, -errno (two's complement) on failure


# The ring lives in guest RAM at a page-aligned guest-physical address `ring_pa`:
#
#     ring_pa + 0                          RingHeader (128 bytes: a guest-written cache line,
#                                          then a host-written one)
#     ring_pa + RING_SQ_OFFSET             entries x RingSqe (64 bytes), the submission queue
#     ring_pa + RING_SQ_OFFSET
#             + entries * 64               entries x RingCqe (16 bytes), the completion queue
#
#     ring bytes = RING_SQ_OFFSET + entries * (64 + 16)
#
# Indices are free-running u32 counters (they wrap at 2**32); slot = index & (entries - 1).
# SQ: the guest produces at sq_tail, the host consumes at sq_head. CQ: the host produces at
# cq_tail, the guest consumes at cq_head. Each side writes only its own fields; the host keeps
# its own copy of sq_head and cq_tail and never reads them back from guest memory.
#
# Protocol (what the guest must do):
# 1. Set up: pick `entries` (a power of two, 1..RING_ENTRIES_MAX), allocate ring bytes of
#    physically contiguous RAM at a page-aligned address (not inside the kernel image or the boot
#    area below KERNEL_PHYS, entirely inside RAM), then QCALL_RING_SETUP(ring_pa, entries, flags).
#    It answers the RING_SETUP_* features granted (>= 0), or -EINVAL (entries, alignment, flags,
#    overlap), -EFAULT (past RAM), -EBUSY (a ring is already set up). The host initialises the
#    header (all indices 0, `entries`, host_flags); the guest must not touch the ring before the
#    call returns. One ring per VM; QCALL_RING_TEARDOWN ends it (in-flight completions are then
#    dropped, sleeps cut short) and the memory is the guest's again.
# 2. Submit: if sq_tail - sq_head (u32) == entries the SQ is full. Else fill the RingSqe at slot
#    sq_tail (nr, flags = 0, args, tag), then store sq_tail + 1 (a release store: the entry's
#    stores first; on x86 a compiler barrier suffices, the `atomic_store` intrinsic). Then a FULL
#    fence (`fence`: mfence or a locked op: the store of sq_tail must be visible before the load
#    that follows), then load host_flags: if RING_NEED_KICK is set, QCALL_RING_KICK(), which
#    returns how many SQEs the host took (>= 0), -ENXIO (no ring), -EIO (ring broken). Batching
#    several SQEs per kick is allowed.
# 3. The host takes an SQE only while (completions posted but not consumed) + (SQEs taken but not
#    completed) < entries, so the CQ cannot overflow; SQEs it could not take yet stay in the SQ.
#    So after consuming completions, if sq_head != sq_tail and RING_NEED_KICK is set, kick again.
# 4. Complete: the host writes the RingCqe at slot cq_tail (tag as submitted, result >= 0 or
#    -errno), then stores cq_tail + 1. cq_tail is the completion counter the guest's idle loop
#    checks: `atomic_load(cq_tail) != cq_head` means work. Read cq_tail with an acquire load
#    (x86: a plain load, then no reordering of the CQE loads above it by the compiler), read the
#    CQEs, then store cq_head (release: after the CQE loads). With RING_SETUP_IRQ granted the
#    platform also injects RING_IRQ_VECTOR after posting (coalesced: one interrupt may stand for
#    many completions; the handler must drain to cq_tail).
# 5. Results: as the synchronous qcall's, plus -ENOSYS (unknown nr, logged once), -EINVAL (a qcall
#    that is synchronous only, or flags != 0), -EFAULT (a bad address in args), -EINTR (a sleep
#    cut short by teardown). Only blocking-capable qcalls are served on the ring: today
#    CONSOLE_WRITE, CONSOLE_READ (at most 64 KiB per entry) and NANOSLEEP.
# 6. Broken ring: if the host finds sq_tail - sq_head > entries or cq_tail - cq_head > entries
#    (u32), it sets RING_BROKEN, stops serving the ring and drops its completions; the guest must
#    tear it down (a kernel bug).
# ---- asynchronous qcalls: a shared-memory ring served by host threads
QCALL_RING_SETUP: Final = 18     # (ring_pa, entries, flags RING_SETUP_*) -> features granted | -errno
QCALL_RING_KICK: Final = 19      # () -> SQEs taken | -ENXIO (no ring) | -EIO (ring broken)
QCALL_RING_TEARDOWN: Final = 20  # () -> 0 | -ENXIO; completions in flight are dropped
QCALL_RING_WAIT: Final = 21      # (timeout_ns) -> completions pending, once there is one or the
#                                  timeout (capped by the host) passed: the idle loop's wait

RING_ENTRIES_MAX: Final = 1024   # entries: a power of two, 1..RING_ENTRIES_MAX
RING_SQ_OFFSET: Final = 128      # sizeof(RingHeader): the SQ starts here, the CQ after it
RING_SQE_SIZE: Final = 64
RING_CQE_SIZE: Final = 16
RING_SETUP_IRQ: Final = 1        # setup flag / feature: inject RING_IRQ_VECTOR on completions
RING_IRQ_VECTOR: Final = 0x41    # proposed; the platform's interrupt injection uses it
RING_NEED_KICK: Final = 1        # host_flags: no host thread polls the SQ; kick after submitting
RING_BROKEN: Final = 2           # host_flags: corrupt indices seen; the host stopped serving


@struct
class RingHeader:
    # written by the guest, read by the host (first cache line)
    sq_tail: u32                 # next SQ slot the guest fills
    cq_head: u32                 # next CQE the guest consumes
    guest_reserved: array[u32, 14]
    # written by the host, read by the guest (second cache line)
    sq_head: u32                 # SQEs before it have been copied by the host (slots reusable)
    cq_tail: u32                 # CQEs before it are posted: the completion counter
    host_flags: u32              # RING_NEED_KICK | RING_BROKEN
    entries: u32                 # as accepted by QCALL_RING_SETUP
    host_reserved: array[u32, 12]


@struct
class RingSqe:
    nr: u32                      # the qcall number (QCALL_*)
    flags: u32                   # 0 (others: -EINVAL)
    args: array[u64, 6]          # as a Qcall's; addresses guest-physical
    tag: u64                     # the guest's, returned in the RingCqe as is


@struct
class RingCqe:
    tag: u64
    result: u64                  # >= 0 on success, -errno (two's complement) on failure


# ---- kernel log levels (klog)
LOG_ERROR: Final = 0
LOG_WARN: Final = 1
LOG_INFO: Final = 2
LOG_DEBUG: Final = 3
