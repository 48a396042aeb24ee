"""Extended attributes: the getxattr, setxattr, listxattr and removexattr families (path, l-
and f- forms), as on a Linux filesystem without xattr support: every file lists none, reading,
setting or removing one gives -EOPNOTSUPP (programs take that as "no ACLs, no labels": ls, cp
-a, tar). The file is looked up first, so a missing file is -ENOENT and a bad descriptor
-EBADF; a name is checked as Linux's (-EFAULT, -ERANGE when empty or past XATTR_NAME_MAX)."""

from __future__ import annotations

from qkernel.dialect import NULL, Final, addr_of, i64, ptr, u64
from qkernel.fs import fdtable
from qkernel.fs.namei import LOOKUP_FOLLOW, Path
from qkernel.linux.errno import EBADF, EFAULT, EOPNOTSUPP, ERANGE
from qkernel.linux.fcntl import AT_FDCWD
from qkernel.mm.uaccess import strncpy_from_user
from qkernel.syscalls.sys_path import resolve
from qkernel.syscalls.table import SyscallArgs
from qkernel.task.task import Task

XATTR_NAME_MAX: Final = 255
# scratch offset the name is copied to: idle in these calls, and neither namei.FS_BUF nor
# pagecache.PATH_BUF, where a page fault taken while copying it may build a host path
NAME_BUF: Final = 32768


def on_path(t: ptr[Task], path: u64, follow: bool) -> i64:
    p: Path = Path()
    return resolve(t, AT_FDCWD, path, LOOKUP_FOLLOW if follow else 0, addr_of(p))


def on_fd(t: ptr[Task], fd: u64) -> i64:
    return 0 if fdtable.get(t.process, fd) != NULL else -EBADF


def check_name(t: ptr[Task], name: u64) -> i64:
    n = strncpy_from_user(t.scratch + NAME_BUF, name, XATTR_NAME_MAX + 1)
    if n == -EFAULT:
        return n
    if n <= 0:
        return -ERANGE
    return 0


def no_attr(t: ptr[Task], found: i64, name: u64) -> i64:
    """The result of get/set/remove once the file is found (or not)."""
    if found < 0:
        return found
    r = check_name(t, name)
    return r if r < 0 else -EOPNOTSUPP


def sys_getxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, True), a.a1)


def sys_lgetxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, False), a.a1)


def sys_fgetxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_fd(t, a.a0), a.a1)


def sys_setxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, True), a.a1)


def sys_lsetxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, False), a.a1)


def sys_fsetxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_fd(t, a.a0), a.a1)


def sys_removexattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, True), a.a1)


def sys_lremovexattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_path(t, a.a0, False), a.a1)


def sys_fremovexattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return no_attr(t, on_fd(t, a.a0), a.a1)


def sys_listxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return on_path(t, a.a0, True)      # 0 bytes of names


def sys_llistxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return on_path(t, a.a0, False)


def sys_flistxattr(t: ptr[Task], a: ptr[SyscallArgs]) -> i64:
    return on_fd(t, a.a0)
