/* getrandom: 32 bytes filled, not all zero, two draws differ, GRND_NONBLOCK works, unknown flags
 * give EINVAL, and a zero-length request returns 0. The bytes themselves are never printed. */
#include "ut.h"
#include <sys/random.h>

int main(void) {
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK(getrandom(a, sizeof a, 0) == 32, "getrandom(32 bytes) returns 32");
    int nz = 0;
    for (int i = 0; i < 32; i++)
        nz |= a[i];
    CHECK(nz, "the bytes are not all zero");
    CHECK(getrandom(b, sizeof b, GRND_NONBLOCK) == 32, "getrandom(GRND_NONBLOCK) returns 32");
    CHECK(memcmp(a, b, sizeof a) != 0, "two draws differ");
    CHECK(syscall(SYS_getrandom, a, 0, 0) == 0, "getrandom(length 0) returns 0");
    EXPECT_ERR(syscall(SYS_getrandom, a, sizeof a, 0x4000), EINVAL, "getrandom(unknown flag)");
    return ut_exit(0);
}
