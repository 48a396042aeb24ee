"""Host services: each registers its own qcalls with the QcallServer (qvisor/qcall.py).

base.py      the @qcall decorator, Service, the dispatch Entry, QcallStop and its kinds
console.py   Console: console write/read, stdio fstat, tty ioctls
system.py    Lifecycle (exit, panic), KernelLog, Clock, Sleep, Random, FrameZeroing
ring.py      RingService: the asynchronous qcall ring and its worker threads
qvisor/fs.py HostFiles: the sandbox's host trees, the root and binds (a service too; its
             listings and writing calls are qvisor/fs_write.py's)
"""

from .base import Entry, GuestExit, KernelPanic, QcallFault, QcallStop, Service, qcall

__all__ = ["Entry", "GuestExit", "KernelPanic", "QcallFault", "QcallStop", "Service", "qcall"]
