/* creds: the setuid family as Linux rules it, in a child that starts as root (the container's
 * root) and drops its ids: setgroups/getgroups, setresgid, setresuid, then what an
 * unprivileged process may and may not set (setuid, setreuid, seteuid, setfsuid, setgroups). */
#include "ut.h"
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/wait.h>

static void show(const char *when) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s: uid %u %u %u gid %u %u %u\n", when, r, e, s, gr, ge, gs);
}

int main(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        gid_t g[2] = {10, 20}, got[8];
        CHECK(setgroups(2, g) == 0, "setgroups(10, 20) as root");
        CHECK(getgroups(8, got) == 2 && got[0] == 10 && got[1] == 20, "getgroups gives them back");
        EXPECT_ERR(getgroups(1, got), EINVAL, "getgroups with too small a list");
        CHECK(setresgid(100, 101, 102) == 0, "setresgid(100, 101, 102)");
        CHECK(setresuid(1000, 1001, 1002) == 0, "setresuid(1000, 1001, 1002)");
        show("dropped");
        EXPECT_ERR(setuid(0), EPERM, "setuid(0) once unprivileged");
        EXPECT_ERR(setgroups(0, NULL), EPERM, "setgroups once unprivileged");
        EXPECT_ERR(setreuid(1002, -1), EPERM, "setreuid to the saved uid as real");
        CHECK(seteuid(1002) == 0, "seteuid to the saved uid");
        show("seteuid");
        CHECK(setfsuid(-1) == 1002, "the fs uid follows the effective one");
        CHECK(setfsuid(5) == 1002 && setfsuid(-1) == 1002, "setfsuid to a foreign uid is ignored");
        EXPECT_ERR(setuid(1001), EPERM, "setuid to an id not held");
        CHECK(setuid(1000) == 0, "setuid to the real uid");
        show("setuid");
        CHECK(setreuid(-1, 1002) == 0, "setreuid(-1, saved)");
        show("setreuid");
        EXPECT_ERR(setresuid(-1, 7, -1), EPERM, "setresuid to an id not held");
        CHECK(setregid(102, -1) != 0, "setregid to the saved gid as real is refused");
        _exit(ut_exit(0));
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's checks passed");
    CHECK(getuid() == 0 && geteuid() == 0, "the parent is still root");
    return ut_exit(0);
}
