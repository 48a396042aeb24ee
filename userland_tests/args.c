/* args: argv, envp and the auxiliary vector as a static binary's C library sees them.
 * Prints argc, argv[0]'s basename and every other argv entry, every envp entry in order (the
 * harness passes exactly the manifest's env), a few getenv() lookups, and facts about auxv:
 * AT_PAGESZ, AT_RANDOM, AT_EXECFN's basename, AT_PHDR/AT_PHNUM/AT_PHENT pointing at this
 * image's program headers, AT_ENTRY == _start, AT_UID/AT_EUID/AT_GID/AT_EGID matching the id
 * syscalls, AT_SECURE == 0, AT_CLKTCK == 100, and the raw vector after envp agreeing with
 * getauxval. */
#include "ut.h"
#include <elf.h>
#include <sys/auxv.h>

extern char _start[];
extern char **environ;

int main(int argc, char **argv, char **envp) {
    printf("argc=%d\n", argc);
    printf("argv[0] basename=%s\n", ut_basename(argv[0]));
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);
    CHECK(argv[argc] == NULL, "argv[argc] == NULL");
    CHECK(((uintptr_t)argv & 7) == 0, "argv 8-byte aligned");
    int n = 0;
    for (char **e = envp; *e; e++, n++)
        printf("envp[%d]=[%s]\n", n, *e);
    printf("envc=%d\n", n);
    CHECK(environ == envp, "environ == envp");
    const char *names[] = {"PQ_ALPHA", "PQ_EMPTY", "PQ_MISSING"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v)
            printf("getenv(%s)=[%s]\n", names[i], v);
        else
            printf("getenv(%s)=NULL\n", names[i]);
    }

    /* the auxiliary vector */
    unsigned long pagesz = getauxval(AT_PAGESZ);
    printf("AT_PAGESZ=%lu\n", pagesz);
    CHECK(sysconf(_SC_PAGESIZE) == (long)pagesz, "sysconf(_SC_PAGESIZE) == AT_PAGESZ");
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    CHECK(rnd != NULL, "AT_RANDOM non-null");
    if (rnd) {
        int nonzero = 0;
        for (int i = 0; i < 16; i++)
            nonzero |= rnd[i];
        CHECK(nonzero, "AT_RANDOM's 16 bytes are readable and not all zero");
    }
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN basename=%s\n", execfn ? ut_basename(execfn) : "(missing)");

    const Elf64_Phdr *phdr = (const Elf64_Phdr *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM), phent = getauxval(AT_PHENT);
    CHECK(phdr != NULL && phnum > 0, "AT_PHDR non-null, AT_PHNUM > 0");
    CHECK(phent == sizeof(Elf64_Phdr), "AT_PHENT == sizeof(Elf64_Phdr)");
    if (phdr && phnum > 0 && phnum < 64) {
        /* load bias: from PT_PHDR when present, else 0 (static non-PIE) */
        uintptr_t bias = 0;
        int loads = 0, covered = 0;
        for (unsigned long i = 0; i < phnum; i++)
            if (phdr[i].p_type == PT_PHDR)
                bias = (uintptr_t)phdr - phdr[i].p_vaddr;
        for (unsigned long i = 0; i < phnum; i++) {
            if (phdr[i].p_type == PT_LOAD) {
                loads++;
                uintptr_t lo = bias + phdr[i].p_vaddr, hi = lo + phdr[i].p_memsz;
                if ((uintptr_t)phdr >= lo && (uintptr_t)(phdr + phnum) <= hi)
                    covered = 1;
            }
        }
        CHECK(loads > 0, "program headers have a PT_LOAD");
        CHECK(covered, "AT_PHDR lies inside a PT_LOAD segment");
        CHECK(getauxval(AT_ENTRY) == (unsigned long)_start, "AT_ENTRY == _start");
    }
    CHECK(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid(), "AT_UID/AT_EUID match getuid/geteuid");
    CHECK(getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid(), "AT_GID/AT_EGID match getgid/getegid");
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
    printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));

    /* the raw vector right after envp's NULL */
    char **p = envp;
    while (*p)
        p++;
    const Elf64_auxv_t *av = (const Elf64_auxv_t *)(p + 1);
    int entries = 0, agree = 1, saw_pagesz = 0;
    for (; av->a_type != AT_NULL && entries < 256; av++, entries++) {
        if (av->a_type == AT_PAGESZ || av->a_type == AT_PHDR || av->a_type == AT_ENTRY ||
            av->a_type == AT_RANDOM || av->a_type == AT_EXECFN) {
            saw_pagesz |= av->a_type == AT_PAGESZ;
            agree &= getauxval(av->a_type) == av->a_un.a_val;
        }
    }
    CHECK(entries < 256 && saw_pagesz, "auxv after envp ends with AT_NULL and has AT_PAGESZ");
    CHECK(agree, "raw auxv agrees with getauxval");
    return ut_exit(0);
}
