/* Sequential read of a 64 MiB file (DIR/big64 beside argv[2]) in 64 KiB reads, warm: one
 * untimed pass, then N timed ones; prints ns per 64 MiB pass. */
#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>
#include "peers_common.h"

static char buf[65536];

static void pass(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open");
    long total = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) total += r;
    close(fd);
    if (total != 64L << 20) die("short file");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    char path[4096];
    snprintf(path, sizeof path, "%s/big64", dirname(strdup(argc > 2 ? argv[2] : "/tmp/x")));
    pass(path);
    double a = now_ns();
    for (long i = 0; i < n; i++) pass(path);
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
