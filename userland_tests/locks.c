/* locks: flock(2) on open file descriptions (dup shares, a second open conflicts, conversion,
 * LOCK_NB, release at the last close, a blocked waiter woken by the unlock and one interrupted
 * by a signal: EINTR) and POSIX record locks through fcntl (F_SETLK conflicts with EAGAIN across
 * processes, F_GETLK reporting the conflicting range and l_pid, merging and splitting of one
 * process's ranges, release when the process closes any descriptor of the file or exits,
 * F_SETLKW waiting, EDEADLK for a cycle of waiters, access-mode EBADF and argument EINVAL),
 * lockf(3), and the OFD forms
 * (F_OFD_SETLK/GETLK: owned by the description, l_pid -1, conflicting within one process). */
#include "ut.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

static char path[64];
static int up_p[2], down_p[2];   /* child to parent, parent to child */

static void fl(int type, off_t start, off_t len, struct flock *l) {
    memset(l, 0, sizeof *l);
    l->l_type = type;
    l->l_whence = SEEK_SET;
    l->l_start = start;
    l->l_len = len;
}

static int setlk(int fd, int cmd, int type, off_t start, off_t len) {
    struct flock l;
    fl(type, start, len, &l);
    return fcntl(fd, cmd, &l);
}

static const char *tname(int t) { return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "?"; }

/* F_GETLK for a write lock over [start, start+len): what conflicts. */
static void getlk(const char *label, int fd, int cmd, int type, off_t start, off_t len) {
    struct flock l;
    fl(type, start, len, &l);
    int r = fcntl(fd, cmd, &l);
    if (r < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return;
    }
    const char *who = l.l_pid == getppid() ? "parent" : l.l_pid == getpid() ? "self" : l.l_pid == -1 ? "-1" : "other";
    if (l.l_type == F_UNLCK)
        printf("%s: UN\n", label);
    else
        printf("%s: %s %ld %ld pid %s\n", label, tname(l.l_type), (long)l.l_start, (long)l.l_len, who);
}

static void step(const char *s) { printf("%s\n", s); fflush(stdout); }
static void tell(void) { char c = 1; write(up_p[1], &c, 1); }          /* child: to parent */
static void await(void) { char c; read(up_p[0], &c, 1); }              /* parent: from child */
static void go(void) { char c = 1; write(down_p[1], &c, 1); }          /* parent: to child */
static void wait_go(void) { char c; read(down_p[0], &c, 1); }          /* child: from parent */
static void nap(void) { usleep(100000); }

static void on_alarm(int sig) { (void)sig; }

static void t_flock(void) {
    int a = open(path, O_RDWR | O_CREAT, 0644), b = open(path, O_RDWR);
    printf("ex a %d\n", flock(a, LOCK_EX));
    EXPECT_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK, "ex b nb");
    EXPECT_ERR(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK, "sh b nb");
    int c = dup(a);
    printf("ex dup %d\n", flock(c, LOCK_EX | LOCK_NB));
    printf("sh a %d\n", flock(a, LOCK_SH));
    printf("sh b %d\n", flock(b, LOCK_SH | LOCK_NB));
    EXPECT_ERR(flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK, "upgrade a with b shared");
    printf("un b %d\n", flock(b, LOCK_UN));
    printf("upgrade a %d\n", flock(a, LOCK_EX | LOCK_NB));
    close(a);
    EXPECT_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK, "dup still holds");
    close(c);
    printf("after last close %d\n", flock(b, LOCK_EX | LOCK_NB));
    printf("un b %d\n", flock(b, LOCK_UN));
    EXPECT_ERR(flock(b, 0), EINVAL, "bad op");
    EXPECT_ERR(flock(b, LOCK_SH | LOCK_EX), EINVAL, "two ops");
    EXPECT_ERR(flock(99, LOCK_SH), EBADF, "bad fd");
    int ro = open(path, O_RDONLY);
    printf("ex on rdonly %d\n", flock(ro, LOCK_EX | LOCK_NB));
    close(ro);
    /* a blocked waiter in another process */
    printf("ex b %d\n", flock(b, LOCK_EX));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int d = open(path, O_RDWR);
        tell();
        int r = flock(d, LOCK_EX);
        printf("child locked %d\n", r);
        fflush(stdout);
        tell();
        wait_go();
        _exit(0);
    }
    await();
    nap();
    step("parent unlocks");
    flock(b, LOCK_UN);
    await();
    EXPECT_ERR(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK, "child holds");
    go();
    int st;
    waitpid(pid, &st, 0);
    printf("after child exit %d\n", flock(b, LOCK_SH | LOCK_NB));
    /* interrupted by a signal */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        int d = open(path, O_RDWR);
        struct itimerval it = {{0, 0}, {0, 100000}};
        setitimer(ITIMER_REAL, &it, NULL);
        errno = 0;
        int r = flock(d, LOCK_EX);
        printf("child flock %d %s\n", r, errname(errno));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    close(b);
}

