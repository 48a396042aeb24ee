/* events: epoll on pipes (level and edge triggered, EPOLLONESHOT, MOD and DEL, an item that
 * outlives its descriptor while the file stays open, nested epoll, the errors of epoll_ctl),
 * eventfd (counter, EFD_SEMAPHORE, EFD_NONBLOCK, overflow), timerfd (relative, interval,
 * TFD_TIMER_ABSTIME, gettime, expirations counted, disarm), signalfd (a blocked signal read as
 * a signalfd_siginfo), rt_sigtimedwait (a pending signal taken, a timeout) and sigqueue's value,
 * epoll_pwait's mask letting a signal in, and a thread woken out of epoll_wait by a write. */
#include "ut.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

static int nready(int ep, int ms) {
    struct epoll_event ev[8];
    return epoll_wait(ep, ev, 8, ms);
}

static void test_epoll(void) {
    int p[2];
    struct epoll_event ev = {0}, out[4];
    if (pipe(p) != 0) { CHECK(0, "pipe"); return; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    EXPECT_ERR(syscall(SYS_epoll_create, 0), EINVAL, "epoll_create(0)");
    EXPECT_ERR(epoll_create1(1), EINVAL, "epoll_create1(bad flag)");
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1122334455667788ULL;
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), "ADD read end");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST, "ADD twice");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT, "MOD of a descriptor not added");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev), EBADF, "ADD of a closed descriptor");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL, "ADD of itself");
    EXPECT_ERR(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL, "epoll_ctl on a pipe");
    EXPECT_ERR(epoll_ctl(ep, 9, p[0], &ev), EINVAL, "bad op");
    int f = open("/etc/passwd", O_RDONLY);
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM, "ADD of a regular file");
    close(f);
    EXPECT_ERR(epoll_wait(ep, out, 0, 0), EINVAL, "epoll_wait maxevents 0");
    printf("empty pipe, level: %d ready\n", nready(ep, 0));
    printf("empty pipe, 30 ms timeout: %d ready\n", nready(ep, 30));
    (void)!write(p[1], "ab", 2);
    int n = epoll_wait(ep, out, 4, -1);
    CHECK(n == 1 && out[0].events == EPOLLIN && out[0].data.u64 == 0x1122334455667788ULL,
          "level: POLLIN with the data word");
    printf("level, again without reading: %d ready\n", nready(ep, 0));
    /* edge triggered: reported once per change */
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = p[0];
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), "MOD to edge");
    printf("edge, after MOD (data waiting): %d ready\n", nready(ep, 0));
    printf("edge, again: %d ready\n", nready(ep, 0));
    (void)!write(p[1], "c", 1);
    printf("edge, after another write: %d ready\n", nready(ep, 0));
    printf("edge, again: %d ready\n", nready(ep, 0));
    char buf[8];
    CHECK(read(p[0], buf, sizeof buf) == 3, "read the 3 bytes");
    /* oneshot: disabled after one report until MOD */
    ev.events = EPOLLIN | EPOLLONESHOT;
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), "MOD to oneshot");
    (void)!write(p[1], "d", 1);
    printf("oneshot: %d ready\n", nready(ep, 0));
    printf("oneshot, again: %d ready\n", nready(ep, 0));
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), "MOD re-arms");
    printf("oneshot, re-armed: %d ready\n", nready(ep, 0));
    /* write end: EPOLLOUT; the reader's close gives EPOLLERR */
    ev.events = EPOLLOUT;
    ev.data.fd = p[1];
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev), "ADD write end");
    n = epoll_wait(ep, out, 4, 0);
    CHECK(n == 1 && out[0].data.fd == p[1] && out[0].events == EPOLLOUT, "write end EPOLLOUT");
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), "DEL write end");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), ENOENT, "DEL twice");
    /* an item lives as long as its open file description, not its descriptor */
    int q[2];
    (void)!pipe(q);
    int q0 = dup(q[0]);
    ev.events = EPOLLIN;
    ev.data.u32 = 77;
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev), "ADD second pipe");
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), "DEL first pipe");
    close(q[0]);
    (void)!write(q[1], "x", 1);
    n = epoll_wait(ep, out, 4, 0);
    CHECK(n == 1 && out[0].data.u32 == 77, "closed descriptor, file still open: still reported");
    close(q0);
    printf("file closed: %d ready\n", nready(ep, 0));
    /* hang-up: a read end whose writer went */
    ev.events = EPOLLIN;
    ev.data.u32 = 5;
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), "ADD first pipe again");
    close(p[1]);
    n = epoll_wait(ep, out, 4, 0);
    CHECK(n == 1 && out[0].events == (EPOLLIN | EPOLLHUP), "EPOLLIN|EPOLLHUP after the writer closed");
    /* nested: an epoll file is readable when one of its items is */
    int outer = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.u32 = 9;
    EXPECT_OK(epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev), "ADD epoll into epoll");
    EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev), ELOOP, "a loop of epolls");
    n = epoll_wait(outer, out, 4, 0);
    CHECK(n == 1 && out[0].data.u32 == 9, "outer epoll sees the inner one ready");
    struct pollfd pf = {ep, POLLIN, 0};
    CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLIN, "poll on an epoll descriptor");
    close(outer);
    close(ep);
    close(p[0]);
    close(q[1]);
}

