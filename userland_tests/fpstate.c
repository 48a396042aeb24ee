/* The CPU's floating-point and vector state is each task's own: two threads, then a parent and
   its forked child, each load xmm0-xmm15, the SSE control word (MXCSR: rounding mode) and the
   x87 control word with values of their own, then hand the CPU to the other through system
   calls made inline (sched_yield; a pipe ping-pong), and check after each that nothing changed.
   A signal handler that uses xmm registers must not change them in the interrupted code either.
   And a new program (execve) starts with Linux's initial state (MXCSR 0x1f80, FCW 0x37f). */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300

static long raw_syscall3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

/* loads the 16 xmm registers with pattern-derived bytes, makes `nr` system calls of the kind
   given, then stores the registers back: all in one asm block so the compiler keeps nothing in
   them across */
static int check_regs(uint8_t pattern, int kind, int rfd, int wfd) {
    uint8_t in[256], out[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(pattern * 31 + i);
    __asm__ volatile(
        "movdqu 0(%0), %%xmm0\n movdqu 16(%0), %%xmm1\n movdqu 32(%0), %%xmm2\n movdqu 48(%0), %%xmm3\n"
        "movdqu 64(%0), %%xmm4\n movdqu 80(%0), %%xmm5\n movdqu 96(%0), %%xmm6\n movdqu 112(%0), %%xmm7\n"
        "movdqu 128(%0), %%xmm8\n movdqu 144(%0), %%xmm9\n movdqu 160(%0), %%xmm10\n movdqu 176(%0), %%xmm11\n"
        "movdqu 192(%0), %%xmm12\n movdqu 208(%0), %%xmm13\n movdqu 224(%0), %%xmm14\n movdqu 240(%0), %%xmm15\n"
        :: "r"(in) : "memory");
    char c = 'x';
    if (kind == 0) {
        raw_syscall3(SYS_sched_yield, 0, 0, 0);
    } else {
        raw_syscall3(SYS_write, wfd, (long)&c, 1);
        raw_syscall3(SYS_read, rfd, (long)&c, 1);
    }
    __asm__ volatile(
        "movdqu %%xmm0, 0(%0)\n movdqu %%xmm1, 16(%0)\n movdqu %%xmm2, 32(%0)\n movdqu %%xmm3, 48(%0)\n"
        "movdqu %%xmm4, 64(%0)\n movdqu %%xmm5, 80(%0)\n movdqu %%xmm6, 96(%0)\n movdqu %%xmm7, 112(%0)\n"
        "movdqu %%xmm8, 128(%0)\n movdqu %%xmm9, 144(%0)\n movdqu %%xmm10, 160(%0)\n movdqu %%xmm11, 176(%0)\n"
        "movdqu %%xmm12, 192(%0)\n movdqu %%xmm13, 208(%0)\n movdqu %%xmm14, 224(%0)\n movdqu %%xmm15, 240(%0)\n"
        :: "r"(out) : "memory");
    return memcmp(in, out, sizeof in) == 0;
}

static unsigned get_mxcsr(void) { unsigned m; __asm__ volatile("stmxcsr %0" : "=m"(m)); return m; }
static void set_mxcsr(unsigned m) { __asm__ volatile("ldmxcsr %0" :: "m"(m)); }
static unsigned short get_fcw(void) { unsigned short w; __asm__ volatile("fnstcw %0" : "=m"(w)); return w; }
static void set_fcw(unsigned short w) { __asm__ volatile("fldcw %0" :: "m"(w)); }

struct who { uint8_t pattern; unsigned mxcsr; unsigned short fcw; int kind, rfd, wfd; int bad; };

static void *run(void *arg) {
    struct who *w = arg;
    set_mxcsr(w->mxcsr);
    set_fcw(w->fcw);
    for (int i = 0; i < ROUNDS; i++) {
        if (!check_regs(w->pattern, w->kind, w->rfd, w->wfd))
            w->bad |= 1;
        if (get_mxcsr() != w->mxcsr)
            w->bad |= 2;
        if (get_fcw() != w->fcw)
            w->bad |= 4;
    }
    return NULL;
}

static volatile sig_atomic_t handled;
static void on_alarm(int sig) {
    (void)sig;
    volatile double x = 1.5;          /* the handler uses SSE registers and MXCSR of its own */
    set_mxcsr(0x1f80);
    __asm__ volatile("pxor %%xmm0, %%xmm0\n pxor %%xmm7, %%xmm7\n pxor %%xmm15, %%xmm15" ::: "xmm0", "xmm7", "xmm15");
    x = x * 3.0;
    handled++;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fresh") == 0) {
        printf("after execve: MXCSR %#x FCW %#x\n", get_mxcsr() & 0xffc0, get_fcw());
        return 0;
    }
    /* two threads yielding to each other */
    struct who a = {0x11, 0x1f80 | 0x6000, 0x037f, 0, -1, -1, 0};      /* round toward zero */
    struct who b = {0x77, 0x1f80 | 0x2000, 0x0c7f, 0, -1, -1, 0};      /* round down; x87 toward zero */
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run, &a);
    pthread_create(&tb, NULL, run, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("threads across sched_yield: xmm %s, MXCSR %s, x87 control word %s\n",
           (a.bad | b.bad) & 1 ? "CHANGED" : "kept", (a.bad | b.bad) & 2 ? "CHANGED" : "kept",
           (a.bad | b.bad) & 4 ? "CHANGED" : "kept");

    /* a parent and its child, a pipe ping-pong between them */
    int p2c[2], c2p[2];
    if (pipe(p2c) || pipe(c2p))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        struct who c = {0x5a, 0x1f80 | 0x4000, 0x0b7f, 1, p2c[0], c2p[1], 0};
        char x;
        read(p2c[0], &x, 1);                  /* the parent writes first */
        run(&c);
        _exit(c.bad);
    }
    struct who p = {0x33, 0x1f80 | 0x2000, 0x077f, 1, c2p[0], p2c[1], 0};
    run(&p);
    char x = 'x';
    write(p2c[1], &x, 1);                     /* the child's last read */
    int st;
    waitpid(pid, &st, 0);
    int cbad = WIFEXITED(st) ? WEXITSTATUS(st) : 8;
    printf("parent and child across a pipe ping-pong: parent %s, child %s\n",
           p.bad ? "CHANGED" : "kept", cbad ? "CHANGED" : "kept");

    /* a signal handler that uses the registers */
    signal(SIGALRM, on_alarm);
    set_mxcsr(0x1f80 | 0x6000);
    int ok = 1;
    for (int i = 0; i < 20; i++) {
        uint8_t in[256], out[256];
        for (int k = 0; k < 256; k++)
            in[k] = (uint8_t)(k * 7 + i);
        __asm__ volatile("movdqu 0(%0), %%xmm0\n movdqu 112(%0), %%xmm7\n movdqu 240(%0), %%xmm15\n"
                         :: "r"(in) : "memory");
        raw_syscall3(SYS_kill, getpid(), SIGALRM, 0);
        __asm__ volatile("movdqu %%xmm0, 0(%0)\n movdqu %%xmm7, 112(%0)\n movdqu %%xmm15, 240(%0)\n"
                         :: "r"(out) : "memory");
        if (memcmp(in, out, 16) || memcmp(in + 112, out + 112, 16) || memcmp(in + 240, out + 240, 16))
            ok = 0;
        if (get_mxcsr() != (0x1f80 | 0x6000))
            ok = 0;
    }
    printf("a signal handler's use of xmm and MXCSR: %s (%d handled)\n", ok ? "undone at its return" : "LEAKED",
           (int)handled);

    /* execve: the initial state again (this process keeps its odd MXCSR and FCW) */
    set_fcw(0x0c7f);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "fresh", (char *)NULL);
    perror("execl");
    return 1;
}
