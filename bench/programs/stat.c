/* stat(2) of a file, N times; prints ns per stat. */
#include <sys/stat.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    const char *path = argc > 2 ? argv[2] : "/etc/hostname";
    struct stat st;
    double a = now_ns();
    for (long i = 0; i < n; i++)
        if (stat(path, &st) != 0) die("stat");
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
