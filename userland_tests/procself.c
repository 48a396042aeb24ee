/* procself: /proc/self and what it shows: the link to the pid, cwd, fd links (a file's path,
 * a pipe), fd/ listing, comm, stat, status, environ, /proc/mounts with the root. */
#include "ut.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static int slurp(const char *path, char *out, int max) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int n = 0, r;
    while (n < max - 1 && (r = (int)read(fd, out + n, max - 1 - n)) > 0)
        n += r;
    close(fd);
    out[n] = 0;
    return n;
}

static char buf[65536];

int main(void) {
    char link[256], want[256];
    struct stat st;
    CHECK(lstat("/proc/self", &st) == 0 && S_ISLNK(st.st_mode), "/proc/self is a symlink");
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    snprintf(want, sizeof want, "%d", (int)getpid());
    CHECK(n > 0 && (link[n] = 0, strcmp(link, want) == 0), "it names the pid");
    CHECK(chdir("/etc") == 0, "chdir /etc");
    n = readlink("/proc/self/cwd", link, sizeof link - 1);
    CHECK(n == 4 && memcmp(link, "/etc", 4) == 0, "/proc/self/cwd is /etc");
    int fd = open("/etc/passwd", O_RDONLY);
    snprintf(want, sizeof want, "/proc/self/fd/%d", fd);
    n = readlink(want, link, sizeof link - 1);
    CHECK(n == 11 && memcmp(link, "/etc/passwd", 11) == 0, "an fd link names the file");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    snprintf(want, sizeof want, "/proc/self/fd/%d", p[0]);
    n = readlink(want, link, sizeof link - 1);
    CHECK(n > 6 && memcmp(link, "pipe:[", 6) == 0, "a pipe's fd link is pipe:[...]");
    DIR *d = opendir("/proc/self/fd");
    int seen = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        seen |= (!strcmp(e->d_name, "0")) | (!strcmp(e->d_name, "1") << 1) | (!strcmp(e->d_name, "2") << 2) |
                ((atoi(e->d_name) == p[1]) << 3);
    if (d)
        closedir(d);
    CHECK(seen == 15, "fd/ lists 0, 1, 2 and the pipe");
    snprintf(want, sizeof want, "/proc/self/fd/%d", 99);
    EXPECT_ERR(readlink(want, link, sizeof link), ENOENT, "the link of a closed descriptor");
    CHECK(slurp("/proc/self/comm", buf, sizeof buf) == 9 && strcmp(buf, "procself\n") == 0, "comm");
    snprintf(want, sizeof want, "%d (procself) ", (int)getpid());
    CHECK(slurp("/proc/self/stat", buf, sizeof buf) > 0 && strncmp(buf, want, strlen(want)) == 0, "stat starts with pid (comm)");
    CHECK(slurp("/proc/self/status", buf, sizeof buf) > 0 && strncmp(buf, "Name:\tprocself\n", 15) == 0, "status starts with Name");
    snprintf(want, sizeof want, "\nPid:\t%d\n", (int)getpid());
    CHECK(strstr(buf, want) != NULL, "status has the Pid");
    int m = slurp("/proc/self/environ", buf, sizeof buf);
    int found = 0;
    for (int i = 0; i < m; i += (int)strlen(buf + i) + 1)
        found |= strcmp(buf + i, "PROCSELF=yes") == 0;
    CHECK(found, "environ holds the environment");
    CHECK(slurp("/proc/mounts", buf, sizeof buf) > 0 && strstr(buf, " / ") != NULL, "/proc/mounts lists /");
    CHECK(stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode), "fd is a directory");
    EXPECT_ERR(open("/proc/self/nonexistent", O_RDONLY), ENOENT, "a name /proc does not have");
    return ut_exit(0);
}