static void test_eventfd(void) {
    uint64_t v;
    int e = eventfd(3, EFD_NONBLOCK);
    CHECK(e >= 0, "eventfd");
    CHECK(read(e, &v, 8) == 8 && v == 3, "read the initial 3");
    EXPECT_ERR(read(e, &v, 8), EAGAIN, "read of zero, nonblocking");
    EXPECT_ERR(read(e, &v, 4), EINVAL, "read of 4 bytes");
    v = 5;
    CHECK(write(e, &v, 8) == 8, "write 5");
    v = 6;
    CHECK(write(e, &v, 8) == 8, "write 6");
    CHECK(read(e, &v, 8) == 8 && v == 11, "read the sum 11");
    v = UINT64_MAX;
    EXPECT_ERR(write(e, &v, 8), EINVAL, "write of 2^64-1");
    v = UINT64_MAX - 1;
    CHECK(write(e, &v, 8) == 8, "write the maximum");
    v = 1;
    EXPECT_ERR(write(e, &v, 8), EAGAIN, "write past the maximum, nonblocking");
    struct pollfd pf = {e, POLLIN | POLLOUT, 0};
    CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLIN, "full: POLLIN only");
    close(e);
    int s = eventfd(2, EFD_SEMAPHORE | EFD_CLOEXEC);
    CHECK(read(s, &v, 8) == 8 && v == 1, "semaphore read 1");
    CHECK(read(s, &v, 8) == 8 && v == 1, "semaphore read 1 again");
    pf.fd = s;
    pf.revents = 0;
    CHECK(poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT, "semaphore empty: POLLOUT only");
    EXPECT_ERR(eventfd(0, 0x1234), EINVAL, "eventfd bad flags");
    close(s);
}

static void test_timerfd(void) {
    uint64_t n;
    struct itimerspec its = {0}, cur;
    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    CHECK(tf >= 0, "timerfd_create");
    EXPECT_ERR(timerfd_create(99, 0), EINVAL, "timerfd_create bad clock");
    EXPECT_ERR(read(tf, &n, 8), EAGAIN, "disarmed: EAGAIN");
    its.it_value.tv_nsec = 20 * 1000000;
    its.it_interval.tv_nsec = 10 * 1000000;
    EXPECT_OK(timerfd_settime(tf, 0, &its, NULL), "arm 20 ms then every 10 ms");
    CHECK(timerfd_gettime(tf, &cur) == 0 && cur.it_interval.tv_nsec == 10 * 1000000 &&
          cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0, "gettime: interval and time left");
    struct pollfd pf = {tf, POLLIN, 0};
    CHECK(poll(&pf, 1, 1000) == 1, "poll until it fires");
    usleep(35000);
    CHECK(read(tf, &n, 8) == 8 && n >= 2, "expirations counted (>= 2)");
    memset(&its, 0, sizeof its);
    EXPECT_OK(timerfd_settime(tf, 0, &its, &cur), "disarm");
    CHECK(cur.it_interval.tv_nsec == 10 * 1000000, "old value returned");
    EXPECT_ERR(read(tf, &n, 8), EAGAIN, "disarmed again");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    its.it_value = now;
    its.it_value.tv_nsec += 15 * 1000000;
    if (its.it_value.tv_nsec >= 1000000000) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000; }
    EXPECT_OK(timerfd_settime(tf, TFD_TIMER_ABSTIME, &its, NULL), "arm absolute");
    int flags = fcntl(tf, F_GETFL);
    fcntl(tf, F_SETFL, flags & ~O_NONBLOCK);
    CHECK(read(tf, &n, 8) == 8 && n == 1, "blocking read: one expiration");
    its.it_value.tv_nsec = 1000000000;
    EXPECT_ERR(timerfd_settime(tf, 0, &its, NULL), EINVAL, "tv_nsec out of range");
    close(tf);
    int rt = timerfd_create(CLOCK_REALTIME, 0);
    CHECK(rt >= 0, "timerfd on CLOCK_REALTIME");
    close(rt);
}

