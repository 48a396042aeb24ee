/* traps KIND: die of the signal that KIND's fault raises, with no handler installed:
 *   ill      ud2                            SIGILL  (132)
 *   fpe      integer division by zero       SIGFPE  (136)
 *   null     read through NULL              SIGSEGV (139)
 *   exec     call into a non-executable page  SIGSEGV (139)
 *   ro       write to a read-only page (mprotect) SIGSEGV (139)
 *   stack    unbounded recursion past the stack limit SIGSEGV (139)
 *   abort    abort(): raise(SIGABRT) through the C library   SIGABRT (134)
 *   int3     a breakpoint instruction       SIGTRAP (133)
 * Each prints one unbuffered line first. */
#include "ut.h"
#include <sys/mman.h>

static volatile int zero;
static void say(const char *s) { write(1, s, strlen(s)); }

static __attribute__((noinline)) int recurse(volatile char *prev, int depth) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[1023] = prev ? prev[0] : 0;
    if (depth == 1 << 30) /* never: 1 GiB of frames is far past any stack limit */
        return 0;
    return recurse(frame, depth + 1) + frame[512];
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "";
    say("trapping: ");
    say(kind);
    say("\n");
    if (!strcmp(kind, "ill")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(kind, "fpe")) {
        /* in asm: the compiler may turn a C division by a constant numerator into compares */
        unsigned a = 1, d = 0, z = (unsigned)zero;
        __asm__ volatile("divl %2" : "+a"(a), "+d"(d) : "r"(z));
    } else if (!strcmp(kind, "null")) {
        volatile int x = *(volatile int *)0;
        (void)x;
    } else if (!strcmp(kind, "exec")) {
        unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 2;
        p[0] = 0xc3; /* ret: harmless if the page were executable */
        ((void (*)(void))p)();
    } else if (!strcmp(kind, "ro")) {
        unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) != 0)
            return 2;
        *(volatile unsigned char *)p = 1;
    } else if (!strcmp(kind, "stack")) {
        return recurse(NULL, 0);
    } else if (!strcmp(kind, "abort")) {
        abort();
    } else if (!strcmp(kind, "int3")) {
        __asm__ volatile("int3");
    } else {
        say("unknown kind\n");
        return 2;
    }
    say("survived the trap\n");
    return 0;
}
