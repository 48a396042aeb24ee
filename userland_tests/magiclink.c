/* /proc/self/fd/N and /dev/fd/N are magic links, as on Linux: opening one opens the file behind
   the descriptor itself, not the text readlink shows: a pipe's read or write end (a new end of
   the same pipe: what bash's process substitution and `cat /dev/stdin` rely on), an unlinked
   file (its content still there), a file by its path; a directory's link leads on to its
   entries; stat follows it; an eventfd's link cannot be opened (ENXIO). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *en(int e) {
    return e == ENXIO ? "ENXIO" : e == ENOENT ? "ENOENT" : e == 0 ? "ok" : strerror(e);
}

int main(void) {
    int p[2];
    char path[64], buf[64];
    if (pipe(p) != 0)
        return 1;
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r = open(path, O_RDONLY);
    write(p[1], "through the pipe", 16);
    ssize_t n = read(r, buf, sizeof buf);
    printf("a pipe's read end reopened: %s, read \"%.*s\"\n", r >= 0 ? "ok" : en(errno), (int)(n > 0 ? n : 0), buf);
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    write(w, "second end", 10);
    n = read(p[0], buf, sizeof buf);
    printf("its write end reopened: %s, wrote \"%.*s\"\n", w >= 0 ? "ok" : en(errno), (int)(n > 0 ? n : 0), buf);
    struct stat st;
    snprintf(path, sizeof path, "/dev/fd/%d", p[0]);
    printf("stat follows the link to a FIFO: %d\n", stat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    close(p[1]);
    close(w);
    n = read(r, buf, sizeof buf);
    printf("all writers closed: the reopened end reads %zd\n", n);

    char tmpl[] = "/tmp/magic-XXXXXX";
    int f = mkstemp(tmpl);
    write(f, "still here", 10);
    struct stat a, b;
    fstat(f, &a);
    snprintf(path, sizeof path, "/proc/self/fd/%d", f);
    int g = open(path, O_RDONLY);
    fstat(g, &b);
    printf("a file by its path: same inode %d\n", g >= 0 && a.st_ino == b.st_ino);
    close(g);
    unlink(tmpl);
    g = open(path, O_RDONLY);
    n = g >= 0 ? read(g, buf, sizeof buf) : -1;
    printf("an unlinked file reopened: %s, read \"%.*s\"\n", g >= 0 ? "ok" : en(errno), (int)(n > 0 ? n : 0), buf);

    int d = open("/tmp", O_RDONLY | O_DIRECTORY);
    char dtmpl[] = "/tmp/magicdir-XXXXXX";
    mkdtemp(dtmpl);
    char inner[128];
    snprintf(inner, sizeof inner, "%s/file", dtmpl);
    int c = open(inner, O_CREAT | O_WRONLY, 0644);
    close(c);
    snprintf(path, sizeof path, "/proc/self/fd/%d/%s/file", d, dtmpl + 5);
    printf("a directory's link leads on: %s\n", access(path, F_OK) == 0 ? "ok" : en(errno));
    unlink(inner);
    rmdir(dtmpl);

    int e = eventfd(0, 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", e);
    errno = 0;
    int h = open(path, O_RDONLY);
    printf("an eventfd's link: %d %s\n", h, en(errno));
    n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("readlink still shows its name: %s\n", buf);
    return 0;
}
