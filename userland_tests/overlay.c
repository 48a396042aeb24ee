/* overlay: changes to files and directories that were there before the program started.
 * With no argument it makes them itself (in a fresh directory under /tmp); given DIR, it
 * expects DIR to hold them already (tests/run/test_overlay.py gives it a directory of the
 * sandbox's host root, so every change lands in the in-memory layer above the host's files):
 *   DIR/file ("lower\n"), DIR/sub/{a,b}, DIR/link -> file, DIR/empty/ (an empty directory).
 * It reads, appends to and truncates the file, removes, recreates and renames names in the
 * existing directories, lists them, removes them, and removes the directories. */
#include "ut.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *path) {
    DIR *d = opendir(path);
    char *names[32];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < 32)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s:", ut_basename(path));
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        close(fd);
    }
}

static int slurp(const char *path, char *out, int max) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int n = (int)read(fd, out, max);
    close(fd);
    return n < 0 ? -1 : n;
}

int main(int argc, char **argv) {
    char made[] = "/tmp/pyquark-overlay-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : NULL;
    if (!dir) {
        dir = mkdtemp(made);
        char p[128];
        put((snprintf(p, sizeof p, "%s/file", dir), p), "lower\n");
        mkdir((snprintf(p, sizeof p, "%s/sub", dir), p), 0755);
        put((snprintf(p, sizeof p, "%s/sub/a", dir), p), "a\n");
        put((snprintf(p, sizeof p, "%s/sub/b", dir), p), "b\n");
        mkdir((snprintf(p, sizeof p, "%s/empty", dir), p), 0755);
        if (symlink("file", (snprintf(p, sizeof p, "%s/link", dir), p)) != 0)
            perror("symlink");
    }
    CHECK(chdir(dir) == 0, "chdir into the directory");
    char buf[256];
    int n = slurp("link", buf, sizeof buf);
    CHECK(n == 6 && memcmp(buf, "lower\n", 6) == 0, "read the file through its link");
    struct stat st0, st;
    CHECK(stat("file", &st0) == 0 && st0.st_size == 6, "stat: 6 bytes");
    int fd = open("file", O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "upper\n", 6) == 6, "append to it");
    close(fd);
    n = slurp("file", buf, sizeof buf);
    CHECK(n == 12 && memcmp(buf, "lower\nupper\n", 12) == 0, "both lines read back");
    CHECK(stat("file", &st) == 0 && st.st_size == 12 && st.st_ino == st0.st_ino, "the size is 12, the inode number kept");
    CHECK(truncate("file", 3) == 0 && slurp("file", buf, sizeof buf) == 3, "truncate to 3");
    CHECK(chmod("file", 0600) == 0 && stat("file", &st) == 0 && (st.st_mode & 0777) == 0600, "chmod");

    list("sub");
    CHECK(unlink("sub/a") == 0, "unlink an existing name");
    EXPECT_ERR(stat("sub/a", &st), ENOENT, "it is gone");
    list("sub");
    put("sub/a", "again\n");
    n = slurp("sub/a", buf, sizeof buf);
    CHECK(n == 6 && memcmp(buf, "again\n", 6) == 0, "a new file under the removed name");
    put("sub/new", "new\n");
    list("sub");
    CHECK(rename("sub/b", "sub/c") == 0, "rename an existing file");
    n = slurp("sub/c", buf, sizeof buf);
    CHECK(n == 2 && memcmp(buf, "b\n", 2) == 0, "its data moved with it");
    CHECK(rename("sub/new", "sub/a") == 0, "rename over a name");
    list("sub");
    EXPECT_ERR(rmdir("sub"), ENOTEMPTY, "rmdir of the directory with names left");
    CHECK(unlink("sub/a") == 0 && unlink("sub/c") == 0, "remove them");
    list("sub");
    CHECK(rmdir("sub") == 0, "rmdir the existing directory once empty");
    EXPECT_ERR(stat("sub", &st), ENOENT, "it is gone");
    CHECK(mkdir("sub", 0700) == 0, "mkdir under its name");
    list("sub");
    put("sub/a", "over a removed name\n");
    put("sub/z", "new\n");
    list("sub");
    CHECK(rename("sub/z", "sub/b") == 0, "rename in the new directory onto a removed name");
    list("sub");
    CHECK(unlink("sub/a") == 0 && unlink("sub/b") == 0, "remove them again");
    CHECK(rmdir("empty") == 0 && mkdir("empty", 0755) == 0, "rmdir and mkdir an empty one");
    CHECK(symlink("sub", "link2") == 0 && unlink("link") == 0, "replace the link");
    list(".");
    CHECK(unlink("file") == 0 && unlink("link2") == 0 && rmdir("sub") == 0 && rmdir("empty") == 0, "remove everything");
    list(".");
    if (dir == made) {
        CHECK(chdir("/") == 0 && rmdir(made) == 0, "rmdir the directory");
    }
    return ut_exit(0);
}
