"""The x87/SSE state of a task (FXSAVE format, 512 bytes, 16-aligned): saved and restored around
each context switch (qkernel/task/sched.py), copied at fork, reset at execve, and written into
signal frames (qkernel/syscalls/sys_signal.py). The kernel itself never touches these registers
(it is compiled without SSE and x87), so the CPU's registers always hold the current task's.

Only the FXSAVE state: CR4.OSXSAVE stays clear, so CPUID reports no usable AVX (OSXSAVE 0) and
libc picks its SSE2 routines; XSAVE areas come with AVX."""

from __future__ import annotations

from qkernel.dialect import Final, asm, cast, memset, ptr, u8, u16, u32, u64

AREA_SIZE: Final = 512
AREA_ALIGN: Final = 16
FCW_OFFSET: Final = 0        # x87 control word
MXCSR_OFFSET: Final = 24
FCW_INIT: Final = 0x037F     # Linux's initial state (fpstate_init_fxstate)
MXCSR_INIT: Final = 0x1F80


def fxsave(buf: ptr[u8]) -> None:
    asm("fxsave64 ($0)", "r,~{memory}", buf)


def fxrstor(buf: ptr[u8]) -> None:
    asm("fxrstor64 ($0)", "r,~{memory}", buf)


def aligned(raw: u64) -> ptr[u8]:
    """The 16-aligned area inside AREA_SIZE + AREA_ALIGN bytes at raw."""
    return cast(ptr[u8], (raw + AREA_ALIGN - 1) & ~u64(AREA_ALIGN - 1))


def init_area(buf: ptr[u8]) -> None:
    """buf holds the state a new program starts with: every register zero, FCW 0x37f, MXCSR 0x1f80."""
    memset(buf, 0, AREA_SIZE)
    cast(ptr[u16], buf + FCW_OFFSET)[0] = u16(FCW_INIT)
    cast(ptr[u32], buf + MXCSR_OFFSET)[0] = u32(MXCSR_INIT)
