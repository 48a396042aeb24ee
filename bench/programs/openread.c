/* open + read + close of a small (cached) file, N times; prints ns per open/read/close. */
#include <fcntl.h>
#include <unistd.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    const char *path = argc > 2 ? argv[2] : "/etc/hostname";
    char buf[512];
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) die("open");
        if (read(fd, buf, sizeof buf) <= 0) die("read");
        close(fd);
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
