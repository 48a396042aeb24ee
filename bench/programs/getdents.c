/* getdents64 of a 1000-entry directory (DIR/dir1000 beside the small file argv[2]), N times
 * (each an open, the whole listing and a close); prints ns per listing. */
#include <dirent.h>
#include <libgen.h>
#include "peers_common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100;
    char path[4096];
    snprintf(path, sizeof path, "%s/dir1000", dirname(strdup(argc > 2 ? argv[2] : "/tmp/x")));
    double a = now_ns();
    for (long i = 0; i < n; i++) {
        DIR *d = opendir(path);
        if (!d) die("opendir");
        long k = 0;
        while (readdir(d)) k++;
        closedir(d);
        if (k != 1002) die("listing");
    }
    printf("%.1f\n", (now_ns() - a) / n);
    return 0;
}
