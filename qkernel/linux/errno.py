"""Linux errno values (asm-generic/errno-base.h, errno.h), their names and messages, once.

Handlers return -E* on failure. `name(e)` and `message(e)` serve --strace, the kernel log and,
read under CPython, the host's own messages. The ERESTART* codes (512..516) are the kernel's
own: a handler returns one to have its system call restarted (they never reach a program).
"""

from __future__ import annotations

from qkernel.dialect import Final, array, i64, ptr, u8

EPERM: Final = 1
ENOENT: Final = 2
ESRCH: Final = 3
EINTR: Final = 4
EIO: Final = 5
ENXIO: Final = 6
E2BIG: Final = 7
ENOEXEC: Final = 8
EBADF: Final = 9
ECHILD: Final = 10
EAGAIN: Final = 11
ENOMEM: Final = 12
EACCES: Final = 13
EFAULT: Final = 14
ENOTBLK: Final = 15
EBUSY: Final = 16
EEXIST: Final = 17
EXDEV: Final = 18
ENODEV: Final = 19
ENOTDIR: Final = 20
EISDIR: Final = 21
EINVAL: Final = 22
ENFILE: Final = 23
EMFILE: Final = 24
ENOTTY: Final = 25
ETXTBSY: Final = 26
EFBIG: Final = 27
ENOSPC: Final = 28
ESPIPE: Final = 29
EROFS: Final = 30
EMLINK: Final = 31
EPIPE: Final = 32
EDOM: Final = 33
ERANGE: Final = 34
EDEADLK: Final = 35
ENAMETOOLONG: Final = 36
ENOLCK: Final = 37
ENOSYS: Final = 38
ENOTEMPTY: Final = 39
ELOOP: Final = 40
ENOMSG: Final = 42
EIDRM: Final = 43
ECHRNG: Final = 44
EL2NSYNC: Final = 45
EL3HLT: Final = 46
EL3RST: Final = 47
ELNRNG: Final = 48
EUNATCH: Final = 49
ENOCSI: Final = 50
EL2HLT: Final = 51
EBADE: Final = 52
EBADR: Final = 53
EXFULL: Final = 54
ENOANO: Final = 55
EBADRQC: Final = 56
EBADSLT: Final = 57
EBFONT: Final = 59
ENOSTR: Final = 60
ENODATA: Final = 61
ETIME: Final = 62
ENOSR: Final = 63
ENONET: Final = 64
ENOPKG: Final = 65
EREMOTE: Final = 66
ENOLINK: Final = 67
EADV: Final = 68
ESRMNT: Final = 69
ECOMM: Final = 70
EPROTO: Final = 71
EMULTIHOP: Final = 72
EDOTDOT: Final = 73
EBADMSG: Final = 74
EOVERFLOW: Final = 75
ENOTUNIQ: Final = 76
EBADFD: Final = 77
EREMCHG: Final = 78
ELIBACC: Final = 79
ELIBBAD: Final = 80
ELIBSCN: Final = 81
ELIBMAX: Final = 82
ELIBEXEC: Final = 83
EILSEQ: Final = 84
ERESTART: Final = 85
ESTRPIPE: Final = 86
EUSERS: Final = 87
ENOTSOCK: Final = 88
EDESTADDRREQ: Final = 89
EMSGSIZE: Final = 90
EPROTOTYPE: Final = 91
ENOPROTOOPT: Final = 92
EPROTONOSUPPORT: Final = 93
ESOCKTNOSUPPORT: Final = 94
EOPNOTSUPP: Final = 95
EPFNOSUPPORT: Final = 96
EAFNOSUPPORT: Final = 97
EADDRINUSE: Final = 98
EADDRNOTAVAIL: Final = 99
ENETDOWN: Final = 100
ENETUNREACH: Final = 101
ENETRESET: Final = 102
ECONNABORTED: Final = 103
ECONNRESET: Final = 104
ENOBUFS: Final = 105
EISCONN: Final = 106
ENOTCONN: Final = 107
ESHUTDOWN: Final = 108
ETOOMANYREFS: Final = 109
ETIMEDOUT: Final = 110
ECONNREFUSED: Final = 111
EHOSTDOWN: Final = 112
EHOSTUNREACH: Final = 113
EALREADY: Final = 114
EINPROGRESS: Final = 115
ESTALE: Final = 116
EUCLEAN: Final = 117
ENOTNAM: Final = 118
ENAVAIL: Final = 119
EISNAM: Final = 120
EREMOTEIO: Final = 121
EDQUOT: Final = 122
ENOMEDIUM: Final = 123
EMEDIUMTYPE: Final = 124
ECANCELED: Final = 125
ENOKEY: Final = 126
EKEYEXPIRED: Final = 127
EKEYREVOKED: Final = 128
EKEYREJECTED: Final = 129
EOWNERDEAD: Final = 130
ENOTRECOVERABLE: Final = 131
ERFKILL: Final = 132
EWOULDBLOCK: Final = EAGAIN
EDEADLOCK: Final = EDEADLK
ENOTSUP: Final = EOPNOTSUPP

