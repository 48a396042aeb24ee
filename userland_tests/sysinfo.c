/* sysinfo: totalram > 0 with freeram <= totalram (in mem_unit units), mem_unit >= 1,
 * uptime >= 0, procs >= 1. */
#include "ut.h"
#include <sys/sysinfo.h>

int main(void) {
    struct sysinfo si;
    memset(&si, 0, sizeof si);
    CHECK(sysinfo(&si) == 0, "sysinfo()");
    CHECK(si.totalram > 0, "totalram > 0");
    CHECK(si.freeram <= si.totalram, "freeram <= totalram");
    CHECK(si.mem_unit >= 1, "mem_unit >= 1");
    CHECK((long)si.uptime >= 0, "uptime >= 0");
    CHECK(si.procs >= 1, "procs >= 1");
    CHECK(get_nprocs() >= 1, "get_nprocs() >= 1");
    return ut_exit(0);
}
