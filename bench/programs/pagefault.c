/* Page faults: touch N fresh pages of one anonymous mmap (one write per 4 KiB page);
 * prints ns per page. The mapping is made before the clock starts and unmapped after. */
#include <sys/mman.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    volatile char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    double a = now_ns();
    for (long i = 0; i < n; i++)
        p[i * 4096] = 1;
    double t = now_ns() - a;
    munmap((void *)p, n * 4096);
    printf("%.1f\n", t / n);
    return 0;
}
