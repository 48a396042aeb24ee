/* heap: malloc/free/realloc/calloc churn driven by a fixed pseudo-random sequence, with sizes
 * from a byte to 2 MiB so both libcs cross their mmap thresholds (brk-backed and mmap-backed
 * chunks, and glibc's dynamic threshold moving), realloc growth to 32 MiB, calloc zeroing and
 * aligned allocation. Every block is filled with a pattern derived from its slot and generation and
 * checked before it is freed or grown; the printed checksum covers sizes and contents only, so it
 * is the same on every kernel. Large blocks are written at one byte per page (plus head and tail)
 * to keep page faults, and so sandbox time, modest. */
#include "ut.h"

#define SLOTS 256
#define ROUNDS 12000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

struct block {
    unsigned char *p;
    size_t size;
    unsigned char tag;
};

static struct block slots[SLOTS];
static uint64_t sum = FNV_INIT;
static long mismatches, checked_bytes;

/* the offsets written and checked in a block of `size` bytes */
#define HEAD 64
#define STRIDE 4096
static void fill(unsigned char *p, size_t size, size_t from, unsigned char tag) {
    for (size_t i = from; i < size && i < HEAD; i++)
        p[i] = (unsigned char)(tag + i);
    for (size_t i = (from < HEAD ? HEAD : from); i < size; i += (size > 2 * HEAD + STRIDE ? STRIDE : 1))
        p[i] = (unsigned char)(tag ^ (i >> 3));
    if (size > from)
        p[size - 1] = tag;
}

static void verify(const unsigned char *p, size_t size, unsigned char tag) {
    for (size_t i = 0; i + 1 < size && i < HEAD; i++, checked_bytes++)
        if (p[i] != (unsigned char)(tag + i))
            mismatches++;
    for (size_t i = HEAD; i + 1 < size; i += (size > 2 * HEAD + STRIDE ? STRIDE : 1), checked_bytes++)
        if (p[i] != (unsigned char)(tag ^ (i >> 3)))
            mismatches++;
    if (size && p[size - 1] != tag)
        mismatches++;
    sum = fnv1a(sum, &size, sizeof size);
    sum = fnv1a(sum, p, size < HEAD ? size : HEAD);
    sum = fnv1a(sum, &p[size - 1], size ? 1 : 0);
}

static size_t pick_size(void) {
    uint32_t r = next() % 1000;
    if (r < 700)
        return 1 + next() % 256; /* small */
    if (r < 950)
        return 257 + next() % (64 << 10); /* medium */
    if (r < 990)
        return (64 << 10) + next() % (192 << 10); /* around the 128 KiB mmap threshold */
    return (256 << 10) + next() % (1792 << 10);  /* large: up to 2 MiB */
}

int main(void) {
    long mallocs = 0, frees = 0, reallocs = 0, failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct block *b = &slots[next() % SLOTS];
        unsigned char tag = (unsigned char)(round * 31 + 7);
        if (!b->p) {
            b->size = pick_size();
            b->p = malloc(b->size);
            if (!b->p) {
                failures++;
                continue;
            }
            mallocs++;
            b->tag = tag;
            fill(b->p, b->size, 0, b->tag);
        } else if (next() % 4 == 0) {
            verify(b->p, b->size, b->tag);
            size_t ns = pick_size();
            /* realloc keeps min(old, new) bytes: check them, then fill the whole block anew */
            unsigned char *np = realloc(b->p, ns);
            if (!np) {
                failures++;
                continue;
            }
            reallocs++;
            size_t keep = ns < b->size ? ns : b->size;
            for (size_t i = 0; i < keep && i + 1 < b->size && i < HEAD; i++)
                if (np[i] != (unsigned char)(b->tag + i))
                    mismatches++;
            b->p = np;
            b->size = ns;
            b->tag = tag;
            fill(b->p, b->size, 0, b->tag);
        } else {
            verify(b->p, b->size, b->tag);
            free(b->p);
            frees++;
            b->p = NULL;
        }
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            verify(slots[i].p, slots[i].size, slots[i].tag);
            free(slots[i].p);
            frees++;
            slots[i].p = NULL;
        }
    printf("mallocs=%ld reallocs=%ld frees=%ld\n", mallocs, reallocs, frees);
    printf("checksum=%016llx\n", (unsigned long long)sum);
    CHECK(failures == 0, "no allocation failed");
    CHECK(mismatches == 0, "every block kept its contents (%s)", checked_bytes > 100000 ? "many bytes checked" : "few bytes checked");

    /* realloc growth: one block doubled from 1 byte to 32 MiB, its prefix kept each time */
    unsigned char *g = malloc(1);
    size_t gs = 1;
    int grew = g != NULL, kept = 1;
    if (g)
        g[0] = 0x5a;
    while (grew && gs < (32u << 20)) {
        size_t ns = gs * 2;
        unsigned char *ng = realloc(g, ns);
        if (!ng) {
            grew = 0;
            break;
        }
        g = ng;
        if (g[0] != 0x5a || (gs > 1 && g[gs - 1] != (unsigned char)(gs >> 1)))
            kept = 0;
        g[ns - 1] = (unsigned char)gs;
        gs = ns;
    }
    CHECK(grew && gs == (32u << 20), "realloc grew one block from 1 byte to 32 MiB");
    CHECK(kept, "realloc growth kept the first and last bytes each time");
    free(g);

    /* calloc zeroes: a large fresh block, and small blocks reusing freed, dirty memory */
    size_t big = 3u << 20;
    unsigned char *z = calloc(big, 1);
    int zero = z != NULL;
    for (size_t i = 0; z && i < big; i += 4093)
        zero &= z[i] == 0;
    CHECK(zero, "calloc(3 MiB) is zeroed");
    free(z);
    int small_zero = 1;
    for (int i = 0; i < 200; i++) {
        unsigned char *d = malloc(96);
        if (!d) {
            small_zero = 0;
            break;
        }
        memset(d, 0xee, 96);
        free(d);
        unsigned char *c = calloc(12, 8);
        if (!c) {
            small_zero = 0;
            break;
        }
        for (int j = 0; j < 96; j++)
            small_zero &= c[j] == 0;
        free(c);
    }
    CHECK(small_zero, "calloc after free of dirty blocks is zeroed");

    /* alignment */
    void *a = NULL;
    int rc = posix_memalign(&a, 4096, 10000);
    CHECK(rc == 0 && ((uintptr_t)a & 4095) == 0, "posix_memalign(4096) aligned");
    free(a);
    void *al = aligned_alloc(64, 640);
    CHECK(al && ((uintptr_t)al & 63) == 0, "aligned_alloc(64) aligned");
    free(al);
    void *m16 = malloc(24);
    CHECK(m16 && ((uintptr_t)m16 & 15) == 0, "malloc result 16-byte aligned");
    free(m16);
    return ut_exit(0);
}
