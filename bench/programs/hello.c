/* Hello world: the smallest complete program run. */
#include <stdio.h>

int main(void) {
    puts("hello, world");
    return 0;
}
