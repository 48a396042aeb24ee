/* The vDSO: AT_SYSINFO_EHDR is an ELF shared object whose __vdso_* functions (version LINUX_2.6)
   are found the way libc finds them (program headers, DT_HASH, DT_VERSYM/DT_VERDEF), and its
   clocks agree with the system calls: a vDSO reading, then the system call, then the vDSO again
   come in order; readings never go back; sleeps last as long by the vDSO's clock; a forked child
   reads the same clock. `vdso loop` only calls the clock functions (tests/userland/test_vdso.py
   checks with --strace that none of them enters the kernel). */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *strtab;
static const Elf64_Sym *symtab;
static const uint32_t *hashtab;
static const uint16_t *versym;
static const Elf64_Verdef *verdef;
static uintptr_t base;

static int vdso_open(void) {
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_DYN)
        return -1;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)eh + eh->e_phoff);
    const Elf64_Dyn *dyn = NULL;
    int have_load = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !have_load) {
            base = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
            have_load = 1;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const Elf64_Dyn *)((const char *)eh + ph[i].p_offset);
        }
    }
    if (!have_load || !dyn)
        return -1;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t p = base + dyn->d_un.d_ptr;
        switch (dyn->d_tag) {
        case DT_STRTAB: strtab = (const char *)p; break;
        case DT_SYMTAB: symtab = (const Elf64_Sym *)p; break;
        case DT_HASH: hashtab = (const uint32_t *)p; break;
        case DT_VERSYM: versym = (const uint16_t *)p; break;
        case DT_VERDEF: verdef = (const Elf64_Verdef *)p; break;
        }
    }
    return strtab && symtab && hashtab ? 0 : -1;
}

static int version_is(int index, const char *name) {
    const Elf64_Verdef *d = verdef;
    for (;;) {
        if (!(d->vd_flags & VER_FLG_BASE) && (d->vd_ndx & 0x7fff) == index) {
            const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)d + d->vd_aux);
            return strcmp(strtab + aux->vda_name, name) == 0;
        }
        if (!d->vd_next)
            return 0;
        d = (const Elf64_Verdef *)((const char *)d + d->vd_next);
    }
}

