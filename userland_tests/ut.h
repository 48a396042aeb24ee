/* ut.h: helpers shared by the userland test programs (the .c files beside it).
 *
 * Every program prints only facts that must be the same natively and in the sandbox
 * ("ok LABEL", errno names, basenames, counts), never addresses, pids or times. A failed check
 * prints "FAIL LABEL ..." with whatever detail helps, and makes the program exit 1 instead of its
 * chosen status (see ut_exit). No <linux/...> or <asm/...> headers: musl-gcc has none. */
#ifndef UT_H
#define UT_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UT_UNUSED __attribute__((unused))

static int ut_failures;

UT_UNUSED static const char *errname(int e) {
    static char buf[24];
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EOVERFLOW: return "EOVERFLOW";
    case ELOOP: return "ELOOP";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EXDEV: return "EXDEV";
    case EROFS: return "EROFS";
    case ENXIO: return "ENXIO";
    case ENOSPC: return "ENOSPC";
    case ENODEV: return "ENODEV";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EFBIG: return "EFBIG";
    case EDEADLK: return "EDEADLK";
    case ENOLCK: return "ENOLCK";
    default: snprintf(buf, sizeof buf, "errno%d", e); return buf;
    }
}

UT_UNUSED static const char *ut_basename(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : (p ? p : "(null)");
}

/* CHECK(cond, "label %d", ...): prints "ok label" or "FAIL label (errno NAME)". */
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        int ok_ = !!(cond);                                                              \
        int e_ = errno;                                                                  \
        printf(ok_ ? "ok " : "FAIL ");                                                  \
        printf(__VA_ARGS__);                                                             \
        if (!ok_) {                                                                      \
            ut_failures++;                                                               \
            printf(" (errno %s)", errname(e_));                                         \
        }                                                                                \
        putchar('\n');                                                                   \
    } while (0)

/* EXPECT_ERR(call, EWANT, "label"): the call must return -1 with errno EWANT; prints
 * "label: -1 EWANT", or a FAIL line with what came back. */
#define EXPECT_ERR(call, want, label)                                                    \
    do {                                                                                 \
        errno = 0;                                                                       \
        long r_ = (long)(call);                                                          \
        int e_ = errno;                                                                  \
        if (r_ == -1 && e_ == (want)) {                                                  \
            printf("%s: -1 %s\n", label, errname(e_));                                   \
        } else {                                                                         \
            ut_failures++;                                                               \
            printf("FAIL %s: returned %ld errno %s, want -1 ", label, r_, errname(e_));   \
            printf("%s\n", errname(want));                                               \
        }                                                                                \
    } while (0)

/* EXPECT_OK(call, "label"): the call must not return -1; prints "label: ok". */
#define EXPECT_OK(call, label)                                                           \
    do {                                                                                 \
        errno = 0;                                                                       \
        long r_ = (long)(call);                                                          \
        int e_ = errno;                                                                  \
        if (r_ != -1) {                                                                  \
            printf("%s: ok\n", label);                                                   \
        } else {                                                                         \
            ut_failures++;                                                               \
            printf("FAIL %s: -1 %s\n", label, errname(e_));                              \
        }                                                                                \
    } while (0)

/* The status to exit with: `status` when every check passed, 1 otherwise. */
UT_UNUSED static int ut_exit(int status) {
    fflush(stdout);
    return ut_failures ? 1 : status;
}

/* FNV-1a, for checksums that do not depend on addresses. */
UT_UNUSED static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV_INIT 14695981039346656037ULL

#endif
