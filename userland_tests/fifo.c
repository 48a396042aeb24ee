/* fifo: named pipes made by mkfifo and mknod(S_IFIFO) in an in-memory directory: stat says
 * S_IFIFO, open O_RDONLY|O_NONBLOCK succeeds alone, O_WRONLY|O_NONBLOCK without a reader is
 * ENXIO, O_RDWR opens both ends, a blocking O_RDONLY open waits for a writer (another process),
 * data flows between the ends, EOF when the writer closes, lseek ESPIPE, EEXIST for an existing
 * name, and the FIFO keeps no data once every end is closed. */
#include "ut.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

int main(void) {
    char path[64], path2[64];
    snprintf(path, sizeof path, "/tmp/fifo-%d", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/fifo2-%d", (int)getpid());
    printf("mkfifo %d\n", mkfifo(path, 0640));
    struct stat st;
    stat(path, &st);
    printf("fifo %d mode %o size %ld\n", S_ISFIFO(st.st_mode), st.st_mode & 07777, (long)st.st_size);
    EXPECT_ERR(mkfifo(path, 0600), EEXIST, "mkfifo again");
    printf("mknod %d\n", mknod(path2, S_IFIFO | 0600, 0));
    stat(path2, &st);
    printf("fifo2 %d\n", S_ISFIFO(st.st_mode));
    EXPECT_ERR(open(path, O_WRONLY | O_NONBLOCK), ENXIO, "writer without reader");
    int r = open(path, O_RDONLY | O_NONBLOCK);
    CHECK(r >= 0, "reader nonblock");
    char b[32] = {0};
    errno = 0;
    { long n = read(r, b, sizeof b); printf("read no writer %ld %s\n", n, n < 0 ? errname(errno) : "eof"); }
    int w = open(path, O_WRONLY | O_NONBLOCK);
    CHECK(w >= 0, "writer with reader");
    printf("write %zd\n", write(w, "hello", 5));
    memset(b, 0, sizeof b);
    printf("read %zd '%s'\n", read(r, b, sizeof b), b);
    errno = 0;
    { long n = read(r, b, sizeof b); printf("read empty %ld %s\n", n, errname(errno)); }
    EXPECT_ERR(lseek(r, 0, SEEK_SET), ESPIPE, "lseek");
    fstat(w, &st);
    printf("fstat fifo %d\n", S_ISFIFO(st.st_mode));
    close(w);
    { long n = read(r, b, sizeof b); printf("read after writer closed %ld\n", n); }
    close(r);
    int rw = open(path, O_RDWR);
    CHECK(rw >= 0, "O_RDWR");
    printf("rw write %zd\n", write(rw, "xyz", 3));
    memset(b, 0, sizeof b);
    printf("rw read %zd '%s'\n", read(rw, b, sizeof b), b);
    write(rw, "left", 4);
    close(rw);
    rw = open(path, O_RDWR | O_NONBLOCK);
    errno = 0;
    { long n = read(rw, b, sizeof b); printf("data gone with the ends %ld %s\n", n, errname(errno)); }
    close(rw);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100000);
        int fw = open(path, O_WRONLY);
        write(fw, "from child", 10);
        close(fw);
        _exit(0);
    }
    r = open(path, O_RDONLY);
    CHECK(r >= 0, "blocking reader opened");
    memset(b, 0, sizeof b);
    size_t got = 0;
    long n;
    while ((n = read(r, b + got, sizeof b - 1 - got)) > 0) got += n;
    printf("from fifo '%s'\n", b);
    close(r);
    int status;
    waitpid(pid, &status, 0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        int fr = open(path, O_RDONLY);
        char c[8] = {0};
        read(fr, c, 7);
        printf("child read '%s'\n", c);
        fflush(stdout);
        _exit(0);
    }
    w = open(path, O_WRONLY);
    CHECK(w >= 0, "blocking writer opened");
    write(w, "to kid", 6);
    close(w);
    waitpid(pid, &status, 0);
    printf("unlink %d %d\n", unlink(path), unlink(path2));
    return ut_exit(0);
}
