"""<time.h>, <sys/time.h>: clocks and the time records."""

from __future__ import annotations

from qkernel.dialect import Final, struct, i32, i64

CLOCK_REALTIME: Final = 0
CLOCK_MONOTONIC: Final = 1
CLOCK_PROCESS_CPUTIME_ID: Final = 2
CLOCK_THREAD_CPUTIME_ID: Final = 3
CLOCK_MONOTONIC_RAW: Final = 4
CLOCK_REALTIME_COARSE: Final = 5
CLOCK_MONOTONIC_COARSE: Final = 6
CLOCK_BOOTTIME: Final = 7
CLOCK_REALTIME_ALARM: Final = 8
CLOCK_BOOTTIME_ALARM: Final = 9
CLOCK_TAI: Final = 11
TIMER_ABSTIME: Final = 1
NSEC_PER_SEC: Final = 1000000000
NSEC_PER_USEC: Final = 1000
NSEC_PER_TICK: Final = 10_000_000     # one clock tick (CLK_TCK 100: times(2), /proc/PID/stat)
ITIMER_REAL: Final = 0
ITIMER_VIRTUAL: Final = 1
ITIMER_PROF: Final = 2


@struct
class Timespec:
    tv_sec: i64
    tv_nsec: i64


@struct
class Timeval:
    tv_sec: i64
    tv_usec: i64


@struct
class Tms:
    """times(2), in clock ticks."""
    tms_utime: i64
    tms_stime: i64
    tms_cutime: i64
    tms_cstime: i64


@struct
class Timezone:
    tz_minuteswest: i32
    tz_dsttime: i32


@struct
class Itimerspec:
    it_interval: Timespec
    it_value: Timespec


@struct
class Itimerval:
    it_interval: Timeval
    it_value: Timeval
