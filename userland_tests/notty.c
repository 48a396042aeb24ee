/* notty: stdout is not a terminal (the harness captures it): ioctl(TIOCGWINSZ) and
 * ioctl(TCGETS) on it give ENOTTY, isatty(1) is 0 with errno ENOTTY, an unknown ioctl on it gives
 * ENOTTY, and an ioctl on a closed descriptor gives EBADF. */
#include "ut.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(void) {
    struct winsize ws;
    struct termios t;
    EXPECT_ERR(ioctl(1, TIOCGWINSZ, &ws), ENOTTY, "ioctl(1, TIOCGWINSZ)");
    EXPECT_ERR(ioctl(1, TCGETS, &t), ENOTTY, "ioctl(1, TCGETS)");
    EXPECT_ERR(tcgetattr(1, &t), ENOTTY, "tcgetattr(1)");
    errno = 0;
    int tty = isatty(1);
    int e = errno;
    printf("isatty(1)=%d errno=%s\n", tty, errname(e));
    EXPECT_ERR(ioctl(1, 0x54ff, 0), ENOTTY, "ioctl(1, unknown request 0x54ff)");
    EXPECT_ERR(ioctl(77, TIOCGWINSZ, &ws), EBADF, "ioctl(77 (not open), TIOCGWINSZ)");
    return ut_exit(0);
}
