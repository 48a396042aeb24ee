"""qkernel/linux, the Linux ABI defined once, checked against the host's own headers: every system
call number and name (<asm/unistd_64.h>), errno names and messages, and the flag values and the
records' sizes and field offsets as gcc sees them in the C headers."""

from __future__ import annotations

import errno as host_errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from qkernel.dialect import layout
from qkernel.linux import (errno, events, fcntl, futex, mman, resource, sched, signal, stat, sysno, time, tty,
                           uio, utsname)

UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def _header_numbers() -> dict[str, int]:
    if not UNISTD.exists():
        pytest.skip(f"{UNISTD} missing (Debian package linux-libc-dev)")
    text = UNISTD.read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"#define __NR_(\w+) (\d+)", text)}


def test_every_syscall_number_and_name_matches_the_header():
    nums = _header_numbers()
    assert len(nums) > 350
    for name, nr in nums.items():
        assert getattr(sysno, f"SYS_{name}") == nr, name
        assert sysno.NAMES[nr] == name.encode(), name
    ours = {k[4:]: v for k, v in vars(sysno).items() if k.startswith("SYS_")}
    assert ours == nums  # nothing invented either
    named = {i for i, n in enumerate(sysno.NAMES) if n}
    assert named == set(nums.values())
    assert len(sysno.NAMES) == sysno.NR_NAMED <= sysno.NR_SYSCALLS


def test_errno_values_names_and_messages_match_the_host():
    for code, name in host_errno.errorcode.items():
        if code > errno.ERRNO_MAX:
            continue
        assert getattr(errno, name) == code, name
        assert errno.NAMES[code] in (name.encode(), b"EAGAIN", b"EDEADLK", b"EOPNOTSUPP")
        assert errno.MESSAGES[code] == os.strerror(code).encode()
    assert errno.NAMES[errno.EAGAIN] == b"EAGAIN" and errno.EWOULDBLOCK == errno.EAGAIN
    assert errno.name(-errno.ENOENT) == b"ENOENT" and errno.name(9999) == b""
    assert errno.message(-errno.ENOENT) == b"No such file or directory"
    assert errno.ERESTARTSYS > 4095 - 4096 + errno.ERRNO_MAX  # never mistaken for a real errno