static void *vdso_sym(const char *name) {
    uint32_t nchain = hashtab[1];
    for (uint32_t i = 0; i < nchain; i++) {
        const Elf64_Sym *s = &symtab[i];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF)
            continue;
        if (strcmp(strtab + s->st_name, name) != 0)
            continue;
        if (versym && verdef && !version_is(versym[i] & 0x7fff, "LINUX_2.6"))
            continue;
        return (void *)(base + s->st_value);
    }
    return NULL;
}

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "loop") == 0) {
        struct timespec t;
        struct timeval tv;
        long long sum = 0;
        for (int i = 0; i < 1000; i++) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            clock_gettime(CLOCK_REALTIME, &t);
            gettimeofday(&tv, NULL);
            sum += t.tv_nsec + tv.tv_usec + time(NULL);
        }
        printf("done %d\n", sum != 42);
        return 0;
    }
    if (vdso_open() != 0) {
        printf("no vDSO\n");
        return 1;
    }
    printf("ok AT_SYSINFO_EHDR is an ELF shared object\n");
    const char *names[] = {"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
                           "__vdso_clock_getres", "__vdso_getcpu"};
    for (int i = 0; i < 5; i++)
        printf("%s %s@LINUX_2.6\n", vdso_sym(names[i]) ? "ok" : "MISSING", names[i]);
    int (*cgt)(clockid_t, struct timespec *) = vdso_sym("__vdso_clock_gettime");
    int (*gtod)(struct timeval *, void *) = vdso_sym("__vdso_gettimeofday");
    time_t (*vtime)(time_t *) = vdso_sym("__vdso_time");
    int (*getres)(clockid_t, struct timespec *) = vdso_sym("__vdso_clock_getres");
    int (*getcpu)(unsigned *, unsigned *, void *) = vdso_sym("__vdso_getcpu");
    if (!cgt || !gtod || !vtime || !getres || !getcpu)
        return 1;

    clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME};
    const char *cname[] = {"REALTIME", "MONOTONIC", "MONOTONIC_RAW", "BOOTTIME"};
    for (int i = 0; i < 4; i++) {
        struct timespec a, b, c;
        int ra = cgt(clocks[i], &a);
        int rb = (int)syscall(SYS_clock_gettime, clocks[i], &b);
        int rc = cgt(clocks[i], &c);
        int ordered = ns(&a) <= ns(&b) && ns(&b) <= ns(&c) && ns(&c) - ns(&a) < 1000000000LL;
        printf("%s CLOCK_%s: vDSO, system call, vDSO in order\n", !ra && !rb && !rc && ordered ? "ok" : "BAD",
               cname[i]);
    }
    struct timespec prev, now;
    cgt(CLOCK_MONOTONIC, &prev);
    int back = 0;
    for (int i = 0; i < 100000; i++) {
        cgt(CLOCK_MONOTONIC, &now);
        if (ns(&now) < ns(&prev))
            back++;
        prev = now;
    }
    printf("%s 100000 CLOCK_MONOTONIC readings never go back\n", back ? "BAD" : "ok");

    struct timespec rt;
    struct timeval tv;
    struct timezone tz = {123, 456};
    cgt(CLOCK_REALTIME, &rt);
    int rg = gtod(&tv, &tz);
    time_t t1 = vtime(NULL), t2 = 0;
    vtime(&t2);
    long long d = (long long)tv.tv_sec * 1000000 + tv.tv_usec - ns(&rt) / 1000;
    printf("%s gettimeofday and time agree with CLOCK_REALTIME\n",
           !rg && d >= 0 && d < 1000000 && t1 >= rt.tv_sec && t2 >= t1 && t2 - rt.tv_sec <= 1 &&
           tv.tv_usec < 1000000 ? "ok" : "BAD");
    printf("%s gettimeofday's timezone is UTC (0, 0)\n", tz.tz_minuteswest == 0 && tz.tz_dsttime == 0 ? "ok" : "BAD");
    printf("%s gettimeofday(NULL, NULL) = 0\n", gtod(NULL, NULL) == 0 ? "ok" : "BAD");

    struct timespec res = {7, 7};
    int rr = getres(CLOCK_MONOTONIC, &res);
    printf("clock_getres(CLOCK_MONOTONIC) = %d, %ld.%09ld\n", rr, (long)res.tv_sec, res.tv_nsec);
    unsigned cpu = 99, node = 99;
    int rcpu = getcpu(&cpu, &node, NULL);
    printf("%s getcpu names a CPU and node 0\n",
           rcpu == 0 && cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF) && node == 0 ? "ok" : "BAD");

    struct timespec cpu_t;
    printf("%s CLOCK_PROCESS_CPUTIME_ID through the vDSO (its system call)\n",
           cgt(CLOCK_PROCESS_CPUTIME_ID, &cpu_t) == 0 && ns(&cpu_t) >= 0 ? "ok" : "BAD");
    errno = 0;
    int bad = cgt(12345, &cpu_t);
    printf("clock 12345: %d (%s)\n", bad, bad < 0 ? strerror(-bad) : "no error");

    struct timespec s0, s1, req = {0, 20000000};
    cgt(CLOCK_MONOTONIC, &s0);
    nanosleep(&req, NULL);
    cgt(CLOCK_MONOTONIC, &s1);
    printf("%s nanosleep(20 ms) lasts 20 ms or more by the vDSO's clock\n",
           ns(&s1) - ns(&s0) >= 20000000 ? "ok" : "BAD");

    struct timespec before;
    cgt(CLOCK_MONOTONIC, &before);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec c;
        cgt(CLOCK_MONOTONIC, &c);
        _exit(ns(&c) >= ns(&before) && getauxval(AT_SYSINFO_EHDR) ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("%s a forked child reads the same clock through the vDSO\n",
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "BAD");
    return 0;
}
