"""<sys/utsname.h>, <sys/prctl.h>, <asm/prctl.h>, <sys/random.h>: the system's name, process
controls and getrandom flags."""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, u8

UTS_LEN: Final = 65


@struct
class Utsname:
    sysname: array[u8, 65]
    nodename: array[u8, 65]
    release: array[u8, 65]
    version: array[u8, 65]
    machine: array[u8, 65]
    domainname: array[u8, 65]


PR_SET_PDEATHSIG: Final = 1
PR_GET_PDEATHSIG: Final = 2
PR_GET_DUMPABLE: Final = 3
PR_SET_DUMPABLE: Final = 4
PR_SET_NAME: Final = 15
PR_GET_NAME: Final = 16
PR_SET_NO_NEW_PRIVS: Final = 38
PR_GET_NO_NEW_PRIVS: Final = 39
TASK_COMM_LEN: Final = 16

ARCH_SET_GS: Final = 0x1001
ARCH_SET_FS: Final = 0x1002
ARCH_GET_FS: Final = 0x1003
ARCH_GET_GS: Final = 0x1004
ARCH_GET_CPUID: Final = 0x1011
ARCH_SET_CPUID: Final = 0x1012

GRND_NONBLOCK: Final = 1
GRND_RANDOM: Final = 2
GRND_INSECURE: Final = 4
GETRANDOM_MAX: Final = 33554431  # Linux caps one call at 32 MiB - 1
