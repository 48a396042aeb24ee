"""Line formatting into a fixed buffer: strings, decimal and hex numbers. No allocation."""

from __future__ import annotations

from qkernel.dialect import Final, array, i64, ptr, struct, u8, u64

LINE_MAX: Final = 240


@struct
class Line:
    data: array[u8, 256]
    len: u64


def strlen(s: ptr[u8]) -> u64:
    n: u64 = 0
    while s[n] != 0:
        n += 1
    return n


def clear(b: ptr[Line]) -> None:
    b.len = 0


def put_char(b: ptr[Line], c: u8) -> None:
    if b.len < LINE_MAX:
        b.data[b.len] = c
        b.len += 1


def put_str(b: ptr[Line], s: ptr[u8]) -> None:
    """Appends the NUL-terminated string s (truncated at LINE_MAX)."""
    i: u64 = 0
    while s[i] != 0 and b.len < LINE_MAX:
        b.data[b.len] = s[i]
        b.len += 1
        i += 1


def put_bytes(b: ptr[Line], s: ptr[u8], n: u64) -> None:
    for i in range(n):
        put_char(b, s[i])


def put_dec(b: ptr[Line], v: u64) -> None:
    digits: array[u8, 24] = array[u8, 24]()
    n: u64 = 0
    while True:
        digits[n] = u8(48 + v % 10)
        n += 1
        v = v // 10
        if v == 0:
            break
    while n > 0:
        n -= 1
        put_char(b, digits[n])


def put_signed(b: ptr[Line], v: i64) -> None:
    if v < 0:
        put_char(b, 45)
        put_dec(b, u64(0) - u64(v))
    else:
        put_dec(b, u64(v))


def put_hex(b: ptr[Line], v: u64) -> None:
    """0x-prefixed lowercase hex without leading zeros."""
    put_str(b, b"0x")
    started = False
    for i in range(15, -1, -1):
        nib = u8((v >> u64(i * 4)) & 15)
        if nib != 0 or started or i == 0:
            started = True
            put_char(b, nib + 48 if nib < 10 else nib + 87)