# (module, our name, C expression): constants compared with what gcc computes.
CONSTANTS = [(m, n, n) for m, names in [
    (fcntl, "O_WRONLY O_RDWR O_ACCMODE O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK O_DSYNC "
            "O_ASYNC O_DIRECT O_DIRECTORY O_NOFOLLOW O_NOATIME O_CLOEXEC O_SYNC O_PATH "
            "O_TMPFILE AT_SYMLINK_NOFOLLOW AT_EACCESS AT_REMOVEDIR AT_SYMLINK_FOLLOW AT_NO_AUTOMOUNT "
            "AT_EMPTY_PATH F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_GETLK F_SETLK F_SETLKW F_SETOWN "
            "F_GETOWN F_DUPFD_CLOEXEC FD_CLOEXEC F_OK X_OK W_OK R_OK SEEK_SET SEEK_CUR SEEK_END "
            "PATH_MAX NAME_MAX F_SETPIPE_SZ F_GETPIPE_SZ F_ADD_SEALS F_GET_SEALS F_OFD_GETLK "
            "F_OFD_SETLK F_OFD_SETLKW F_RDLCK F_WRLCK F_UNLCK LOCK_SH LOCK_EX LOCK_NB LOCK_UN "
            "F_SEAL_SEAL F_SEAL_SHRINK F_SEAL_GROW F_SEAL_WRITE F_SEAL_FUTURE_WRITE "
            "MFD_CLOEXEC MFD_ALLOW_SEALING MFD_HUGETLB RWF_HIPRI RWF_DSYNC "
            "RWF_SYNC RWF_NOWAIT RWF_APPEND FALLOC_FL_KEEP_SIZE FALLOC_FL_PUNCH_HOLE "
            "FALLOC_FL_COLLAPSE_RANGE FALLOC_FL_ZERO_RANGE FALLOC_FL_INSERT_RANGE "
            "FALLOC_FL_UNSHARE_RANGE POSIX_FADV_NORMAL POSIX_FADV_RANDOM POSIX_FADV_SEQUENTIAL "
            "POSIX_FADV_WILLNEED POSIX_FADV_DONTNEED POSIX_FADV_NOREUSE SPLICE_F_MOVE SPLICE_F_NONBLOCK "
            "SPLICE_F_MORE SPLICE_F_GIFT"),
    (mman, "PROT_READ PROT_WRITE PROT_EXEC PROT_GROWSDOWN PROT_GROWSUP MAP_SHARED MAP_PRIVATE "
           "MAP_SHARED_VALIDATE MAP_TYPE MAP_FIXED MAP_ANONYMOUS MAP_32BIT MAP_GROWSDOWN MAP_DENYWRITE "
           "MAP_EXECUTABLE MAP_LOCKED MAP_NORESERVE MAP_POPULATE MAP_NONBLOCK MAP_STACK MAP_HUGETLB "
           "MAP_SYNC MAP_FIXED_NOREPLACE MAP_HUGE_SHIFT MAP_HUGE_MASK MREMAP_MAYMOVE "
           "MREMAP_FIXED MREMAP_DONTUNMAP MADV_NORMAL MADV_RANDOM MADV_SEQUENTIAL MADV_WILLNEED "
           "MADV_DONTNEED MADV_FREE MADV_REMOVE MADV_DONTFORK MADV_DOFORK MADV_MERGEABLE "
           "MADV_UNMERGEABLE MADV_HUGEPAGE MADV_NOHUGEPAGE MADV_DONTDUMP MADV_DODUMP MADV_WIPEONFORK "
           "MADV_KEEPONFORK MADV_COLD MADV_PAGEOUT MADV_POPULATE_READ MADV_POPULATE_WRITE MADV_HWPOISON "
           "MS_ASYNC MS_INVALIDATE MS_SYNC"),
    (signal, "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV "
             "SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN "
             "SIGTTOU SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS "
             "SA_NOCLDSTOP SA_NOCLDWAIT SA_SIGINFO SA_ONSTACK SA_RESTART SA_NODEFER SA_RESETHAND "
             "SIG_BLOCK SIG_UNBLOCK SIG_SETMASK SS_ONSTACK SS_DISABLE SI_USER SI_KERNEL SI_QUEUE "
             "SI_TKILL SI_TIMER SEGV_MAPERR SEGV_ACCERR CLD_EXITED CLD_KILLED CLD_DUMPED CLD_TRAPPED "
             "CLD_STOPPED CLD_CONTINUED ILL_ILLOPN FPE_INTDIV "
             "BUS_ADRERR TRAP_BRKPT"),
    (futex, "FUTEX_WAIT FUTEX_WAKE FUTEX_FD FUTEX_REQUEUE FUTEX_CMP_REQUEUE FUTEX_WAKE_OP "
            "FUTEX_LOCK_PI FUTEX_UNLOCK_PI FUTEX_TRYLOCK_PI FUTEX_WAIT_BITSET FUTEX_WAKE_BITSET "
            "FUTEX_WAIT_REQUEUE_PI FUTEX_CMP_REQUEUE_PI FUTEX_LOCK_PI2 FUTEX_PRIVATE_FLAG "
            "FUTEX_CLOCK_REALTIME FUTEX_BITSET_MATCH_ANY FUTEX_OP_SET FUTEX_OP_ADD "
            "FUTEX_OP_OR FUTEX_OP_ANDN FUTEX_OP_XOR FUTEX_OP_OPARG_SHIFT FUTEX_OP_CMP_EQ "
            "FUTEX_OP_CMP_NE FUTEX_OP_CMP_LT FUTEX_OP_CMP_LE FUTEX_OP_CMP_GT FUTEX_OP_CMP_GE "
            "FUTEX_WAITERS FUTEX_OWNER_DIED FUTEX_TID_MASK ROBUST_LIST_LIMIT"),
    (sched, "CSIGNAL CLONE_VM CLONE_FS CLONE_FILES CLONE_SIGHAND CLONE_PIDFD CLONE_PTRACE CLONE_VFORK "
            "CLONE_PARENT CLONE_THREAD CLONE_NEWNS CLONE_SYSVSEM CLONE_SETTLS CLONE_PARENT_SETTID "
            "CLONE_CHILD_CLEARTID CLONE_DETACHED CLONE_UNTRACED CLONE_CHILD_SETTID CLONE_NEWCGROUP "
            "CLONE_NEWUTS CLONE_NEWIPC CLONE_NEWUSER CLONE_NEWPID CLONE_NEWNET CLONE_IO SCHED_OTHER "
            "SCHED_FIFO SCHED_RR SCHED_BATCH SCHED_IDLE WNOHANG WUNTRACED WSTOPPED WEXITED WCONTINUED "
            "WNOWAIT P_ALL P_PID P_PGID P_PIDFD"),
    (time, "CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_PROCESS_CPUTIME_ID CLOCK_THREAD_CPUTIME_ID "
           "CLOCK_MONOTONIC_RAW CLOCK_REALTIME_COARSE CLOCK_MONOTONIC_COARSE CLOCK_BOOTTIME "
           "CLOCK_REALTIME_ALARM CLOCK_BOOTTIME_ALARM CLOCK_TAI TIMER_ABSTIME ITIMER_REAL "
           "ITIMER_VIRTUAL ITIMER_PROF"),
    (resource, "RLIMIT_CPU RLIMIT_FSIZE RLIMIT_DATA RLIMIT_STACK RLIMIT_CORE RLIMIT_RSS RLIMIT_NPROC "
               "RLIMIT_NOFILE RLIMIT_MEMLOCK RLIMIT_AS RLIMIT_LOCKS RLIMIT_SIGPENDING "
               "RLIMIT_MSGQUEUE RLIMIT_NICE RLIMIT_RTPRIO RLIMIT_RTTIME RLIMIT_NLIMITS RUSAGE_SELF "
               "RUSAGE_THREAD"),
    (stat, "S_IFMT S_IFSOCK S_IFLNK S_IFREG S_IFBLK S_IFDIR S_IFCHR S_IFIFO S_ISUID S_ISGID S_ISVTX "
           "STATX_TYPE STATX_MODE STATX_NLINK STATX_UID STATX_GID STATX_ATIME STATX_MTIME "
           "STATX_CTIME STATX_INO STATX_SIZE STATX_BLOCKS STATX_BASIC_STATS STATX_BTIME "
           "OVERLAYFS_SUPER_MAGIC TMPFS_MAGIC PROC_SUPER_MAGIC"),
    (uio, "IOV_MAX DT_UNKNOWN DT_FIFO DT_CHR DT_DIR DT_BLK DT_REG DT_LNK DT_SOCK POLLIN POLLPRI "
          "POLLOUT POLLERR POLLHUP POLLNVAL POLLRDNORM POLLRDBAND POLLWRNORM POLLWRBAND POLLRDHUP "
          "EPOLL_CTL_ADD EPOLL_CTL_DEL EPOLL_CTL_MOD EPOLLET EPOLLONESHOT EPOLLEXCLUSIVE"),
    (events, "EPOLL_CLOEXEC EFD_SEMAPHORE EFD_CLOEXEC EFD_NONBLOCK TFD_CLOEXEC TFD_NONBLOCK "
             "TFD_TIMER_ABSTIME TFD_TIMER_CANCEL_ON_SET SFD_CLOEXEC SFD_NONBLOCK"),
    (tty, "TCGETS TCSETS TCSETSW TCSETSF TIOCSCTTY TIOCGPGRP TIOCSPGRP TIOCGWINSZ TIOCSWINSZ FIONREAD "
          "FIONBIO FIOCLEX FIONCLEX NCCS"),
    (utsname, "PR_SET_PDEATHSIG PR_GET_PDEATHSIG PR_GET_DUMPABLE PR_SET_DUMPABLE PR_SET_NAME "
              "PR_GET_NAME PR_SET_NO_NEW_PRIVS PR_GET_NO_NEW_PRIVS ARCH_SET_GS ARCH_SET_FS "
              "ARCH_GET_FS ARCH_GET_GS GRND_NONBLOCK GRND_RANDOM GRND_INSECURE"),
] for n in names.split()] + [
    (fcntl, "AT_FDCWD", "AT_FDCWD"), (resource, "RUSAGE_CHILDREN", "RUSAGE_CHILDREN"),
    (resource, "RLIM_INFINITY", "RLIM_INFINITY"), (signal, "SA_RESTORER", "0x04000000"),
    (futex, "FUTEX_CMD_MASK", "~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) & 0xFFFFFFFFu"),
    (sched, "WNOTHREAD", "__WNOTHREAD"), (sched, "WALL", "__WALL"), (sched, "WCLONE", "__WCLONE"),
    (signal, "SIGRTMAX", "_NSIG - 1"), (signal, "NSIG", "_NSIG - 1"),
    (uio, "DIRENT64_NAME", "offsetof(struct dirent64, d_name)"),
    (utsname, "UTS_LEN", "sizeof(((struct utsname *)0)->sysname)"),
]

