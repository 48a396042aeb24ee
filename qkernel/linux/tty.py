"""<asm/termbits.h>, <asm/ioctls.h>: terminal records and ioctl numbers."""

from __future__ import annotations

from qkernel.dialect import Final, array, struct, u8, u16, u32

TCGETS: Final = 0x5401
TCSETS: Final = 0x5402
TCSETSW: Final = 0x5403
TCSETSF: Final = 0x5404
TIOCSCTTY: Final = 0x540E
TIOCGPGRP: Final = 0x540F
TIOCSPGRP: Final = 0x5410
TIOCGWINSZ: Final = 0x5413
TIOCSWINSZ: Final = 0x5414
FIONREAD: Final = 0x541B
FIONBIO: Final = 0x5421
FIOCLEX: Final = 0x5451
FIONCLEX: Final = 0x5450
FIOASYNC: Final = 0x5452
NCCS: Final = 19


@struct
class Termios:
    """The kernel's struct termios (36 bytes; the libcs convert to their own)."""
    c_iflag: u32
    c_oflag: u32
    c_cflag: u32
    c_lflag: u32
    c_line: u8
    c_cc: array[u8, 19]


@struct
class Winsize:
    ws_row: u16
    ws_col: u16
    ws_xpixel: u16
    ws_ypixel: u16
