/* Codegen benchmark kernels in C: the twins of bench/codegen/kernels.py, same algorithm, same
 * data, statement for statement. Built by bench/codegen/__init__.py with `gcc -O2 -shared -fPIC`
 * and called through ctypes beside the JIT-compiled kernel-Python versions. */

#include <stdint.h>
#include <stddef.h>

#define ALL_ONES 0xFFFFFFFFFFFFFFFFull
#define NOT_FOUND 0xFFFFFFFFFFFFFFFFull
#define ADLER_MOD 65521u
#define ADLER_NMAX 5552u
#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull

/* ------------------------------------------------------------------------- checksums */

uint16_t inet_checksum(const uint8_t *p, uint64_t n)
{
    uint64_t total = 0;
    uint64_t i = 0;
    while (i + 1 < n) {
        total += ((uint64_t)p[i] << 8) | (uint64_t)p[i + 1];
        i += 2;
    }
    if ((n & 1) != 0)
        total += (uint64_t)p[n - 1] << 8;
    while ((total >> 16) != 0)
        total = (total & 0xFFFF) + (total >> 16);
    return (uint16_t)~total;
}

uint64_t inet_checksum_rounds(const uint8_t *p, uint64_t n, uint64_t rounds)
{
    uint64_t acc = 0;
    for (uint64_t r = 0; r < rounds; r++)
        acc += inet_checksum(p, n - (r & 7));
    return acc;
}

uint32_t adler32(const uint8_t *p, uint64_t n)
{
    uint32_t a = 1;
    uint32_t b = 0;
    while (n > 0) {
        uint64_t block = n < ADLER_NMAX ? n : ADLER_NMAX;
        n -= block;
        for (uint64_t i = 0; i < block; i++) {
            a += p[i];
            b += a;
        }
        p = p + block;
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    return (b << 16) | a;
}

uint64_t adler32_rounds(const uint8_t *p, uint64_t n, uint64_t rounds)
{
    uint64_t acc = 0;
    for (uint64_t r = 0; r < rounds; r++)
        acc += adler32(p, n - (r & 7));
    return acc;
}

uint64_t fnv1a(const uint8_t *p, uint64_t n)
{
    uint64_t h = FNV_OFFSET;
    for (uint64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t fnv1a_rounds(const uint8_t *p, uint64_t n, uint64_t rounds)
{
    uint64_t acc = 0;
    for (uint64_t r = 0; r < rounds; r++)
        acc ^= fnv1a(p, n - (r & 7));
    return acc;
}

/* ------------------------------------------------------------------------- bitmap search */

uint64_t find_first_zero(const uint64_t *bm, uint64_t nwords)
{
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t w = bm[i];
        if (w != ALL_ONES) {
            uint64_t bit = 0;
            while ((w & 1) != 0) {
                w >>= 1;
                bit += 1;
            }
            return i * 64 + bit;
        }
    }
    return NOT_FOUND;
}

uint64_t bitmap_alloc(uint64_t *bm, uint64_t nwords, uint64_t count)
{
    uint64_t total = 0;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t idx = find_first_zero(bm, nwords);
        if (idx == NOT_FOUND)
            break;
        bm[idx >> 6] |= (uint64_t)1 << (idx & 63);
        total += idx;
    }
    return total;
}

/* ------------------------------------------------------------------------- pointer chasing */

struct Node {
    uint64_t value;
    struct Node *next;
};

uint64_t list_sum(const struct Node *head)
{
    uint64_t total = 0;
    const struct Node *node = head;
    while (node != NULL) {
        total += node->value;
        node = node->next;
    }
    return total;
}

uint64_t list_sum_rounds(const struct Node *head, uint64_t rounds)
{
    uint64_t acc = 0;
    const struct Node *node = head;
    for (uint64_t r = 0; r < rounds; r++) {
        acc += list_sum(node) ^ r;
        node = node->next; /* start one node later each round: no round is the same call twice */
    }
    return acc;
}
