"""The Linux ABI, defined once (as gVisor's pkg/abi/linux): system call numbers and names, errno
with names and messages, the ABI records as @struct and the flag sets, one module per header.

These modules import only qkernel.dialect: they sit at the bottom of the dependency order, so
every kernel module may use them, and the host reads the same definitions under CPython (for
strace, error messages and its own checks). tests/qkernel/test_linux_abi.py checks the numbers,
the constants and every record's size and field offsets against the host's C headers.
"""
