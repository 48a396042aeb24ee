/* mm: the address-space syscalls malloc and the loaders lean on.
 * brk (raw syscall: musl's sbrk only answers sbrk(0)), done first, before stdio can allocate;
 * mmap anonymous private and shared, MAP_FIXED, PROT_NONE; munmap whole and in the middle;
 * mprotect return codes (read-only, back to read-write with contents kept, bad arguments) -
 * nothing here writes to a read-only page: that would kill the process; mremap grow with
 * MAYMOVE keeping contents, shrink in place, grow in place refused; madvise(MADV_DONTNEED)
 * zeroing private anonymous memory. Error cases the C libraries might catch themselves go through
 * syscall() so that the kernel answers them. */
#include "ut.h"
#include <sys/mman.h>

#define PG 4096UL

int main(void) {
    /* brk first: no printf until the break is back where it was */
    uintptr_t b0 = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t b1 = (uintptr_t)syscall(SYS_brk, b0 + 64 * 1024);
    int brk_grew = b1 == b0 + 64 * 1024;
    int brk_rw = 0;
    if (brk_grew) {
        volatile unsigned char *p = (unsigned char *)b0;
        p[0] = 1;
        p[64 * 1024 - 1] = 2;
        brk_rw = p[0] == 1 && p[64 * 1024 - 1] == 2;
    }
    uintptr_t b2 = (uintptr_t)syscall(SYS_brk, b0);
    uintptr_t b3 = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t blow = (uintptr_t)syscall(SYS_brk, 4096); /* below the start: refused, break unchanged */
    CHECK(b0 != 0, "brk(0) gives the current break");
    CHECK(brk_grew, "brk grows by 64 KiB");
    CHECK(brk_rw, "grown brk memory is writable");
    CHECK(b2 == b0 && b3 == b0, "brk shrinks back");
    CHECK(blow == b0, "brk below the heap start is refused (break unchanged)");

    /* mmap anonymous */
    size_t len = 16 * PG;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap 64 KiB anonymous");
    if (m == MAP_FAILED)
        return ut_exit(0);
    CHECK(((uintptr_t)m & (PG - 1)) == 0, "mmap result page aligned");
    int zero = 1;
    for (size_t i = 0; i < len; i += 512)
        zero &= m[i] == 0;
    CHECK(zero, "fresh anonymous memory reads as zero");
    for (size_t i = 0; i < len; i++)
        m[i] = (unsigned char)(i * 7);
    int same = 1;
    for (size_t i = 0; i < len; i++)
        same &= m[i] == (unsigned char)(i * 7);
    CHECK(same, "anonymous memory keeps what is written");

    /* mprotect */
    EXPECT_OK(mprotect(m, 4 * PG, PROT_READ), "mprotect(4 pages, PROT_READ)");
    CHECK(m[PG] == (unsigned char)(PG * 7), "read-only pages still read");
    EXPECT_OK(mprotect(m, 4 * PG, PROT_NONE), "mprotect(4 pages, PROT_NONE)");
    EXPECT_OK(mprotect(m, 4 * PG, PROT_READ | PROT_WRITE), "mprotect back to PROT_READ|PROT_WRITE");
    m[3] = 0x33;
    CHECK(m[3] == 0x33 && m[2 * PG + 1] == (unsigned char)((2 * PG + 1) * 7), "contents survive PROT_NONE and back");
    /* raw: musl's wrapper rounds the address down itself */
    EXPECT_ERR(syscall(SYS_mprotect, m + 1, PG, PROT_READ), EINVAL, "mprotect(unaligned address)");
    EXPECT_ERR(mprotect(m, PG, 0x1000 | PROT_READ), EINVAL, "mprotect(unknown prot bit)");

    /* munmap a middle page: the pages around it stay */
    EXPECT_OK(munmap(m + 8 * PG, PG), "munmap one page in the middle");
    m[7 * PG] = 1;
    m[9 * PG] = 2;
    CHECK(m[7 * PG] == 1 && m[9 * PG] == 2, "pages either side of the hole still usable");
    EXPECT_ERR(mprotect(m + 8 * PG, PG, PROT_READ), ENOMEM, "mprotect(unmapped hole)");
    EXPECT_ERR(syscall(SYS_munmap, m + 1, PG), EINVAL, "munmap(unaligned address)");
    EXPECT_ERR(syscall(SYS_mmap, NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL, "mmap(length 0)");
    EXPECT_ERR(syscall(SYS_mmap, NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL, "mmap(neither private nor shared)");
    EXPECT_ERR(syscall(SYS_mmap, NULL, PG, PROT_READ, MAP_PRIVATE, 12345, 0), EBADF, "mmap(bad fd, not anonymous)");

    /* MAP_FIXED into the hole */
    unsigned char *f = mmap(m + 8 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(f == m + 8 * PG, "MAP_FIXED maps exactly at the hole");
    if (f != MAP_FAILED) {
        CHECK(f[0] == 0, "MAP_FIXED page is fresh (zero)");
        f[0] = 9;
    }
    /* MAP_FIXED over existing pages replaces them with zero pages */
    unsigned char *f2 = mmap(m + 10 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(f2 == m + 10 * PG && f2[5] == 0 && m[11 * PG + 5] == (unsigned char)((11 * PG + 5) * 7), "MAP_FIXED over mapped pages replaces only them");

    /* madvise DONTNEED zeroes private anonymous pages */
    memset(m + 12 * PG, 0xab, 2 * PG);
    EXPECT_OK(madvise(m + 12 * PG, 2 * PG, MADV_DONTNEED), "madvise(MADV_DONTNEED)");
    CHECK(m[12 * PG] == 0 && m[14 * PG - 1] == 0, "MADV_DONTNEED pages read back as zero");
    CHECK(m[14 * PG] == (unsigned char)((14 * PG) * 7), "page after the range untouched");
    EXPECT_ERR(syscall(SYS_madvise, m + 1, PG, MADV_DONTNEED), EINVAL, "madvise(unaligned address)");

    /* mremap */
    unsigned char *r = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(r != MAP_FAILED, "mmap 2 pages for mremap");
    if (r != MAP_FAILED) {
        for (size_t i = 0; i < 2 * PG; i++)
            r[i] = (unsigned char)(i ^ 0x5c);
        EXPECT_ERR(syscall(SYS_mremap, r, PG, 2 * PG, 0), ENOMEM, "mremap grow in place over the next mapped page");
        unsigned char *g = mremap(r, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
        CHECK(g != MAP_FAILED, "mremap grow 2 -> 64 pages with MREMAP_MAYMOVE");
        if (g != MAP_FAILED) {
            int kept = 1;
            for (size_t i = 0; i < 2 * PG; i++)
                kept &= g[i] == (unsigned char)(i ^ 0x5c);
            CHECK(kept, "mremap kept the old contents");
            CHECK(g[63 * PG] == 0, "mremap's new pages are zero");
            g[63 * PG] = 1;
            unsigned char *s = mremap(g, 64 * PG, 4 * PG, 0);
            CHECK(s == g, "mremap shrink stays in place");
            CHECK(s == MAP_FAILED || s[PG + 1] == (unsigned char)((PG + 1) ^ 0x5c), "shrunk mapping keeps its contents");
            EXPECT_OK(munmap(g, 4 * PG), "munmap the remapped block");
        }
        EXPECT_ERR(syscall(SYS_mremap, m + 1, PG, 2 * PG, MREMAP_MAYMOVE), EINVAL, "mremap(unaligned address)");
    }

    /* shared anonymous */
    unsigned char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED && sh[0] == 0, "mmap MAP_SHARED|MAP_ANONYMOUS");
    if (sh != MAP_FAILED) {
        sh[100] = 77;
        CHECK(sh[100] == 77, "shared anonymous memory keeps what is written");
        munmap(sh, PG);
    }

    /* a big sparse mapping: 64 MiB, one byte per MiB touched */
    size_t big = 64UL << 20;
    unsigned char *bg = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(bg != MAP_FAILED, "mmap 64 MiB");
    if (bg != MAP_FAILED) {
        int ok = 1;
        for (size_t i = 0; i < big; i += 1 << 20)
            bg[i] = (unsigned char)(i >> 20);
        for (size_t i = 0; i < big; i += 1 << 20)
            ok &= bg[i] == (unsigned char)(i >> 20);
        CHECK(ok, "sparse 64 MiB mapping usable");
        EXPECT_OK(munmap(bg, big), "munmap 64 MiB");
    }
    EXPECT_OK(munmap(m, len), "munmap the first mapping (with its hole refilled)");
    EXPECT_OK(munmap(m, len), "munmap of an already unmapped range");
    return ut_exit(0);
}
