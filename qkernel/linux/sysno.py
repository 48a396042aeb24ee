"""x86-64 Linux system call numbers, every one (arch/x86/entry/syscalls/syscall_64.tbl), and
their names as data: `NAMES[nr]` is the call's name, b"" for a hole in the numbering.

Generated once from <asm/unistd_64.h>; tests/qkernel/test_linux_abi.py checks both against the
host's header."""

from __future__ import annotations

from qkernel.dialect import Final, array, ptr, u8

SYS_read: Final = 0
SYS_write: Final = 1
SYS_open: Final = 2
SYS_close: Final = 3
SYS_stat: Final = 4
SYS_fstat: Final = 5
SYS_lstat: Final = 6
SYS_poll: Final = 7
SYS_lseek: Final = 8
SYS_mmap: Final = 9
SYS_mprotect: Final = 10
SYS_munmap: Final = 11
SYS_brk: Final = 12
SYS_rt_sigaction: Final = 13
SYS_rt_sigprocmask: Final = 14
SYS_rt_sigreturn: Final = 15
SYS_ioctl: Final = 16
SYS_pread64: Final = 17
SYS_pwrite64: Final = 18
SYS_readv: Final = 19
SYS_writev: Final = 20
SYS_access: Final = 21
SYS_pipe: Final = 22
SYS_select: Final = 23
SYS_sched_yield: Final = 24
SYS_mremap: Final = 25
SYS_msync: Final = 26
SYS_mincore: Final = 27
SYS_madvise: Final = 28
SYS_shmget: Final = 29
SYS_shmat: Final = 30
SYS_shmctl: Final = 31
SYS_dup: Final = 32
SYS_dup2: Final = 33
SYS_pause: Final = 34
SYS_nanosleep: Final = 35
SYS_getitimer: Final = 36
SYS_alarm: Final = 37
SYS_setitimer: Final = 38
SYS_getpid: Final = 39
SYS_sendfile: Final = 40
SYS_socket: Final = 41
SYS_connect: Final = 42
SYS_accept: Final = 43
SYS_sendto: Final = 44
SYS_recvfrom: Final = 45
SYS_sendmsg: Final = 46
SYS_recvmsg: Final = 47
SYS_shutdown: Final = 48
SYS_bind: Final = 49
SYS_listen: Final = 50
SYS_getsockname: Final = 51
SYS_getpeername: Final = 52
SYS_socketpair: Final = 53
SYS_setsockopt: Final = 54
SYS_getsockopt: Final = 55
SYS_clone: Final = 56
SYS_fork: Final = 57
SYS_vfork: Final = 58
SYS_execve: Final = 59
SYS_exit: Final = 60
SYS_wait4: Final = 61
SYS_kill: Final = 62
SYS_uname: Final = 63
SYS_semget: Final = 64
SYS_semop: Final = 65
SYS_semctl: Final = 66
SYS_shmdt: Final = 67
SYS_msgget: Final = 68
SYS_msgsnd: Final = 69
SYS_msgrcv: Final = 70
SYS_msgctl: Final = 71
SYS_fcntl: Final = 72
SYS_flock: Final = 73
SYS_fsync: Final = 74
SYS_fdatasync: Final = 75
SYS_truncate: Final = 76
SYS_ftruncate: Final = 77
SYS_getdents: Final = 78
SYS_getcwd: Final = 79
SYS_chdir: Final = 80
SYS_fchdir: Final = 81
SYS_rename: Final = 82
SYS_mkdir: Final = 83
SYS_rmdir: Final = 84
SYS_creat: Final = 85
SYS_link: Final = 86
SYS_unlink: Final = 87
SYS_symlink: Final = 88
SYS_readlink: Final = 89
SYS_chmod: Final = 90
SYS_fchmod: Final = 91
SYS_chown: Final = 92
SYS_fchown: Final = 93
SYS_lchown: Final = 94
SYS_umask: Final = 95
SYS_gettimeofday: Final = 96
SYS_getrlimit: Final = 97
SYS_getrusage: Final = 98
SYS_sysinfo: Final = 99
SYS_times: Final = 100
SYS_ptrace: Final = 101
SYS_getuid: Final = 102
SYS_syslog: Final = 103
SYS_getgid: Final = 104
SYS_setuid: Final = 105
SYS_setgid: Final = 106
SYS_geteuid: Final = 107
SYS_getegid: Final = 108
SYS_setpgid: Final = 109
SYS_getppid: Final = 110
SYS_getpgrp: Final = 111
SYS_setsid: Final = 112
SYS_setreuid: Final = 113
SYS_setregid: Final = 114
SYS_getgroups: Final = 115
SYS_setgroups: Final = 116
SYS_setresuid: Final = 117
SYS_getresuid: Final = 118
SYS_setresgid: Final = 119
SYS_getresgid: Final = 120
SYS_getpgid: Final = 121
SYS_setfsuid: Final = 122
SYS_setfsgid: Final = 123
SYS_getsid: Final = 124
SYS_capget: Final = 125
SYS_capset: Final = 126
SYS_rt_sigpending: Final = 127
SYS_rt_sigtimedwait: Final = 128
SYS_rt_sigqueueinfo: Final = 129
SYS_rt_sigsuspend: Final = 130
SYS_sigaltstack: Final = 131
SYS_utime: Final = 132
SYS_mknod: Final = 133
SYS_uselib: Final = 134
SYS_personality: Final = 135
SYS_ustat: Final = 136
SYS_statfs: Final = 137
SYS_fstatfs: Final = 138
SYS_sysfs: Final = 139
SYS_getpriority: Final = 140
SYS_setpriority: Final = 141
SYS_sched_setparam: Final = 142
SYS_sched_getparam: Final = 143
SYS_sched_setscheduler: Final = 144
SYS_sched_getscheduler: Final = 145
SYS_sched_get_priority_max: Final = 146
SYS_sched_get_priority_min: Final = 147
SYS_sched_rr_get_interval: Final = 148
SYS_mlock: Final = 149
SYS_munlock: Final = 150
SYS_mlockall: Final = 151
SYS_munlockall: Final = 152
SYS_vhangup: Final = 153
SYS_modify_ldt: Final = 154
SYS_pivot_root: Final = 155
SYS__sysctl: Final = 156
SYS_prctl: Final = 157
SYS_arch_prctl: Final = 158
SYS_adjtimex: Final = 159
SYS_setrlimit: Final = 160
SYS_chroot: Final = 161
SYS_sync: Final = 162
SYS_acct: Final = 163
SYS_settimeofday: Final = 164
SYS_mount: Final = 165
SYS_umount2: Final = 166
SYS_swapon: Final = 167
SYS_swapoff: Final = 168
SYS_reboot: Final = 169
SYS_sethostname: Final = 170
SYS_setdomainname: Final = 171
SYS_iopl: Final = 172
SYS_ioperm: Final = 173
SYS_create_module: Final = 174
SYS_init_module: Final = 175
SYS_delete_module: Final = 176
SYS_get_kernel_syms: Final = 177
SYS_query_module: Final = 178
SYS_quotactl: Final = 179
SYS_nfsservctl: Final = 180
SYS_getpmsg: Final = 181
SYS_putpmsg: Final = 182
SYS_afs_syscall: Final = 183
SYS_tuxcall: Final = 184
SYS_security: Final = 185
SYS_gettid: Final = 186
SYS_readahead: Final = 187
SYS_setxattr: Final = 188
SYS_lsetxattr: Final = 189
SYS_fsetxattr: Final = 190
SYS_getxattr: Final = 191
SYS_lgetxattr: Final = 192
SYS_fgetxattr: Final = 193
SYS_listxattr: Final = 194
SYS_llistxattr: Final = 195
SYS_flistxattr: Final = 196
SYS_removexattr: Final = 197
SYS_lremovexattr: Final = 198
SYS_fremovexattr: Final = 199
SYS_tkill: Final = 200
SYS_time: Final = 201
SYS_futex: Final = 202
SYS_sched_setaffinity: Final = 203
SYS_sched_getaffinity: Final = 204
SYS_set_thread_area: Final = 205
SYS_io_setup: Final = 206
SYS_io_destroy: Final = 207
SYS_io_getevents: Final = 208
SYS_io_submit: Final = 209
SYS_io_cancel: Final = 210
SYS_get_thread_area: Final = 211
SYS_lookup_dcookie: Final = 212
SYS_epoll_create: Final = 213
SYS_epoll_ctl_old: Final = 214
SYS_epoll_wait_old: Final = 215
SYS_remap_file_pages: Final = 216
SYS_getdents64: Final = 217
SYS_set_tid_address: Final = 218
SYS_restart_syscall: Final = 219
SYS_semtimedop: Final = 220
SYS_fadvise64: Final = 221
SYS_timer_create: Final = 222
SYS_timer_settime: Final = 223
SYS_timer_gettime: Final = 224
SYS_timer_getoverrun: Final = 225
SYS_timer_delete: Final = 226
SYS_clock_settime: Final = 227
SYS_clock_gettime: Final = 228
SYS_clock_getres: Final = 229
SYS_clock_nanosleep: Final = 230
SYS_exit_group: Final = 231
SYS_epoll_wait: Final = 232
SYS_epoll_ctl: Final = 233
SYS_tgkill: Final = 234
SYS_utimes: Final = 235
SYS_vserver: Final = 236
SYS_mbind: Final = 237
SYS_set_mempolicy: Final = 238
SYS_get_mempolicy: Final = 239
SYS_mq_open: Final = 240
SYS_mq_unlink: Final = 241
SYS_mq_timedsend: Final = 242
SYS_mq_timedreceive: Final = 243
SYS_mq_notify: Final = 244
SYS_mq_getsetattr: Final = 245
SYS_kexec_load: Final = 246
SYS_waitid: Final = 247
SYS_add_key: Final = 248
SYS_request_key: Final = 249
SYS_keyctl: Final = 250
SYS_ioprio_set: Final = 251
SYS_ioprio_get: Final = 252
SYS_inotify_init: Final = 253
SYS_inotify_add_watch: Final = 254
SYS_inotify_rm_watch: Final = 255
SYS_migrate_pages: Final = 256
SYS_openat: Final = 257
SYS_mkdirat: Final = 258
SYS_mknodat: Final = 259
SYS_fchownat: Final = 260
SYS_futimesat: Final = 261
SYS_newfstatat: Final = 262
SYS_unlinkat: Final = 263
SYS_renameat: Final = 264
SYS_linkat: Final = 265
SYS_symlinkat: Final = 266
SYS_readlinkat: Final = 267
SYS_fchmodat: Final = 268
SYS_faccessat: Final = 269
SYS_pselect6: Final = 270
SYS_ppoll: Final = 271
SYS_unshare: Final = 272
SYS_set_robust_list: Final = 273
SYS_get_robust_list: Final = 274
SYS_splice: Final = 275
SYS_tee: Final = 276
SYS_sync_file_range: Final = 277
SYS_vmsplice: Final = 278
SYS_move_pages: Final = 279
SYS_utimensat: Final = 280
SYS_epoll_pwait: Final = 281
SYS_signalfd: Final = 282
SYS_timerfd_create: Final = 283
SYS_eventfd: Final = 284
SYS_fallocate: Final = 285
SYS_timerfd_settime: Final = 286
SYS_timerfd_gettime: Final = 287
SYS_accept4: Final = 288
SYS_signalfd4: Final = 289
SYS_eventfd2: Final = 290
SYS_epoll_create1: Final = 291
SYS_dup3: Final = 292
SYS_pipe2: Final = 293
SYS_inotify_init1: Final = 294
SYS_preadv: Final = 295
SYS_pwritev: Final = 296
SYS_rt_tgsigqueueinfo: Final = 297
SYS_perf_event_open: Final = 298
SYS_recvmmsg: Final = 299
SYS_fanotify_init: Final = 300
SYS_fanotify_mark: Final = 301
SYS_prlimit64: Final = 302
SYS_name_to_handle_at: Final = 303
SYS_open_by_handle_at: Final = 304
SYS_clock_adjtime: Final = 305
SYS_syncfs: Final = 306
SYS_sendmmsg: Final = 307
SYS_setns: Final = 308
SYS_getcpu: Final = 309
SYS_process_vm_readv: Final = 310
SYS_process_vm_writev: Final = 311
SYS_kcmp: Final = 312
SYS_finit_module: Final = 313
SYS_sched_setattr: Final = 314
SYS_sched_getattr: Final = 315
SYS_renameat2: Final = 316
SYS_seccomp: Final = 317
SYS_getrandom: Final = 318
SYS_memfd_create: Final = 319
SYS_kexec_file_load: Final = 320
SYS_bpf: Final = 321
SYS_execveat: Final = 322
SYS_userfaultfd: Final = 323
SYS_membarrier: Final = 324
SYS_mlock2: Final = 325
SYS_copy_file_range: Final = 326
SYS_preadv2: Final = 327
SYS_pwritev2: Final = 328
SYS_pkey_mprotect: Final = 329
SYS_pkey_alloc: Final = 330
SYS_pkey_free: Final = 331
SYS_statx: Final = 332
SYS_io_pgetevents: Final = 333
SYS_rseq: Final = 334
SYS_pidfd_send_signal: Final = 424
SYS_io_uring_setup: Final = 425
SYS_io_uring_enter: Final = 426
SYS_io_uring_register: Final = 427
SYS_open_tree: Final = 428
SYS_move_mount: Final = 429
SYS_fsopen: Final = 430
SYS_fsconfig: Final = 431
SYS_fsmount: Final = 432
SYS_fspick: Final = 433
SYS_pidfd_open: Final = 434
SYS_clone3: Final = 435
SYS_close_range: Final = 436
SYS_openat2: Final = 437
SYS_pidfd_getfd: Final = 438
SYS_faccessat2: Final = 439
SYS_process_madvise: Final = 440
SYS_epoll_pwait2: Final = 441
SYS_mount_setattr: Final = 442
SYS_quotactl_fd: Final = 443
SYS_landlock_create_ruleset: Final = 444
SYS_landlock_add_rule: Final = 445
SYS_landlock_restrict_self: Final = 446
SYS_memfd_secret: Final = 447
SYS_process_mrelease: Final = 448
SYS_futex_waitv: Final = 449
SYS_set_mempolicy_home_node: Final = 450

