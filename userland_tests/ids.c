/* ids: process and user ids as facts, not numbers (the sandbox's pid, uid and parent differ from
 * the host's): pid > 0 and stable, the main thread's tid == pid, the parent is not itself, the
 * real and effective ids agree and match getresuid/getresgid, the groups list is readable,
 * setuid/setgid to one's own ids succeed, the process group and session answer, umask round trips. */
#include "ut.h"
#include <grp.h>
#include <sys/stat.h>

int main(void) {
    pid_t pid = getpid();
    CHECK(pid > 0, "getpid() > 0");
    CHECK(getpid() == pid && syscall(SYS_getpid) == pid, "getpid() stable, raw syscall agrees");
    CHECK(syscall(SYS_gettid) == pid, "gettid() == getpid() in the main thread");
    pid_t ppid = getppid();
    CHECK(ppid >= 0 && ppid != pid, "getppid() >= 0 and not itself");
    uid_t r, e, s;
    gid_t gr, ge, gs;
    CHECK(getresuid(&r, &e, &s) == 0 && r == getuid() && e == geteuid(), "getresuid agrees with getuid/geteuid");
    CHECK(getresgid(&gr, &ge, &gs) == 0 && gr == getgid() && ge == getegid(), "getresgid agrees with getgid/getegid");
    CHECK(getuid() == geteuid(), "uid == euid (not setuid)");
    CHECK(getgid() == getegid(), "gid == egid (not setgid)");
    int ng = getgroups(0, NULL);
    gid_t groups[256];
    CHECK(ng >= 0 && ng <= 256 && getgroups(256, groups) == ng, "getgroups count and list agree");
    EXPECT_OK(setuid(getuid()), "setuid(getuid())");
    EXPECT_OK(setgid(getgid()), "setgid(getgid())");
    CHECK(getpgrp() >= 0, "getpgrp() >= 0");
    CHECK(getsid(0) >= 0, "getsid(0) >= 0");
    CHECK(getpgid(0) == getpgrp(), "getpgid(0) == getpgrp()");
    mode_t old = umask(077);
    mode_t mine = umask(old);
    CHECK(mine == 077, "umask round trip");
    CHECK(umask(old) == old, "umask restored");
    return ut_exit(0);
}
