"""Write the home-screen icons of the web app manifest (assets/icons/icon-192.png,
icon-512.png): a white cross on the header's navy, with a safe margin so the same file works
as a "maskable" icon. Plain Python (zlib + struct), no image library, no downloads.

    .venv/bin/python scripts/make-app-icons.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

NAVY = (0x0B, 0x3D, 0x5C)
WHITE = (0xFF, 0xFF, 0xFF)
SIZES = (192, 512)
OUT = Path(__file__).resolve().parent.parent / "assets" / "icons"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def icon_png(size: int) -> bytes:
    """A size x size RGB PNG: navy square, white cross in the middle 40 %."""
    arm = size * 0.4 / 2  # half the cross's length
    bar = size * 0.13 / 2  # half the cross's thickness
    centre = (size - 1) / 2
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            dx, dy = abs(x - centre), abs(y - centre)
            cross = (dx <= arm and dy <= bar) or (dy <= arm and dx <= bar)
            row.extend(WHITE if cross else NAVY)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        path = OUT / f"icon-{size}.png"
        path.write_bytes(icon_png(size))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
