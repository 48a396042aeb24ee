/* mmapfile: mmap(2) of files as ld.so, allocators and readers use it: private mappings with
 * offsets, the zeroed tail past the end of the file, private writes that never reach the file,
 * MAP_FIXED over anonymous memory, mprotect of a file mapping, a mapping outliving its
 * descriptor, fork, /dev/zero, read-only shared mappings, many files in turn, and the errors.
 * With the argument "shared": a writable MAP_SHARED mapping written back (msync, munmap). */
#include "ut.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096
#define SIZE (3 * PG + 100)

static unsigned char pat(size_t i) { return (unsigned char)(i * 7 + 3); }

static int same(const unsigned char *p, size_t off, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(off + i)) return 0;
    return 1;
}

static int make_file(char *path) {
    strcpy(path, "/tmp/ut-mmapfile-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    static unsigned char buf[SIZE];
    for (size_t i = 0; i < SIZE; i++) buf[i] = pat(i);
    if (write(fd, buf, SIZE) != SIZE) return -1;
    return fd;
}

static void shared_case(int fd, const char *path) {
    unsigned char *w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(w != MAP_FAILED, "MAP_SHARED PROT_WRITE of a file opened O_RDWR");
    if (w == MAP_FAILED) return;
    w[5] = 0xEE;
    CHECK(msync(w, PG, MS_SYNC) == 0, "msync");
    unsigned char c = 0;
    CHECK(pread(fd, &c, 1, 5) == 1 && c == 0xEE, "the write is in the file after msync");
    w[PG + 1] = 0xDD;
    munmap(w, SIZE);
    int fd2 = open(path, O_RDONLY);
    CHECK(pread(fd2, &c, 1, PG + 1) == 1 && c == 0xDD, "and after munmap, through another descriptor");
    unsigned char *r = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd2, 0);
    c = 0x44;
    CHECK(pwrite(fd, &c, 1, 9) == 1 && r[9] == 0x44, "a read-only shared mapping sees a later write(2)");
    EXPECT_ERR(mprotect(r, PG, PROT_READ | PROT_WRITE), EACCES, "mprotect to writable, opened O_RDONLY");
    munmap(r, SIZE);
    close(fd2);

    w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid_t pid = fork();
    if (pid == 0) {
        w[100] = 0xC1;
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(w[100] == 0xC1, "a forked child's write to the shared file mapping is the parent's");
    munmap(w, SIZE);

    int *shm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shm != MAP_FAILED && shm[0] == 0 && shm[PG / 4] == 0, "shared anonymous memory starts zeroed");
    pid = fork();
    if (pid == 0) {
        shm[0] = 41;
        shm[PG / 4] = 42;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK(shm[0] == 41 && shm[PG / 4] == 42, "and is shared with a forked child");
    int z = open("/dev/zero", O_RDWR);
    int *zs = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
    close(z);
    pid = fork();
    if (pid == 0) {
        zs[1] = 7;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK(zs[1] == 7, "so is a shared mapping of /dev/zero");
}

int main(int argc, char **argv) {
    char path[64];
    int fd = make_file(path);
    CHECK(fd >= 0, "a file of 3 pages and 100 bytes in /tmp");
    if (argc > 1 && strcmp(argv[1], "shared") == 0) {
        shared_case(fd, path);
        unlink(path);
        return ut_exit(0);
    }
    close(fd);
    fd = open(path, O_RDONLY);

    unsigned char *p = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED && same(p, 0, SIZE), "MAP_PRIVATE of the whole file reads its bytes");
    int zero = 1;
    for (size_t i = SIZE; i < 4 * PG; i++) zero &= p[i] == 0;
    CHECK(zero, "the rest of the last page reads as zeros");
    munmap(p, SIZE);

    p = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, PG);
    CHECK(p != MAP_FAILED && same(p, PG, 2 * PG), "an offset of one page maps pages 1 and 2");
    munmap(p, 2 * PG);

    p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    p[10] = 0x55;
    p[2 * PG] = 0x66;
    unsigned char c = 0;
    CHECK(pread(fd, &c, 1, 10) == 1 && c == pat(10), "a private write does not reach the file");
    CHECK(p[10] == 0x55 && same(p + 11, 11, 100), "and the mapping keeps it beside the file's bytes");

    pid_t pid = fork();
    if (pid == 0) {
        int ok = p[10] == 0x55 && p[2 * PG] == 0x66 && same(p + PG, PG, 100);
        p[10] = 0x77;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child sees the private pages");
    CHECK(p[10] == 0x55, "and its writes stay its own");
    munmap(p, SIZE);

    unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 0xAA, 4 * PG);
    p = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PG);
    CHECK(p == a + PG, "MAP_FIXED over anonymous memory lands at its address");
    CHECK(a[PG - 1] == 0xAA && same(a + PG, 2 * PG, PG) && a[2 * PG] == 0xAA, "and replaces just that page");
    CHECK(mprotect(a + PG, PG, PROT_READ | PROT_WRITE) == 0, "mprotect of a private file page to writable");
    a[PG] = 1;
    CHECK(a[PG] == 1 && a[PG + 1] == pat(2 * PG + 1), "the page is written privately");
    munmap(a, 4 * PG);

    p = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(same(p + 2 * PG, 2 * PG, 100), "a mapping outlives its descriptor (first touch after close)");
    munmap(p, SIZE);

    fd = open(path, O_RDONLY);
    p = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED && same(p, 0, SIZE), "MAP_SHARED PROT_READ reads the file");
    munmap(p, SIZE);

    int many = 1;
    for (int i = 0; i < 300 && many; i++) {
        int f = open(path, O_RDONLY);
        unsigned char *q = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, f, 0);
        close(f);
        many = q != MAP_FAILED && q[7] == pat(7);
        munmap(q, PG);
    }
    CHECK(many, "300 descriptions mapped and unmapped in turn");

    int z = open("/dev/zero", O_RDWR);
    unsigned char *zp = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
    CHECK(zp != MAP_FAILED && zp[0] == 0 && zp[2 * PG - 1] == 0, "/dev/zero maps zeroed memory");
    zp[3] = 9;
    CHECK(zp[3] == 9, "which is writable");
    close(z);

    EXPECT_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 99, 0), EBADF, "mmap of a closed descriptor");
    EXPECT_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL, "an unaligned offset");
    EXPECT_ERR(mmap(NULL, 0, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL, "length 0");
    EXPECT_ERR(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES,
               "MAP_SHARED PROT_WRITE of a file opened O_RDONLY");
    int wfd = open(path, O_WRONLY);
    EXPECT_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wfd, 0), EACCES, "a file opened O_WRONLY");
    close(wfd);
    int pp[2];
    pipe(pp);
    EXPECT_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pp[0], 0), ENODEV, "a pipe");
    int dfd = open("/tmp", O_RDONLY);
    EXPECT_ERR(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dfd, 0), ENODEV, "a directory");
    close(fd);
    unlink(path);
    return ut_exit(0);
}
