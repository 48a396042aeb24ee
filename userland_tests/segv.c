/* segv: a wild write. The process must die of SIGSEGV (the harness reports 128+11 = 139); what
 * it wrote before, unbuffered, must still come out. */
#include <unistd.h>

int main(void) {
    static const char msg[] = "about to write through a wild pointer\n";
    write(1, msg, sizeof msg - 1);
    int *volatile wild = (int *)0x10;
    *wild = 1;
    static const char after[] = "still alive after the wild write\n";
    write(1, after, sizeof after - 1);
    return 0;
}
