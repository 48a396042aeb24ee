/* hello: one write(2) to stdout, then exit status 3 (the smallest thing a kernel must run). */
#include <unistd.h>

int main(void) {
    static const char msg[] = "hello, world\n";
    if (write(1, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1))
        return 1;
    return 3;
}
