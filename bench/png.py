"""A tiny PNG line plot in pure Python (zlib + struct): no plotting dependency for one chart."""

from __future__ import annotations

import struct
import zlib

# 3x5 glyphs for the few characters the plot labels use.
GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", " ": "000000000000000",
    "s": "000011010001110", "t": "010111010010011", "a": "000110011101111", "c": "000111100100111",
    "k": "100101110101101", "f": "011100110100100", "l": "110010010010111", "o": "000111101101111",
    "r": "000110101100100", "m": "000111111101101", "d": "001011101101011", "e": "000111111100011",
    "n": "000110101101101", "p": "000111101111100", "i": "010000010010010", "g": "000111101011110",
    "(": "010100100100010", ")": "010001001001010", "x": "000101010010101", "/": "001001010100100",
}


class Canvas:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * width * height * 3)

    def dot(self, x: int, y: int, color: tuple[int, int, int], size: int = 1) -> None:
        for dx in range(size):
            for dy in range(size):
                px, py = x + dx, y + dy
                if 0 <= px < self.width and 0 <= py < self.height:
                    i = (py * self.width + px) * 3
                    self.pixels[i:i + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int], size: int = 2) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(steps + 1):
            self.dot(round(x0 + (x1 - x0) * k / steps), round(y0 + (y1 - y0) * k / steps), color, size)

    def text(self, x: int, y: int, text: str, color=(0, 0, 0), scale: int = 2) -> None:
        for n, char in enumerate(text.lower()):
            glyph = GLYPHS.get(char, GLYPHS[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.dot(x + (n * 4 + i % 3) * scale, y + (i // 3) * scale, color, scale)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3:(y + 1) * self.width * 3]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def line_plot(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str) -> bytes:
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44)]
    canvas = Canvas(720, 440)
    left, right, top, bottom = 80, 690, 30, 380
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x_max, y_max = max(xs) or 1, (max(ys) or 1) * 1.1

    def at(x: float, y: float) -> tuple[int, int]:
        return round(left + (right - left) * x / x_max), round(bottom - (bottom - top) * y / y_max)

    canvas.line(left, bottom, right, bottom, (0, 0, 0))
    canvas.line(left, bottom, left, top, (0, 0, 0))
    for tick in sorted(set(xs)):
        x, _ = at(tick, 0)
        canvas.line(x, bottom, x, bottom + 6, (0, 0, 0))
        canvas.text(x - 6, bottom + 12, f"{tick:g}")
    for k in range(6):
        value = y_max * k / 5
        _, y = at(0, value)
        canvas.line(left - 6, y, left, y, (0, 0, 0))
        canvas.text(8, y - 4, f"{value:.1f}")
    for (name, points), color in zip(series.items(), colors):
        pixels = [at(x, y) for x, y in sorted(points)]
        for (x0, y0), (x1, y1) in zip(pixels, pixels[1:]):
            canvas.line(x0, y0, x1, y1, color)
        for x, y in pixels:
            canvas.dot(x - 3, y - 3, color, 7)
        canvas.text(left + 20, top + 20 * (list(series).index(name)), name, color)
    canvas.text((left + right) // 2 - 40, bottom + 36, x_label)
    canvas.text(8, 8, y_label)
    return canvas.png()
