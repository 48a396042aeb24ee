/* memfd: memfd_create's anonymous in-memory files (read/write, ftruncate, fstat, the
 * /proc/self/fd link "/memfd:NAME (deleted)", MFD_CLOEXEC, a MAP_SHARED mapping seen by write
 * and read, shared with a forked child; bad flags and names) and file seals (F_ADD_SEALS,
 * F_GET_SEALS: F_SEAL_SHRINK, GROW, WRITE, SEAL; EPERM without MFD_ALLOW_SEALING or once
 * sealed, EBUSY for F_SEAL_WRITE over a writable shared mapping); and the pipe capacity
 * (F_GETPIPE_SZ, F_SETPIPE_SZ rounding, EBUSY below the content, EBADF on other files; writes
 * of whole pages, where Linux's page slots and a byte ring hold the same). */
#include "ut.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 1
#define F_SEAL_SHRINK 2
#define F_SEAL_GROW 4
#define F_SEAL_WRITE 8
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1
#define MFD_ALLOW_SEALING 2
#endif

static int memfd(const char *name, unsigned flags) { return (int)syscall(SYS_memfd_create, name, flags); }

static void t_memfd(void) {
    int fd = memfd("hello", 0);
    CHECK(fd >= 0, "memfd_create");
    char link[64], target[128] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    printf("link %zd '%s'\n", n, target);
    struct stat st;
    fstat(fd, &st);
    printf("mode %o size %ld nlink %ld\n", st.st_mode, (long)st.st_size, (long)st.st_nlink);
    printf("fd flags %d fl %o\n", fcntl(fd, F_GETFD), fcntl(fd, F_GETFL) & ~0100000);
    printf("write %zd\n", write(fd, "abcdef", 6));
    char b[16] = {0};
    printf("pread %zd '%s'\n", pread(fd, b, sizeof b - 1, 1), b);
    printf("ftruncate %d\n", ftruncate(fd, 8192));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED, "mmap shared");
    printf("map sees '%.6s'\n", m);
    memcpy(m + 4096, "page2", 5);
    memset(b, 0, sizeof b);
    pread(fd, b, 5, 4096);
    printf("read sees '%s'\n", b);
    pid_t pid = fork();
    if (pid == 0) {
        memcpy(m, "CHILD", 5);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    memset(b, 0, sizeof b);
    pread(fd, b, 6, 0);
    printf("after child '%s'\n", b);
    munmap(m, 8192);
    EXPECT_ERR(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM, "seal without allow");
    printf("seals %d\n", fcntl(fd, F_GET_SEALS));
    close(fd);
    int c = memfd("c", MFD_CLOEXEC);
    printf("cloexec fd flags %d\n", fcntl(c, F_GETFD));
    close(c);
    EXPECT_ERR(memfd("x", 0x100), EINVAL, "bad flags");
    char longname[300];
    memset(longname, 'n', sizeof longname);
    longname[299] = 0;
    EXPECT_ERR(memfd(longname, 0), EINVAL, "name too long");
    EXPECT_ERR(memfd((const char *)1, 0), EFAULT, "bad name");
}

static void t_seals(void) {
    int fd = memfd("sealed", MFD_ALLOW_SEALING);
    printf("initial seals %d\n", fcntl(fd, F_GET_SEALS));
    write(fd, "0123456789", 10);
    printf("add shrink %d\n", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
    EXPECT_ERR(ftruncate(fd, 5), EPERM, "shrink sealed");
    printf("grow ok %d\n", ftruncate(fd, 20));
    { int r_ = fcntl(fd, F_ADD_SEALS, F_SEAL_GROW); printf("add grow %d seals %d\n", r_, fcntl(fd, F_GET_SEALS)); }
    EXPECT_ERR(ftruncate(fd, 30), EPERM, "grow sealed");
    EXPECT_ERR(pwrite(fd, "x", 1, 20), EPERM, "write past end sealed");
    printf("write inside %zd\n", pwrite(fd, "x", 1, 19));
    printf("same size %d\n", ftruncate(fd, 20));
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_ERR(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY, "seal write while mapped");
    munmap(m, 4096);
    printf("add write %d\n", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    EXPECT_ERR(write(fd, "y", 1), EPERM, "write sealed");
    EXPECT_ERR(pwrite(fd, "y", 1, 0), EPERM, "pwrite sealed");
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("map shared writable %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("map shared read-only %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    if (m != MAP_FAILED) munmap(m, 4096);
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("map private writable %s\n", m == MAP_FAILED ? errname(errno) : "ok");
    if (m != MAP_FAILED) munmap(m, 4096);
    char b[4] = {0};
    printf("read %zd\n", pread(fd, b, 3, 0));
    { int r_ = fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL); printf("add seal %d seals %d\n", r_, fcntl(fd, F_GET_SEALS)); }
    EXPECT_ERR(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), EPERM, "add after seal");
    EXPECT_ERR(fcntl(fd, F_ADD_SEALS, 0x100), EINVAL, "bad seal");
    close(fd);
    int p[2];
    pipe(p);
    EXPECT_ERR(fcntl(p[0], F_GET_SEALS), EINVAL, "seals of a pipe");
    close(p[0]);
    close(p[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/memfd-%d", (int)getpid());
    int f = open(path, O_CREAT | O_RDWR, 0600);
    printf("seals of a tmpfs file %d\n", fcntl(f, F_GET_SEALS));
    EXPECT_ERR(fcntl(f, F_ADD_SEALS, F_SEAL_WRITE), EPERM, "add to a tmpfs file");
    close(f);
    unlink(path);
}

static void t_pipesz(void) {
    int p[2];
    pipe(p);
    printf("pipe size %d\n", fcntl(p[0], F_GETPIPE_SZ));
    printf("set 4096 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 4096));
    printf("get %d\n", fcntl(p[0], F_GETPIPE_SZ));
    printf("set 5000 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 5000));
    printf("set 1 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 1));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char buf[8192];
    memset(buf, 'x', sizeof buf);
    ssize_t w = 0, r;
    while ((r = write(p[1], buf, 4096)) > 0) w += r;
    printf("filled %zd %s\n", w, errname(errno));
    printf("set 65536 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 65536));
    w = 0;
    while ((r = write(p[1], buf, sizeof buf)) > 0) w += r;
    printf("filled more %zd\n", w);
    EXPECT_ERR(fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY, "shrink below content");
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ssize_t total = 0;
    while ((r = read(p[0], buf, sizeof buf)) > 0) total += r;
    printf("drained %zd\n", total);
    printf("set 0 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 0));
    printf("set 1MiB -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 1 << 20));
    EXPECT_ERR(fcntl(0x7fff, F_GETPIPE_SZ), EBADF, "bad fd");
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/pipesz-%d", (int)getpid());
    int f = open(path, O_CREAT | O_RDWR, 0600);
    EXPECT_ERR(fcntl(f, F_GETPIPE_SZ), EBADF, "getpipe_sz of a file");
    EXPECT_ERR(fcntl(f, F_SETPIPE_SZ, 4096), EBADF, "setpipe_sz of a file");
    close(f);
    unlink(path);
    close(p[0]);
    close(p[1]);
}

int main(void) {
    t_memfd();
    t_seals();
    t_pipesz();
    return ut_exit(0);
}
