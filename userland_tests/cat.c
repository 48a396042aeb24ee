/* cat: read stdin to its end in small reads (7 bytes each) and print the byte count, the line count
 * and a checksum; read() at the end keeps returning 0. */
#include "ut.h"

int main(void) {
    unsigned char buf[7];
    uint64_t sum = FNV_INIT;
    long bytes = 0, lines = 0, reads = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        reads++;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        sum = fnv1a(sum, buf, (size_t)n);
        bytes += n;
    }
    CHECK(n == 0, "read() ends with 0 (end of file)");
    CHECK(read(0, buf, sizeof buf) == 0, "read() after the end returns 0 again");
    printf("bytes=%ld lines=%ld checksum=%016llx\n", bytes, lines, (unsigned long long)sum);
    CHECK(reads >= (bytes + 6) / 7, "no read returned more than asked");
    return ut_exit(0);
}
