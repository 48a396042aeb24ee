/* tls: thread-local storage of the main thread as the static libc sets it up from PT_TLS
 * (found through AT_PHDR) and %fs (arch_prctl ARCH_SET_FS): an initialised __thread variable
 * (.tdata), a zeroed one (.tbss), a 64-byte-aligned one, %fs:0 pointing at itself and
 * matching ARCH_GET_FS, and errno (itself thread-local) after failing syscalls. */
#include "ut.h"
#include <pthread.h>

#define ARCH_GET_FS 0x1003

__thread int tdata = 42;
__thread long tbss;
__thread char tarr[100] = {1, 2, 3};
__thread int aligned64 __attribute__((aligned(64))) = 7;

static __attribute__((noinline)) int *tdata_addr(void) { return &tdata; }

int main(void) {
    CHECK(tdata == 42, "__thread int initialised to 42");
    CHECK(tbss == 0, "__thread long starts at 0");
    CHECK(tarr[0] == 1 && tarr[2] == 3 && tarr[3] == 0 && tarr[99] == 0, "__thread array initialiser");
    CHECK(((uintptr_t)&aligned64 & 63) == 0 && aligned64 == 7, "__thread aligned(64) variable aligned and initialised");
    tdata += 8;
    tbss = -5;
    CHECK(*tdata_addr() == 50 && tbss == -5, "__thread variables keep what is written");

    unsigned long fs = 0, self = 0;
    long r = syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    CHECK(r == 0 && fs != 0, "arch_prctl(ARCH_GET_FS) gives a thread pointer");
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self));
    CHECK(self == fs, "%%fs:0 holds the thread pointer itself");
    CHECK((uintptr_t)&tdata < fs && fs - (uintptr_t)&tdata < (1 << 20), "TLS block sits just below the thread pointer");
    CHECK(pthread_self() != 0, "pthread_self() non-zero");

    errno = 0;
    CHECK(close(-1) == -1 && errno == EBADF, "close(-1) sets errno EBADF");
    printf("errno after close(-1)=%s\n", errname(errno));
    errno = 0;
    (void)getpid();
    CHECK(errno == 0, "a successful syscall leaves errno alone");
    EXPECT_ERR(syscall(SYS_close, 12345), EBADF, "raw close(12345)");
    EXPECT_ERR(syscall(100000), ENOSYS, "syscall 100000");
    int *e1 = &errno;
    CHECK(e1 != NULL && *e1 == ENOSYS, "&errno stable and readable");
    CHECK(syscall(SYS_arch_prctl, 0x1011 /* ARCH_GET_CPUID */, 0) == 1, "arch_prctl(ARCH_GET_CPUID) says cpuid runs");
    CHECK(syscall(SYS_arch_prctl, 0x1012 /* ARCH_SET_CPUID */, 1) == 0, "arch_prctl(ARCH_SET_CPUID, 1) keeps it running");
    return ut_exit(0);
}