# (our struct, C type, {our field: C field}); unnamed fields (padding) are not compared.
RECORDS = [
    (stat.Stat, "struct stat", "st_dev st_ino st_nlink st_mode st_uid st_gid st_rdev st_size "
     "st_blksize st_blocks st_atime=st_atim.tv_sec st_atime_nsec=st_atim.tv_nsec "
     "st_mtime=st_mtim.tv_sec st_mtime_nsec=st_mtim.tv_nsec st_ctime=st_ctim.tv_sec "
     "st_ctime_nsec=st_ctim.tv_nsec"),
    (stat.Statx, "struct statx", "stx_mask stx_blksize stx_attributes stx_nlink stx_uid stx_gid "
     "stx_mode stx_ino stx_size stx_blocks stx_attributes_mask stx_atime stx_btime stx_ctime "
     "stx_mtime stx_rdev_major stx_rdev_minor stx_dev_major stx_dev_minor"),
    (stat.Statfs, "struct statfs", "f_type f_bsize f_blocks f_bfree f_bavail f_files f_ffree f_fsid "
     "f_namelen f_frsize f_flags"),
    (time.Timespec, "struct timespec", "tv_sec tv_nsec"),
    (time.Timeval, "struct timeval", "tv_sec tv_usec"),
    (time.Timezone, "struct timezone", "tz_minuteswest tz_dsttime"),
    (time.Itimerspec, "struct itimerspec", "it_interval it_value"),
    (time.Itimerval, "struct itimerval", "it_interval it_value"),
    (resource.Rlimit, "struct rlimit", "rlim_cur rlim_max"),
    (resource.Rusage, "struct rusage", "ru_utime ru_stime ru_maxrss ru_minflt ru_majflt ru_nvcsw ru_nivcsw"),
    (resource.Sysinfo, "struct sysinfo", "uptime loads totalram freeram sharedram bufferram totalswap "
     "freeswap procs totalhigh freehigh mem_unit"),
    (signal.Siginfo, "siginfo_t", "si_signo si_errno si_code"),
    (signal.StackT, "stack_t", "ss_sp ss_flags ss_size"),
    (signal.Sigcontext, "struct sigcontext", "r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax "
     "rcx rsp rip eflags csgsfs=cs err trapno oldmask cr2 fpstate reserved1=__reserved1"),
    (futex.RobustListHead, "struct robust_list_head", "next=list.next futex_offset list_op_pending"),
    (uio.Iovec, "struct iovec", "iov_base iov_len"),
    (fcntl.Flock, "struct flock", "l_type l_whence l_start l_len l_pid"),
    (uio.Pollfd, "struct pollfd", "fd events revents"),
    (uio.EpollEvent, "struct epoll_event", "events data"),
    (events.SignalfdSiginfo, "struct signalfd_siginfo", "ssi_signo ssi_errno ssi_code ssi_pid ssi_uid "
     "ssi_fd ssi_tid ssi_band ssi_overrun ssi_trapno ssi_status ssi_int ssi_ptr ssi_utime ssi_stime "
     "ssi_addr ssi_addr_lsb ssi_syscall ssi_call_addr ssi_arch"),
    (tty.Winsize, "struct winsize", "ws_row ws_col ws_xpixel ws_ypixel"),
    (utsname.Utsname, "struct utsname", "sysname nodename release version machine domainname"),
]