# kernel-internal: restart the system call (include/linux/errno.h)
ERESTARTSYS: Final = 512     # restart unless a handler without SA_RESTART ran: then EINTR
ERESTARTNOINTR: Final = 513  # always restart
ERESTARTNOHAND: Final = 514  # restart if no signal handler ran, else EINTR
ERESTART_RESTARTBLOCK: Final = 516  # restart through restart_syscall(2)

ERRNO_MAX: Final = 133
NAMES: array[ptr[u8], 134] = [
    b"", b"EPERM", b"ENOENT", b"ESRCH", b"EINTR", b"EIO", b"ENXIO", b"E2BIG", b"ENOEXEC", b"EBADF",
    b"ECHILD", b"EAGAIN", b"ENOMEM", b"EACCES", b"EFAULT", b"ENOTBLK", b"EBUSY", b"EEXIST",
    b"EXDEV", b"ENODEV", b"ENOTDIR", b"EISDIR", b"EINVAL", b"ENFILE", b"EMFILE", b"ENOTTY",
    b"ETXTBSY", b"EFBIG", b"ENOSPC", b"ESPIPE", b"EROFS", b"EMLINK", b"EPIPE", b"EDOM", b"ERANGE",
    b"EDEADLK", b"ENAMETOOLONG", b"ENOLCK", b"ENOSYS", b"ENOTEMPTY", b"ELOOP", b"", b"ENOMSG",
    b"EIDRM", b"ECHRNG", b"EL2NSYNC", b"EL3HLT", b"EL3RST", b"ELNRNG", b"EUNATCH", b"ENOCSI",
    b"EL2HLT", b"EBADE", b"EBADR", b"EXFULL", b"ENOANO", b"EBADRQC", b"EBADSLT", b"", b"EBFONT",
    b"ENOSTR", b"ENODATA", b"ETIME", b"ENOSR", b"ENONET", b"ENOPKG", b"EREMOTE", b"ENOLINK",
    b"EADV", b"ESRMNT", b"ECOMM", b"EPROTO", b"EMULTIHOP", b"EDOTDOT", b"EBADMSG", b"EOVERFLOW",
    b"ENOTUNIQ", b"EBADFD", b"EREMCHG", b"ELIBACC", b"ELIBBAD", b"ELIBSCN", b"ELIBMAX",
    b"ELIBEXEC", b"EILSEQ", b"ERESTART", b"ESTRPIPE", b"EUSERS", b"ENOTSOCK", b"EDESTADDRREQ",
    b"EMSGSIZE", b"EPROTOTYPE", b"ENOPROTOOPT", b"EPROTONOSUPPORT", b"ESOCKTNOSUPPORT",
    b"EOPNOTSUPP", b"EPFNOSUPPORT", b"EAFNOSUPPORT", b"EADDRINUSE", b"EADDRNOTAVAIL", b"ENETDOWN",
    b"ENETUNREACH", b"ENETRESET", b"ECONNABORTED", b"ECONNRESET", b"ENOBUFS", b"EISCONN",
    b"ENOTCONN", b"ESHUTDOWN", b"ETOOMANYREFS", b"ETIMEDOUT", b"ECONNREFUSED", b"EHOSTDOWN",
    b"EHOSTUNREACH", b"EALREADY", b"EINPROGRESS", b"ESTALE", b"EUCLEAN", b"ENOTNAM", b"ENAVAIL",
    b"EISNAM", b"EREMOTEIO", b"EDQUOT", b"ENOMEDIUM", b"EMEDIUMTYPE", b"ECANCELED", b"ENOKEY",
    b"EKEYEXPIRED", b"EKEYREVOKED", b"EKEYREJECTED", b"EOWNERDEAD", b"ENOTRECOVERABLE", b"ERFKILL",
    b""
]
MESSAGES: array[ptr[u8], 134] = [
    b"", b"Operation not permitted", b"No such file or directory", b"No such process",
    b"Interrupted system call", b"Input/output error", b"No such device or address",
    b"Argument list too long", b"Exec format error", b"Bad file descriptor", b"No child processes",
    b"Resource temporarily unavailable", b"Cannot allocate memory", b"Permission denied",
    b"Bad address", b"Block device required", b"Device or resource busy", b"File exists",
    b"Invalid cross-device link", b"No such device", b"Not a directory", b"Is a directory",
    b"Invalid argument", b"Too many open files in system", b"Too many open files",
    b"Inappropriate ioctl for device", b"Text file busy", b"File too large",
    b"No space left on device", b"Illegal seek", b"Read-only file system", b"Too many links",
    b"Broken pipe", b"Numerical argument out of domain", b"Numerical result out of range",
    b"Resource deadlock avoided", b"File name too long", b"No locks available",
    b"Function not implemented", b"Directory not empty", b"Too many levels of symbolic links", b"",
    b"No message of desired type", b"Identifier removed", b"Channel number out of range",
    b"Level 2 not synchronized", b"Level 3 halted", b"Level 3 reset", b"Link number out of range",
    b"Protocol driver not attached", b"No CSI structure available", b"Level 2 halted",
    b"Invalid exchange", b"Invalid request descriptor", b"Exchange full", b"No anode",
    b"Invalid request code", b"Invalid slot", b"", b"Bad font file format", b"Device not a stream",
    b"No data available", b"Timer expired", b"Out of streams resources",
    b"Machine is not on the network", b"Package not installed", b"Object is remote",
    b"Link has been severed", b"Advertise error", b"Srmount error", b"Communication error on send",
    b"Protocol error", b"Multihop attempted", b"RFS specific error", b"Bad message",
    b"Value too large for defined data type", b"Name not unique on network",
    b"File descriptor in bad state", b"Remote address changed",
    b"Can not access a needed shared library", b"Accessing a corrupted shared library",
    b".lib section in a.out corrupted", b"Attempting to link in too many shared libraries",
    b"Cannot exec a shared library directly", b"Invalid or incomplete multibyte or wide character",
    b"Interrupted system call should be restarted", b"Streams pipe error", b"Too many users",
    b"Socket operation on non-socket", b"Destination address required", b"Message too long",
    b"Protocol wrong type for socket", b"Protocol not available", b"Protocol not supported",
    b"Socket type not supported", b"Operation not supported", b"Protocol family not supported",
    b"Address family not supported by protocol", b"Address already in use",
    b"Cannot assign requested address", b"Network is down", b"Network is unreachable",
    b"Network dropped connection on reset", b"Software caused connection abort",
    b"Connection reset by peer", b"No buffer space available",
    b"Transport endpoint is already connected", b"Transport endpoint is not connected",
    b"Cannot send after transport endpoint shutdown", b"Too many references: cannot splice",
    b"Connection timed out", b"Connection refused", b"Host is down", b"No route to host",
    b"Operation already in progress", b"Operation now in progress", b"Stale file handle",
    b"Structure needs cleaning", b"Not a XENIX named type file", b"No XENIX semaphores available",
    b"Is a named type file", b"Remote I/O error", b"Disk quota exceeded", b"No medium found",
    b"Wrong medium type", b"Operation canceled", b"Required key not available", b"Key has expired",
    b"Key has been revoked", b"Key was rejected by service", b"Owner died",
    b"State not recoverable", b"Operation not possible due to RF-kill", b""
]


def name(err: i64) -> ptr[u8]:
    """"ENOENT" for -2 (or 2); b"" for a number this table does not name."""
    e = -err if err < 0 else err
    if e > ERRNO_MAX:
        return b""
    return NAMES[e]


def message(err: i64) -> ptr[u8]:
    """"No such file or directory" for -2 (or 2), as strerror(3); b"" for an unnamed number."""
    e = -err if err < 0 else err
    if e > ERRNO_MAX:
        return b""
    return MESSAGES[e]
