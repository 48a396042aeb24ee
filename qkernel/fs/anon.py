"""Anonymous files: the event files (epoll, eventfd, timerfd, signalfd), which have no name in
any filesystem. Each gets an inode of its own on ANON_DEV (mode 0600 and no file type, as
Linux's anon_inode) whose `link` is what /proc/PID/fd/N shows ("anon_inode:[eventfd]"); the
inode goes with its last File.
"""

from __future__ import annotations

from qkernel.dialect import NULL, Final, ptr, u64, u8
from qkernel.lib import fmt
from qkernel.fs.node import File, FileOps, free_inode, new_file, new_inode
from qkernel.linux.fcntl import O_RDWR

ANON_DEV: Final = 0x0E         # st_dev of anonymous inodes (anon_inodefs)

next_ino: u64 = 0


def new_anon(ops: ptr[FileOps], name: ptr[u8], priv: u64, flags: u64) -> ptr[File]:
    """A File of kind `ops` on a fresh anonymous inode holding priv; NULL when out of files or
    memory (the caller frees priv then)."""
    global next_ino
    ino = new_inode(NULL, 0o600, NULL, ops)
    if ino == NULL:
        return NULL
    next_ino += 1
    ino.st.st_dev = ANON_DEV
    ino.st.st_ino = next_ino
    ino.st.st_nlink = 0        # freed with its last File
    ino.priv = priv
    ino.link = name
    ino.link_len = fmt.strlen(name)
    f = new_file(ops, ino, flags | O_RDWR)
    if f == NULL:
        free_inode(ino)
    return f


def is_kind(f: ptr[File], ops: ptr[FileOps]) -> bool:
    return f != NULL and f.ops == ops