static void t_posix(void) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    printf("wr 0-10 %d\n", setlk(fd, F_SETLK, F_WRLCK, 0, 10));
    getlk("own", fd, F_GETLK, F_WRLCK, 0, 10);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        getlk("child getlk 5-10", fd, F_GETLK, F_WRLCK, 5, 5);
        EXPECT_ERR(setlk(fd, F_SETLK, F_WRLCK, 5, 10), EAGAIN, "child wr 5-15");
        EXPECT_ERR(setlk(fd, F_SETLK, F_RDLCK, 9, 1), EAGAIN, "child rd 9");
        printf("child wr 10-20 %d\n", setlk(fd, F_SETLK, F_WRLCK, 10, 10));
        EXPECT_ERR(lockf(fd, F_TEST, 5), EACCES, "child lockf test");
        EXPECT_ERR(lockf(fd, F_TLOCK, 5), EAGAIN, "child lockf tlock");
        fflush(stdout);
        tell();
        wait_go();
        _exit(0);
    }
    await();
    getlk("parent sees child", fd, F_GETLK, F_RDLCK, 0, 0);
    go();
    int st;
    waitpid(pid, &st, 0);
    getlk("child exited", fd, F_GETLK, F_WRLCK, 10, 10);
    /* split and merge */
    printf("rd 0-100 %d\n", setlk(fd, F_SETLK, F_RDLCK, 0, 100));
    printf("un 40-60 %d\n", setlk(fd, F_SETLK, F_UNLCK, 40, 20));
    printf("wr 70-80 %d\n", setlk(fd, F_SETLK, F_WRLCK, 70, 10));
    printf("rd 200-eof %d\n", setlk(fd, F_SETLK, F_RDLCK, 200, 0));
    printf("rd 150 back 50 %d\n", setlk(fd, F_SETLK, F_RDLCK, 150, -50));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        getlk("c 0-100", fd, F_GETLK, F_WRLCK, 0, 100);
        getlk("c 40-60", fd, F_GETLK, F_WRLCK, 40, 20);
        getlk("c 45-eof", fd, F_GETLK, F_WRLCK, 45, 0);
        getlk("c rd 65-eof", fd, F_GETLK, F_RDLCK, 65, 0);
        getlk("c 81-99", fd, F_GETLK, F_WRLCK, 81, 18);
        getlk("c 100-eof", fd, F_GETLK, F_WRLCK, 100, 0);
        getlk("c 1000", fd, F_GETLK, F_WRLCK, 1000, 1);
        printf("c rd 0-100 %d\n", setlk(fd, F_SETLK, F_RDLCK, 0, 40));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    /* merge: adjacent read locks become one */
    printf("rd 40-60 %d\n", setlk(fd, F_SETLK, F_RDLCK, 40, 20));
    printf("un 70-80 %d\n", setlk(fd, F_SETLK, F_UNLCK, 70, 10));
    printf("rd 60-100 %d\n", setlk(fd, F_SETLK, F_RDLCK, 60, 40));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        getlk("c merged", fd, F_GETLK, F_WRLCK, 0, 0);
        getlk("c from 100", fd, F_GETLK, F_WRLCK, 100, 0);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    /* close of any descriptor of the file drops the process's locks */
    int other = open(path, O_RDONLY);
    close(other);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        getlk("c after close", fd, F_GETLK, F_WRLCK, 0, 0);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    /* F_SETLKW waits for the unlock */
    printf("wr all %d\n", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        tell();
        int r = setlk(fd, F_SETLKW, F_WRLCK, 5, 1);
        printf("child setlkw %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    await();
    nap();
    step("parent unlocks");
    setlk(fd, F_SETLK, F_UNLCK, 0, 0);
    waitpid(pid, &st, 0);
    /* EDEADLK: the second of two processes waiting for each other's lock */
    printf("parent wr 0 %d\n", setlk(fd, F_SETLK, F_WRLCK, 0, 1));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        setlk(fd, F_SETLK, F_WRLCK, 1, 1);
        tell();
        wait_go();
        nap();
        EXPECT_ERR(setlk(fd, F_SETLKW, F_WRLCK, 0, 1), EDEADLK, "child closes the cycle");
        fflush(stdout);
        _exit(0);
    }
    await();
    go();
    { int r = setlk(fd, F_SETLKW, F_WRLCK, 1, 1); printf("parent got byte 1 %d\n", r); }
    waitpid(pid, &st, 0);
    setlk(fd, F_SETLK, F_UNLCK, 0, 0);
    /* errors */
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    EXPECT_ERR(setlk(ro, F_SETLK, F_WRLCK, 0, 1), EBADF, "wr on rdonly");
    EXPECT_ERR(setlk(wo, F_SETLK, F_RDLCK, 0, 1), EBADF, "rd on wronly");
    printf("un on rdonly %d\n", setlk(ro, F_SETLK, F_UNLCK, 0, 1));
    EXPECT_ERR(setlk(fd, F_SETLK, 7, 0, 1), EINVAL, "bad type");
    EXPECT_ERR(setlk(fd, F_SETLK, F_RDLCK, -1, 1), EINVAL, "negative start");
    EXPECT_ERR(setlk(fd, F_SETLK, F_RDLCK, 5, -10), EINVAL, "before 0");
    struct flock l;
    fl(F_RDLCK, 0, 1, &l);
    l.l_whence = 9;
    EXPECT_ERR(fcntl(fd, F_SETLK, &l), EINVAL, "bad whence");
    EXPECT_ERR(fcntl(fd, F_SETLK, (struct flock *)8), EFAULT, "bad pointer");
    lseek(fd, 10, SEEK_SET);
    fl(F_WRLCK, -5, 2, &l);
    l.l_whence = SEEK_CUR;
    printf("seek_cur lock %d\n", fcntl(fd, F_SETLK, &l));
    close(ro);
    close(wo);
    close(fd);
}