static volatile int got_usr2;
static void on_usr2(int sig) { (void)sig; got_usr2++; }

static int evfd_for_thread;
static void *poke(void *arg) {
    (void)arg;
    usleep(20000);
    uint64_t one = 1;
    (void)!write(evfd_for_thread, &one, 8);
    return NULL;
}

static void test_signals(void) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK);
    CHECK(sfd >= 0, "signalfd");
    struct signalfd_siginfo si;
    EXPECT_ERR(read(sfd, &si, sizeof si), EAGAIN, "signalfd, nothing pending");
    struct pollfd pf = {sfd, POLLIN, 0};
    CHECK(poll(&pf, 1, 0) == 0, "signalfd not readable");
    kill(getpid(), SIGUSR1);
    CHECK(poll(&pf, 1, 0) == 1, "signalfd readable after kill");
    CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1 &&
          si.ssi_pid == (uint32_t)getpid() && si.ssi_code == SI_USER, "read SIGUSR1 from signalfd");
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGUSR1), "no longer pending");
    close(sfd);
    /* sigtimedwait */
    struct timespec ts = {0, 20 * 1000000};
    EXPECT_ERR(sigtimedwait(&set, NULL, &ts), EAGAIN, "sigtimedwait timeout");
    union sigval sv;
    sv.sival_int = 4242;
    EXPECT_OK(sigqueue(getpid(), SIGUSR1, sv), "sigqueue");
    siginfo_t info;
    int sig = sigtimedwait(&set, &info, &ts);
    CHECK(sig == SIGUSR1 && info.si_code == SI_QUEUE && info.si_value.sival_int == 4242,
          "sigtimedwait took the queued signal with its value");
    kill(getpid(), SIGUSR1);
    CHECK(sigwaitinfo(&set, &info) == SIGUSR1 && info.si_code == SI_USER, "sigwaitinfo");
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* epoll_pwait: the mask given lets a blocked signal in for the wait */
    struct sigaction sa = {0};
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGUSR2);
    CHECK(got_usr2 == 0, "SIGUSR2 blocked: handler not run");
    int ep = epoll_create1(0);
    struct epoll_event out;
    sigset_t none;
    sigemptyset(&none);
    EXPECT_ERR(epoll_pwait(ep, &out, 1, 1000, &none), EINTR, "epoll_pwait with an empty mask");
    CHECK(got_usr2 == 1, "handler ran during the wait");
    sigpending(&pend);
    CHECK(sigismember(&set, SIGUSR2) && !sigismember(&pend, SIGUSR2), "mask back, nothing pending");
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    /* a thread's write wakes epoll_wait */
    evfd_for_thread = eventfd(0, 0);
    struct epoll_event ev = {EPOLLIN, {.u32 = 3}};
    epoll_ctl(ep, EPOLL_CTL_ADD, evfd_for_thread, &ev);
    pthread_t th;
    pthread_create(&th, NULL, poke, NULL);
    int n = epoll_wait(ep, &out, 1, 5000);
    CHECK(n == 1 && out.data.u32 == 3, "epoll_wait woken by another thread's eventfd write");
    pthread_join(th, NULL);
    close(evfd_for_thread);
    close(ep);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_epoll();
    test_eventfd();
    test_timerfd();
    test_signals();
    return ut_exit(0);
}
