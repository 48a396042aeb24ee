/* Writing 64 MiB to a new file under /tmp in 64 KiB writes, then unlink, N times; prints ns
 * per 64 MiB (natively the host's /tmp; in a sandbox its own /tmp). */
#include <fcntl.h>
#include <unistd.h>
#include "peers_common.h"

static char buf[65536];

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    char path[64];
    snprintf(path, sizeof path, "/tmp/pyquark-writetmp-%d", (int)getpid());
    memset(buf, 'x', sizeof buf);
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (fd < 0) die("open");
        for (int k = 0; k < 1024; k++)
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write");
        close(fd);
        if (unlink(path) != 0) die("unlink");
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
