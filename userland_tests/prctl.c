/* prctl: the thread name (comm). It starts as the executable's basename (truncated to 15 bytes),
 * PR_SET_NAME/PR_GET_NAME round trip, names longer than 15 bytes are truncated, and an unknown
 * option gives EINVAL. */
#include "ut.h"
#include <sys/prctl.h>

int main(void) {
    char name[32];
    memset(name, 'x', sizeof name);
    CHECK(prctl(PR_GET_NAME, name, 0, 0, 0) == 0, "PR_GET_NAME");
    name[16] = 0;
    printf("initial name=%s\n", name);
    CHECK(prctl(PR_SET_NAME, "pq-renamed", 0, 0, 0) == 0, "PR_SET_NAME pq-renamed");
    memset(name, 'x', sizeof name);
    CHECK(prctl(PR_GET_NAME, name, 0, 0, 0) == 0, "PR_GET_NAME again");
    name[16] = 0;
    printf("name=%s\n", name);
    CHECK(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0) == 0, "PR_SET_NAME with 26 letters");
    memset(name, 'x', sizeof name);
    prctl(PR_GET_NAME, name, 0, 0, 0);
    CHECK(name[15] == 0, "PR_GET_NAME NUL-terminates at 16 bytes");
    name[16] = 0;
    printf("long name=%s\n", name);
    EXPECT_ERR(prctl(12345, 0, 0, 0, 0), EINVAL, "prctl(option 12345)");
    return ut_exit(0);
}
