/* dynload: what a dynamically linked PIE gets from the kernel and ld.so: started through its
 * ELF interpreter (AT_BASE), AT_ENTRY/AT_PHDR/AT_EXECFN as Linux fills them, loaded high,
 * dlopen of a library from the root (libm) and of one with thread-local storage (each thread
 * its own copy), dlopen's error for a missing library, dlclose and reopen. Built only as the
 * glibc-dyn variant (manifest: libcs). */
#include "ut.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>

extern char _start[];
typedef int (*bump_fn)(void);
static bump_fn bump;

static int first_phdr(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    *(const void **)data = info->dlpi_phdr;
    return 1;
}

static void *in_thread(void *arg) {
    (void)arg;
    return (void *)(long)bump();
}

int main(int argc, char **argv) {
    (void)argc;
    CHECK(getauxval(AT_BASE) != 0, "started through an ELF interpreter (AT_BASE set)");
    CHECK(getauxval(AT_ENTRY) == (unsigned long)_start, "AT_ENTRY is the program's _start");
    const void *ph = NULL;
    dl_iterate_phdr(first_phdr, &ph);
    CHECK(ph == (const void *)getauxval(AT_PHDR), "AT_PHDR is the program's headers");
    CHECK(strcmp(ut_basename((const char *)getauxval(AT_EXECFN)), ut_basename(argv[0])) == 0,
          "AT_EXECFN names the program");
    CHECK(getauxval(AT_SECURE) == 0, "AT_SECURE is 0");
    CHECK((unsigned long)main > 0x100000000UL, "a PIE, loaded above 4 GiB");

    void *m = dlopen("libm.so.6", RTLD_NOW);
    double (*cosine)(double) = m ? (double (*)(double))dlsym(m, "cos") : NULL;
    CHECK(cosine && cosine(0.0) == 1.0, "dlopen(libm.so.6) and cos(0) == 1");

    char exe[512], lib[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(lib, sizeof lib, "%s/../lib/libuttls.so", exe);
    void *h = dlopen(lib, RTLD_NOW);
    CHECK(h != NULL, "dlopen of libuttls.so beside the program");
    bump = h ? (bump_fn)dlsym(h, "ut_bump") : NULL;
    if (bump) {
        CHECK(bump() == 6, "its thread-local counter starts at 5 in the main thread");
        pthread_t th;
        void *got = NULL;
        pthread_create(&th, NULL, in_thread, NULL);
        pthread_join(th, &got);
        CHECK((long)got == 6, "a new thread has its own copy");
        CHECK(bump() == 7, "the main thread's copy is untouched");
    }
    CHECK(h && dlclose(h) == 0, "dlclose");
    h = dlopen(lib, RTLD_NOW);
    bump = h ? (bump_fn)dlsym(h, "ut_bump") : NULL;
    CHECK(bump && bump() == 6, "opened again, its TLS starts afresh");

    void *none = dlopen("libut-not-there.so", RTLD_NOW);
    const char *err = dlerror();
    CHECK(none == NULL && err && strstr(err, "cannot open shared object file"),
          "a missing library: dlopen's error names it");
    return ut_exit(0);
}
