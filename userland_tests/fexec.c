/* fexec: execveat(fd, "", ..., AT_EMPTY_PATH) and fexecve(3) run the file of a descriptor:
 * this program itself (an O_RDONLY and an O_PATH descriptor), a #! script (its interpreter sees
 * /dev/fd/N as the script's path), EACCES for a file without x, ENOENT without AT_EMPTY_PATH,
 * EBADF for a bad descriptor; execveat with a dirfd and a relative name. */
#include "ut.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

extern char **environ;

static int run(const char *label, int fd, const char *name, int flags, char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"fexec", arg, NULL};
        syscall(SYS_execveat, fd, name, argv, environ, flags);
        printf("%s: exec failed %s\n", label, errname(errno));
        fflush(stdout);
        _exit(99);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("%s: status %d\n", label, WEXITSTATUS(st));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        printf("child says %s\n", argv[1]);
        return 7;
    }
    int self = open("/proc/self/exe", O_RDONLY);
    run("fd", self, "", AT_EMPTY_PATH, "hi");
    int opath = open("/proc/self/exe", O_PATH);
    run("o_path", opath, "", AT_EMPTY_PATH, "path");
    run("no empty flag", self, "", 0, "x");
    run("bad fd", 99, "", AT_EMPTY_PATH, "x");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {"fexec", "fexecve", NULL};
        fexecve(self, av, environ);
        _exit(98);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("fexecve: status %d\n", WEXITSTATUS(st));
    char spath[64];
    snprintf(spath, sizeof spath, "/tmp/fexec-%d.sh", (int)getpid());
    int s = open(spath, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    const char *script = "#!/bin/sh\necho \"script $1 ok ${0%%-*}\"\nexit 5\n";
    write(s, script, strlen(script));
    close(s);
    int sfd = open(spath, O_RDONLY);
    run("script", sfd, "", AT_EMPTY_PATH, "arg");
    close(sfd);
    chmod(spath, 0644);
    sfd = open(spath, O_RDONLY);
    run("not executable", sfd, "", AT_EMPTY_PATH, "x");
    close(sfd);
    chmod(spath, 0755);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    run("dirfd relative", dir, strrchr(spath, '/') + 1, 0, "rel");
    close(dir);
    unlink(spath);
    return ut_exit(0);
}