static void t_ofd(void) {
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    printf("ofd wr a %d\n", setlk(a, F_OFD_SETLK, F_WRLCK, 0, 10));
    EXPECT_ERR(setlk(b, F_OFD_SETLK, F_WRLCK, 5, 10), EAGAIN, "ofd wr b");
    getlk("ofd getlk b", b, F_OFD_GETLK, F_WRLCK, 0, 0);
    getlk("ofd getlk a", a, F_OFD_GETLK, F_WRLCK, 0, 0);
    EXPECT_ERR(setlk(b, F_SETLK, F_RDLCK, 0, 1), EAGAIN, "posix vs ofd");
    struct flock l;
    fl(F_RDLCK, 0, 1, &l);
    l.l_pid = 1;
    EXPECT_ERR(fcntl(b, F_OFD_SETLK, &l), EINVAL, "ofd l_pid");
    close(b);
    b = open(path, O_RDWR);
    EXPECT_ERR(setlk(b, F_OFD_SETLK, F_WRLCK, 5, 10), EAGAIN, "ofd kept after other close");
    int c = dup(a);
    close(a);
    EXPECT_ERR(setlk(b, F_OFD_SETLK, F_WRLCK, 5, 10), EAGAIN, "ofd held by dup");
    close(c);
    printf("ofd after last close %d\n", setlk(b, F_OFD_SETLK, F_WRLCK, 5, 10));
    printf("ofd setlkw %d\n", setlk(b, F_OFD_SETLKW, F_RDLCK, 0, 0));
    close(b);
}

int main(void) {
    snprintf(path, sizeof path, "/dev/shm/locks-%d", (int)getpid());
    pipe(up_p);
    pipe(down_p);
    t_flock();
    t_posix();
    t_ofd();
    unlink(path);
    return ut_exit(0);
}