NR_SYSCALLS: Final = 512  # table size: every number below this has an entry (ENOSYS by default)
NR_NAMED: Final = 451  # NAMES covers 0..NR_NAMED-1
NAMES: array[ptr[u8], 451] = [
    b"read", b"write", b"open", b"close", b"stat", b"fstat", b"lstat", b"poll", b"lseek", b"mmap",
    b"mprotect", b"munmap", b"brk", b"rt_sigaction", b"rt_sigprocmask", b"rt_sigreturn", b"ioctl",
    b"pread64", b"pwrite64", b"readv", b"writev", b"access", b"pipe", b"select", b"sched_yield",
    b"mremap", b"msync", b"mincore", b"madvise", b"shmget", b"shmat", b"shmctl", b"dup", b"dup2",
    b"pause", b"nanosleep", b"getitimer", b"alarm", b"setitimer", b"getpid", b"sendfile",
    b"socket", b"connect", b"accept", b"sendto", b"recvfrom", b"sendmsg", b"recvmsg", b"shutdown",
    b"bind", b"listen", b"getsockname", b"getpeername", b"socketpair", b"setsockopt",
    b"getsockopt", b"clone", b"fork", b"vfork", b"execve", b"exit", b"wait4", b"kill", b"uname",
    b"semget", b"semop", b"semctl", b"shmdt", b"msgget", b"msgsnd", b"msgrcv", b"msgctl", b"fcntl",
    b"flock", b"fsync", b"fdatasync", b"truncate", b"ftruncate", b"getdents", b"getcwd", b"chdir",
    b"fchdir", b"rename", b"mkdir", b"rmdir", b"creat", b"link", b"unlink", b"symlink",
    b"readlink", b"chmod", b"fchmod", b"chown", b"fchown", b"lchown", b"umask", b"gettimeofday",
    b"getrlimit", b"getrusage", b"sysinfo", b"times", b"ptrace", b"getuid", b"syslog", b"getgid",
    b"setuid", b"setgid", b"geteuid", b"getegid", b"setpgid", b"getppid", b"getpgrp", b"setsid",
    b"setreuid", b"setregid", b"getgroups", b"setgroups", b"setresuid", b"getresuid", b"setresgid",
    b"getresgid", b"getpgid", b"setfsuid", b"setfsgid", b"getsid", b"capget", b"capset",
    b"rt_sigpending", b"rt_sigtimedwait", b"rt_sigqueueinfo", b"rt_sigsuspend", b"sigaltstack",
    b"utime", b"mknod", b"uselib", b"personality", b"ustat", b"statfs", b"fstatfs", b"sysfs",
    b"getpriority", b"setpriority", b"sched_setparam", b"sched_getparam", b"sched_setscheduler",
    b"sched_getscheduler", b"sched_get_priority_max", b"sched_get_priority_min",
    b"sched_rr_get_interval", b"mlock", b"munlock", b"mlockall", b"munlockall", b"vhangup",
    b"modify_ldt", b"pivot_root", b"_sysctl", b"prctl", b"arch_prctl", b"adjtimex", b"setrlimit",
    b"chroot", b"sync", b"acct", b"settimeofday", b"mount", b"umount2", b"swapon", b"swapoff",
    b"reboot", b"sethostname", b"setdomainname", b"iopl", b"ioperm", b"create_module",
    b"init_module", b"delete_module", b"get_kernel_syms", b"query_module", b"quotactl",
    b"nfsservctl", b"getpmsg", b"putpmsg", b"afs_syscall", b"tuxcall", b"security", b"gettid",
    b"readahead", b"setxattr", b"lsetxattr", b"fsetxattr", b"getxattr", b"lgetxattr", b"fgetxattr",
    b"listxattr", b"llistxattr", b"flistxattr", b"removexattr", b"lremovexattr", b"fremovexattr",
    b"tkill", b"time", b"futex", b"sched_setaffinity", b"sched_getaffinity", b"set_thread_area",
    b"io_setup", b"io_destroy", b"io_getevents", b"io_submit", b"io_cancel", b"get_thread_area",
    b"lookup_dcookie", b"epoll_create", b"epoll_ctl_old", b"epoll_wait_old", b"remap_file_pages",
    b"getdents64", b"set_tid_address", b"restart_syscall", b"semtimedop", b"fadvise64",
    b"timer_create", b"timer_settime", b"timer_gettime", b"timer_getoverrun", b"timer_delete",
    b"clock_settime", b"clock_gettime", b"clock_getres", b"clock_nanosleep", b"exit_group",
    b"epoll_wait", b"epoll_ctl", b"tgkill", b"utimes", b"vserver", b"mbind", b"set_mempolicy",
    b"get_mempolicy", b"mq_open", b"mq_unlink", b"mq_timedsend", b"mq_timedreceive", b"mq_notify",
    b"mq_getsetattr", b"kexec_load", b"waitid", b"add_key", b"request_key", b"keyctl",
    b"ioprio_set", b"ioprio_get", b"inotify_init", b"inotify_add_watch", b"inotify_rm_watch",
    b"migrate_pages", b"openat", b"mkdirat", b"mknodat", b"fchownat", b"futimesat", b"newfstatat",
    b"unlinkat", b"renameat", b"linkat", b"symlinkat", b"readlinkat", b"fchmodat", b"faccessat",
    b"pselect6", b"ppoll", b"unshare", b"set_robust_list", b"get_robust_list", b"splice", b"tee",
    b"sync_file_range", b"vmsplice", b"move_pages", b"utimensat", b"epoll_pwait", b"signalfd",
    b"timerfd_create", b"eventfd", b"fallocate", b"timerfd_settime", b"timerfd_gettime",
    b"accept4", b"signalfd4", b"eventfd2", b"epoll_create1", b"dup3", b"pipe2", b"inotify_init1",
    b"preadv", b"pwritev", b"rt_tgsigqueueinfo", b"perf_event_open", b"recvmmsg", b"fanotify_init",
    b"fanotify_mark", b"prlimit64", b"name_to_handle_at", b"open_by_handle_at", b"clock_adjtime",
    b"syncfs", b"sendmmsg", b"setns", b"getcpu", b"process_vm_readv", b"process_vm_writev",
    b"kcmp", b"finit_module", b"sched_setattr", b"sched_getattr", b"renameat2", b"seccomp",
    b"getrandom", b"memfd_create", b"kexec_file_load", b"bpf", b"execveat", b"userfaultfd",
    b"membarrier", b"mlock2", b"copy_file_range", b"preadv2", b"pwritev2", b"pkey_mprotect",
    b"pkey_alloc", b"pkey_free", b"statx", b"io_pgetevents", b"rseq", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"", b"",
    b"", b"", b"", b"", b"", b"", b"", b"pidfd_send_signal", b"io_uring_setup", b"io_uring_enter",
    b"io_uring_register", b"open_tree", b"move_mount", b"fsopen", b"fsconfig", b"fsmount",
    b"fspick", b"pidfd_open", b"clone3", b"close_range", b"openat2", b"pidfd_getfd", b"faccessat2",
    b"process_madvise", b"epoll_pwait2", b"mount_setattr", b"quotactl_fd",
    b"landlock_create_ruleset", b"landlock_add_rule", b"landlock_restrict_self", b"memfd_secret",
    b"process_mrelease", b"futex_waitv", b"set_mempolicy_home_node"
]

