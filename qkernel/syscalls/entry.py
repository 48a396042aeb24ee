"""From a trap frame to a system call and back: the x86-64 syscall ABI (number in rax, arguments
in rdi, rsi, rdx, r10, r8, r9, result in rax), --strace output, and user faults turned into the
death by signal Linux would deliver (no handlers yet: SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGBUS
end the process with status 128 + signal)."""

from __future__ import annotations

from qkernel.abi import LOG_INFO, QCALL_CONSOLE_WRITE
from qkernel.arch import trap
from qkernel.arch.trap import TrapFrame
from qkernel.dialect import Final, addr_of, i64, ptr, u64
from qkernel.klog import finish, start
from qkernel.lib import fmt
from qkernel.mm import vma
from qkernel.mm.addr import pa
from qkernel.qcall import qcall
from qkernel.syscalls import errno, table
from qkernel.syscalls.errno import ENOMEM
from qkernel.syscalls.sys_process import exit_process

SIGILL: Final = 4
SIGTRAP: Final = 5
SIGBUS: Final = 7
SIGFPE: Final = 8
SIGKILL: Final = 9
SIGSEGV: Final = 11
VEC_PF: Final = 14
PF_WRITE: Final = 2
PF_FETCH: Final = 0x10

strace: bool = False
line: fmt.Line = fmt.Line()


def _trace(nr: u64, frame: ptr[TrapFrame], result: i64) -> None:
    lp = addr_of(line)
    fmt.clear(lp)
    fmt.put_str(lp, table.name_of(nr))
    if table.name_of(nr)[0] == 63:  # "?": unknown, show the number
        fmt.put_str(lp, b"_")
        fmt.put_dec(lp, nr)
    fmt.put_char(lp, 40)
    fmt.put_hex(lp, frame.rdi)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.rsi)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.rdx)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r10)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r8)
    fmt.put_str(lp, b", ")
    fmt.put_hex(lp, frame.r9)
    fmt.put_str(lp, b") = ")
    if result < 0 and result > -4096 and errno.name(result)[0] != 0:
        fmt.put_str(lp, b"-1 ")       # as strace shows a failure: -1 and the errno's name
        fmt.put_str(lp, errno.name(result))
    else:
        fmt.put_signed(lp, result)
    fmt.put_char(lp, 10)
    qcall(QCALL_CONSOLE_WRITE, 2, pa(u64(addr_of(lp.data))), lp.len, 0)


def syscall_trap(frame: ptr[TrapFrame]) -> None:
    nr = frame.rax
    result = table.dispatch(nr, frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9)
    if strace:
        _trace(nr, frame, result)
    frame.rax = u64(result)


def user_fault(frame: ptr[TrapFrame], vector: u64) -> None:
    """A fault in the program: a page fault the address space can serve (stack growth, pages
    not populated yet) resumes it; otherwise the signal Linux would send, and with no handler
    yet, death by it (SIGKILL when memory is exhausted, as the OOM killer)."""
    if vector == VEC_PF:
        r = vma.handle_fault(vma.current, trap.fault_address(), frame.error & PF_WRITE != 0,
                             frame.error & PF_FETCH != 0)
        if r == 0:
            return
        if r == -ENOMEM:
            exit_process(128 + SIGKILL)
    sig: u64 = SIGSEGV
    if vector == 0 or vector == 16 or vector == 19:
        sig = SIGFPE
    elif vector == 6:
        sig = SIGILL
    elif vector == 1 or vector == 3:
        sig = SIGTRAP
    elif vector == 17:
        sig = SIGBUS
    lp = start(LOG_INFO)
    fmt.put_str(lp, b"program killed by signal ")
    fmt.put_dec(lp, sig)
    fmt.put_str(lp, b": vector ")
    fmt.put_dec(lp, vector)
    fmt.put_str(lp, b" at rip=")
    fmt.put_hex(lp, frame.rip)
    fmt.put_str(lp, b" cr2=")
    fmt.put_hex(lp, trap.fault_address())
    fmt.put_str(lp, b" error=")
    fmt.put_hex(lp, frame.error)
    finish(LOG_INFO)
    exit_process(128 + sig)
