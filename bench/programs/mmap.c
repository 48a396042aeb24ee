/* mmap + munmap of one anonymous 64 KiB region (untouched), N times; prints ns per pair. */
#include <sys/mman.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        if (munmap(p, 65536) != 0) die("munmap");
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
