/* exhaust: run out of memory gracefully. RLIMIT_AS is set to 512 MiB first, so natively and in
 * the sandbox the address space, not the host, is what runs out: a 1 GiB mmap and a brk jump of
 * 1 GiB are refused, a 2^62-byte malloc returns NULL with ENOMEM, then 1 MiB blocks (one byte
 * touched in each) are taken until malloc returns NULL - at most 2048 of them, so a kernel that
 * ignores the limit still ends - and after freeing them all, allocation works again. */
#include "ut.h"
#include <sys/mman.h>
#include <sys/resource.h>

#define LIMIT (512UL << 20)
#define CHUNK (1UL << 20)
#define MAX_CHUNKS 2048

static void *chunks[MAX_CHUNKS];

int main(void) {
    struct rlimit rl = {LIMIT, LIMIT}, got;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS, 512 MiB)");
    CHECK(getrlimit(RLIMIT_AS, &got) == 0 && got.rlim_cur == LIMIT && got.rlim_max == LIMIT, "getrlimit reads it back");

    EXPECT_ERR(mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0,
               ENOMEM, "mmap(1 GiB) under the limit");
    uintptr_t b0 = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t b1 = (uintptr_t)syscall(SYS_brk, b0 + (1UL << 30));
    CHECK(b1 == b0, "brk(+1 GiB) refused (break unchanged)");

    errno = 0;
    size_t huge = (size_t)1 << 62;
    void *volatile h = malloc(huge);
    CHECK(h == NULL && errno == ENOMEM, "malloc(2^62) returns NULL with ENOMEM");
    free(h);

    int n = 0, stopped = 0, err = 0;
    for (; n < MAX_CHUNKS; n++) {
        errno = 0;
        unsigned char *p = malloc(CHUNK);
        if (!p) {
            stopped = 1;
            err = errno;
            break;
        }
        p[n % CHUNK] = (unsigned char)n;
        chunks[n] = p;
    }
    if (stopped)
        printf("exhausted gracefully\n");
    else
        printf("FAIL took %d MiB without running out\n", n), ut_failures++;
    CHECK(err == ENOMEM, "malloc failed with ENOMEM");
    CHECK(n >= 64, "at least 64 MiB allocated before that");
    CHECK(n < 512, "fewer than 512 MiB allocated (the limit holds)");
    int intact = 1;
    for (int i = 0; i < n; i++)
        intact &= ((unsigned char *)chunks[i])[i % CHUNK] == (unsigned char)i;
    CHECK(intact, "every block kept its byte");
    for (int i = 0; i < n; i++)
        free(chunks[i]);
    void *again = malloc(64 * CHUNK);
    CHECK(again != NULL, "after freeing them, malloc(64 MiB) works again");
    free(again);
    return ut_exit(0);
}
