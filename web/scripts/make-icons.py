#!/usr/bin/env python3
"""Draws the app icons in web/public/icons/ (the favicon's play mark) as PNGs, with nothing but
the standard library: each pixel is 4x4 supersampled against a rounded square and a triangle.

  python3 web/scripts/make-icons.py

`icon-*` are a rounded square on transparent ("any"); `maskable-*` fill the square edge to edge
and keep the mark inside the central 80 % safe zone, as launchers crop them to any shape.
"""
import struct
import zlib
from pathlib import Path

ACCENT = (0x7C, 0x5C, 0xFF)
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "public" / "icons"
SS = 4


def in_rounded(x, y, size, radius):
    if radius <= 0:
        return 0 <= x < size and 0 <= y < size
    cx = min(max(x, radius), size - radius)
    cy = min(max(y, radius), size - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def in_triangle(x, y, a, b, c):
    def side(p, q):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    neg = d1 < 0 or d2 < 0 or d3 < 0
    pos = d1 > 0 or d2 > 0 or d3 > 0
    return not (neg and pos)


def draw(size, maskable):
    # The favicon's geometry on a 32-unit grid: the square has rx 7, the mark is (12,9) (12,23) (23,16).
    radius = 0 if maskable else size * 7 / 32
    # Maskable: the mark shrinks about the centre to sit well inside the 80 % safe circle.
    k = 0.78 if maskable else 1.0
    centre = size / 2

    def pt(ux, uy):
        return (centre + (ux * size / 32 - centre) * k, centre + (uy * size / 32 - centre) * k)

    tri = (pt(12, 9), pt(12, 23), pt(23, 16))
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            bg = mark = 0
            for sy in range(SS):
                for sx in range(SS):
                    x = px + (sx + 0.5) / SS
                    y = py + (sy + 0.5) / SS
                    if in_rounded(x, y, size, radius):
                        bg += 1
                        if in_triangle(x, y, *tri):
                            mark += 1
            n = SS * SS
            if bg == 0:
                row += bytes(4)
                continue
            t = mark / bg
            rgb = [round(ACCENT[i] * (1 - t) + WHITE[i] * t) for i in range(3)]
            row += bytes(rgb + [round(255 * bg / n)])
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(w, h, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        for maskable, name in ((False, "icon"), (True, "maskable")):
            path = OUT / f"{name}-{size}.png"
            path.write_bytes(draw(size, maskable))
            print(path.relative_to(OUT.parent.parent), path.stat().st_size, "bytes")
    (OUT / "apple-touch-icon.png").write_bytes(draw(180, True))
    print("public/icons/apple-touch-icon.png")


if __name__ == "__main__":
    main()
