"""The host's view of the guest-host ABI: qkernel/abi.py imported under CPython.

The constants are the kernel's own Final ints; struct layouts come from qkernel.dialect.layout
(the compiler computes the same ones; tests/qvisor/test_abi.py checks both agree).
"""

from __future__ import annotations

import struct

from qkernel import abi as K
from qkernel.dialect import layout

from .pagetables import BootLayout

BOOT_LAYOUT = BootLayout(
    DIRECT_MAP_BASE=K.DIRECT_MAP_BASE, KERNEL_BASE=K.KERNEL_BASE, KERNEL_PHYS=K.KERNEL_PHYS,
    GDT_PHYS=K.GDT_PHYS, TSS_PHYS=K.TSS_PHYS, BOOT_PARAMS_PHYS=K.BOOT_PARAMS_PHYS,
    PAGE_TABLES_PHYS=K.PAGE_TABLES_PHYS, PAGE_TABLES_END=K.PAGE_TABLES_END,
    BOOT_STACK_PHYS=K.BOOT_STACK_PHYS, BOOT_STACK_SIZE=K.BOOT_STACK_SIZE)

BOOT_PARAMS = layout(K.BootParams)
QCALL = layout(K.Qcall)
QCALL_NR = QCALL.offset("nr")
QCALL_ARGS = QCALL.offset("args")
QCALL_RESULT = QCALL.offset("result")

PLATFORM_IDS = {"pvm": K.PLATFORM_PVM, "kvm": K.PLATFORM_KVM, "emu": K.PLATFORM_EMU}
MODE_IDS = {"split": K.MODE_SPLIT, "flat": K.MODE_FLAT}
DEFAULT_MODE = {"pvm": "flat", "kvm": "split", "emu": "split"}
FLAT_PLATFORMS = ("pvm",)  # flat mode relies on kvm_pvm landing a ring-3 `syscall` at CPL 3
FAULT_FLAGS = {"ud": K.BOOT_FAULT_UD, "pf": K.BOOT_FAULT_PF, "de": K.BOOT_FAULT_DE,
               "panic": K.BOOT_FAULT_PANIC, "int3": K.BOOT_FAULT_INT3,
               "triple": K.BOOT_FAULT_TRIPLE}


def pack_args(exe: bytes, argv: list[bytes], envp: list[bytes], cwd: bytes) -> bytes:
    """The argument block at ARGS_PHYS: NUL-terminated exe path, argv, envp, cwd.
    Raises ValueError (E2BIG) past ARGS_MAX or when a string contains a NUL."""
    strings = [exe, *argv, *envp, cwd]
    if any(b"\0" in s for s in strings):
        raise ValueError("an argument or environment string contains a NUL byte")
    block = b"".join(s + b"\0" for s in strings)
    if len(block) > K.ARGS_MAX:
        raise ValueError(f"argument list too long ({len(block)} bytes, at most {K.ARGS_MAX})")
    return block


def pack_boot_params(*, mem_size: int, platform: str, flags: int, log_level: int,
                     image_end_phys: int, tsc_khz: int = 0, cmdline: bytes = b"",
                     argc: int = 0, envc: int = 0, args_len: int = 0, mode: str = "split",
                     caps: int = 0, fault_around: int = 0, stdio_closed: int = 0) -> bytes:
    """The BootParams block, laid out as the kernel reads it."""
    if len(cmdline) >= K.CMDLINE_MAX:
        raise ValueError(f"kernel command line longer than {K.CMDLINE_MAX - 1} bytes")
    buf = bytearray(BOOT_PARAMS.size)
    values = {"magic": K.BOOT_MAGIC, "mem_size": mem_size, "platform": PLATFORM_IDS[platform],
              "mode": MODE_IDS[mode], "flags": flags, "log_level": log_level,
              "image_end_phys": image_end_phys, "tsc_khz": tsc_khz, "argc": argc, "envc": envc,
              "args_len": args_len, "caps": caps, "fault_around": fault_around,
              "stdio_closed": stdio_closed & 7}
    for name, value in values.items():
        struct.pack_into("<Q", buf, BOOT_PARAMS.offset(name), value)
    off = BOOT_PARAMS.offset("cmdline")
    buf[off: off + len(cmdline)] = cmdline
    return bytes(buf)