HEADERS = """#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <linux/falloc.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <asm/prctl.h>
#include <asm/termbits.h>
#include <linux/stat.h>
#include <linux/futex.h>
#include <linux/magic.h>
#include <ucontext.h>
"""


@pytest.fixture(scope="module")
def c_values(tmp_path_factory) -> dict[str, int]:
    """Every constant, size and offset above, as gcc computes it from the host's headers."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing (Debian package gcc)")
    lines = [HEADERS, "int main(void) {"]
    for _, name, expr in CONSTANTS:
        lines.append(f'    printf("{name} %llu\\n", (unsigned long long)({expr}));')
    for cls, ctype, fields in RECORDS:
        lines.append(f'    printf("sizeof.{cls.__name__} %zu\\n", sizeof({ctype}));')
        for f in fields.split():
            ours, _, theirs = f.partition("=")
            lines.append(f'    printf("offset.{cls.__name__}.{ours} %zu\\n", offsetof({ctype}, {theirs or ours}));')
    lines.append("    return 0;\n}")
    d = tmp_path_factory.mktemp("abi")
    (d / "abi.c").write_text("\n".join(lines))
    subprocess.run(["gcc", "-w", "-o", str(d / "abi"), str(d / "abi.c")], check=True)
    out = subprocess.run([str(d / "abi")], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (ln.split() for ln in out.splitlines())}


@pytest.mark.parametrize("mod,name,expr", CONSTANTS, ids=[c[1] for c in CONSTANTS])
def test_constant_matches_the_c_headers(c_values, mod, name, expr):
    assert getattr(mod, name) & (2**64 - 1) == c_values[name]


@pytest.mark.parametrize("cls,ctype,fields", RECORDS, ids=[r[0].__name__ for r in RECORDS])
def test_record_layout_matches_the_c_headers(c_values, cls, ctype, fields):
    lay = layout(cls)
    assert lay.size == c_values[f"sizeof.{cls.__name__}"]
    for f in fields.split():
        ours = f.partition("=")[0]
        assert lay.offset(ours) == c_values[f"offset.{cls.__name__}.{ours}"], ours
