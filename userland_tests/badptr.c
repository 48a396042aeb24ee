/* badptr: hand the kernel bad user pointers and expect -1 EFAULT every time, never a crash of the
 * process or the kernel. The pointers: NULL, 1, an unmapped page (mapped then unmapped), a
 * PROT_NONE page, a read-only page as a destination, the lowest non-canonical address, kernel-half
 * addresses (where a guest kernel that shares the address space lives), and the page at
 * 0x7ffffffff000, above Linux's TASK_SIZE and so never user memory (an 8 KiB write from there
 * runs off the end of user space). The calls go through syscall() so that neither
 * libc's checks nor the vDSO (which would fault in user space) answer in the kernel's place.
 * stdin must hold data (the manifest gives some): read() into a bad buffer then has bytes to copy. */
#include "ut.h"
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#define PR_GET_NAME 16

struct bad {
    const char *name;
    void *p;
};

int main(void) {
    unsigned char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(gone != MAP_FAILED && none != MAP_FAILED && ro != MAP_FAILED, "mmap the test pages");
    CHECK(munmap(gone, 4096) == 0, "munmap one of them");

    struct bad bads[] = {
        {"NULL", NULL},
        {"0x1", (void *)1},
        {"unmapped page", gone},
        {"PROT_NONE page", none},
        {"non-canonical 0x800000000000", (void *)0x800000000000UL},
        {"kernel half 0xffff800000000000", (void *)0xffff800000000000UL},
        {"kernel half 0xffffffff80000000", (void *)0xffffffff80000000UL},
        {"0x7ffffffff000 (above TASK_SIZE)", (void *)0x7ffffffff000UL},
    };
    unsigned nb = sizeof bads / sizeof *bads;
    char label[160];

    for (unsigned i = 0; i < nb; i++) {
        /* 8 KiB from the last entry: a range running off the end of user space */
        size_t n = i == nb - 1 ? 8192 : 16;
        snprintf(label, sizeof label, "write(1, %s, %zu)", bads[i].name, n);
        EXPECT_ERR(syscall(SYS_write, 1, bads[i].p, n), EFAULT, label);
    }
    for (unsigned i = 0; i < nb; i++) {
        snprintf(label, sizeof label, "read(0, %s, 4)", bads[i].name);
        EXPECT_ERR(syscall(SYS_read, 0, bads[i].p, 4), EFAULT, label);
    }
    EXPECT_ERR(syscall(SYS_read, 0, ro, 4), EFAULT, "read(0, read-only page, 4)");

    for (unsigned i = 0; i < nb; i++) {
        snprintf(label, sizeof label, "clock_gettime(CLOCK_MONOTONIC, %s)", bads[i].name);
        EXPECT_ERR(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, bads[i].p), EFAULT, label);
        snprintf(label, sizeof label, "uname(%s)", bads[i].name);
        EXPECT_ERR(syscall(SYS_uname, bads[i].p), EFAULT, label);
    }
    EXPECT_ERR(syscall(SYS_clock_gettime, CLOCK_REALTIME, ro), EFAULT, "clock_gettime(CLOCK_REALTIME, read-only page)");
    EXPECT_ERR(syscall(SYS_uname, ro), EFAULT, "uname(read-only page)");
    EXPECT_ERR(syscall(SYS_gettimeofday, (void *)1, NULL), EFAULT, "gettimeofday(0x1, NULL)");
    EXPECT_ERR(syscall(SYS_gettimeofday, ro, NULL), EFAULT, "gettimeofday(read-only page, NULL)");
    EXPECT_ERR(syscall(SYS_time, (void *)0xffff800000000000UL), EFAULT, "time(kernel half)");
    EXPECT_ERR(syscall(SYS_sysinfo, NULL), EFAULT, "sysinfo(NULL)");
    EXPECT_ERR(syscall(SYS_sysinfo, ro), EFAULT, "sysinfo(read-only page)");
    EXPECT_ERR(syscall(SYS_getrandom, (void *)1, 16, 0), EFAULT, "getrandom(0x1, 16)");
    EXPECT_ERR(syscall(SYS_getrandom, ro, 16, 0), EFAULT, "getrandom(read-only page, 16)");
    EXPECT_ERR(syscall(SYS_sched_getaffinity, 0, 128, (void *)0xffffffff80000000UL), EFAULT, "sched_getaffinity(0, 128, kernel half)");
    EXPECT_ERR(syscall(SYS_nanosleep, (void *)1, NULL), EFAULT, "nanosleep(0x1, NULL)");
    EXPECT_ERR(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, none, NULL), EFAULT, "clock_nanosleep(PROT_NONE page)");
    EXPECT_ERR(syscall(SYS_prctl, PR_GET_NAME, ro, 0, 0, 0), EFAULT, "prctl(PR_GET_NAME, read-only page)");
    EXPECT_ERR(syscall(SYS_getresuid, NULL, NULL, NULL), EFAULT, "getresuid(NULL, NULL, NULL)");
    EXPECT_ERR(syscall(SYS_getrusage, 0, (void *)0xffff800000000000UL), EFAULT, "getrusage(RUSAGE_SELF, kernel half)");

    CHECK(ro[0] == 0 && ro[4095] == 0, "the read-only page was not written");
    CHECK(fputs("survived\n", stdout) >= 0 && fflush(stdout) == 0, "stdout still works afterwards");
    return ut_exit(0);
}
