"""The process: one per sandbox for now (no fork yet). Holds what system calls read and change
outside memory management: ids, exit status, thread pointer, name, the program's argument block.
"""

from __future__ import annotations

from qkernel.dialect import array, struct, u8, u64


@struct
class Process:
    pid: u64
    ppid: u64
    fs_base: u64            # arch_prctl(ARCH_SET_FS)
    clear_child_tid: u64    # set_tid_address
    robust_list: u64
    name: array[u8, 16]     # prctl(PR_SET_NAME), NUL-terminated
    exe: array[u8, 256]     # the executable's path in the root (readlink /proc/self/exe)
    exe_len: u64


current: Process = Process()
