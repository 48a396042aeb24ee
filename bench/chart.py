"""A small PNG bar chart without dependencies (zlib + struct): horizontal bars of ratios on a log
scale, one block per workload, one bar per side. Text is drawn with a built-in 5x7 upper-case
font. Used by bench/peers.py for bench/results/<date>-peers.png.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

# 5x7 glyphs, row-major, each row a 5-character bit string ("#" set); upper case only.
_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#", "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.", "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####", "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####", "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#", "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#", "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.", "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#", "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.", "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.", "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.", "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..", "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.", "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####", "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.", "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.", "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.", "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....", ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...", ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... .....", "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "/": "..... ....# ...#. ..#.. .#... #.... .....", "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...", "=": "..... ..... ##### ..... ##### ..... .....",
    "_": "..... ..... ..... ..... ..... ..... #####", "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....", "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "'": "..#.. ..#.. ..... ..... ..... ..... .....", "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.", ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "[": ".###. .#... .#... .#... .#... .#... .###.", "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..", ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
}
_FONT = {c: [row for row in g.split()] for c, g in _GLYPHS.items()}

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (215, 215, 215)
PALETTE = [(76, 114, 176), (221, 132, 82), (85, 168, 104), (196, 78, 82), (129, 114, 179), (147, 120, 96)]


class Canvas:
    def __init__(self, width: int, height: int, bg: tuple[int, int, int] = WHITE) -> None:
        self.w, self.h = width, height
        self.px = [bytearray(bytes(bg) * width) for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.h, max(y0, y1))
        if x1 <= x0:
            return
        line = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            self.px[y][3 * x0:3 * x1] = line

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int] = BLACK, scale: int = 2) -> int:
        """Draws s with its top-left corner at (x, y); returns the x after it."""
        for ch in s.upper():
            g = _FONT.get(ch, _FONT["?"])
            for r, row in enumerate(g):
                for c, bit in enumerate(row):
                    if bit == "#":
                        self.rect(x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, color)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.px)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def text_width(s: str, scale: int = 2) -> int:
    return 6 * scale * len(s)


def write_ratio_chart(path: Path, data: list[tuple[str, list[tuple[str, float | None]]]], title: str,
                      width: int = 1400) -> None:
    """data: [(workload, [(side, ratio or None), ...]), ...]; one bar per side on a log axis
    (decades from below the smallest ratio to above the largest; a line at 1x). None is drawn as
    "n/a"."""
    values = [r for _, bars in data for _, r in bars if r is not None and r > 0]
    lo = math.floor(math.log10(min(values + [1.0]))) if values else 0
    hi = math.ceil(math.log10(max(values + [10.0]))) if values else 1
    if hi <= lo:
        hi = lo + 1
    sides = []
    for _, bars in data:
        for s, _ in bars:
            if s not in sides:
                sides.append(s)
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sides)}
    label_w = max(text_width(s) for s in sides) + 20 if sides else 100
    value_w = 140
    x0, x1 = label_w, width - value_w
    bar_h, gap, head_h = 18, 4, 24
    top = 70
    height = top + sum(head_h + len(bars) * (bar_h + gap) + 12 for _, bars in data) + 40
    cv = Canvas(width, height)
    cv.text(10, 10, title)

    def xof(r: float) -> int:
        return x0 + int((math.log10(r) - lo) / (hi - lo) * (x1 - x0))
    # decade grid and axis labels
    for d in range(lo, hi + 1):
        x = xof(10.0 ** d)
        cv.rect(x, top - 10, x + 1, height - 30, GRID if d != 0 else BLACK)
        lab = f"{10.0 ** d:g}X"
        cv.text(x - text_width(lab) // 2, top - 30, lab)
        cv.text(x - text_width(lab) // 2, height - 24, lab)
    y = top
    for name, bars in data:
        maxchars = (width - 20) // 12
        cv.text(10, y + 4, name if len(name) <= maxchars else name[:maxchars - 3] + "...")
        y += head_h
        for side, r in bars:
            cv.text(10, y + 2, side, color[side])
            if r is None or r <= 0:
                cv.text(x0 + 6, y + 2, "N/A", (120, 120, 120))
            else:
                cv.rect(x0, y, max(xof(r), x0 + 1), y + bar_h, color[side])
                cv.text(max(xof(r), x0 + 1) + 6, y + 2, f"{r:.3g}X" if r < 1000 else f"{r:.0f}X")
            y += bar_h + gap
        y += 12
    path.write_bytes(cv.png())
