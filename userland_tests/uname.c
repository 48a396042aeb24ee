/* uname: the stable part of uname(2) - sysname and machine - plus facts the C libraries rely on:
 * a release string that parses as a version >= 3.2 (glibc's minimum), a non-empty nodename that
 * gethostname() repeats. */
#include "ut.h"
#include <sys/utsname.h>

int main(void) {
    struct utsname u;
    CHECK(uname(&u) == 0, "uname");
    printf("sysname=%s\n", u.sysname);
    printf("machine=%s\n", u.machine);
    int major = 0, minor = 0;
    int parsed = sscanf(u.release, "%d.%d", &major, &minor) == 2;
    CHECK(parsed && (major > 3 || (major == 3 && minor >= 2)), "release parses as a version >= 3.2");
    CHECK(u.nodename[0] != 0, "nodename non-empty");
    char host[sizeof u.nodename + 1];
    CHECK(gethostname(host, sizeof host) == 0 && strcmp(host, u.nodename) == 0, "gethostname() == nodename");
    CHECK(u.version[0] != 0, "version non-empty");
    struct utsname raw;
    CHECK(syscall(SYS_uname, &raw) == 0 && !strcmp(raw.sysname, u.sysname) && !strcmp(raw.release, u.release),
          "raw uname syscall agrees");
    return ut_exit(0);
}
