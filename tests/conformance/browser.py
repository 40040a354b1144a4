"""Headless Chromium for the tests: a screenshot of a page, and how much of it is drawn."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated scanlines of a PNG (enough to see it is not blank)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def screenshot(chromium: str, page: Path, shot: Path, size: tuple[int, int]) -> tuple[float, int]:
    """Draw `page` in headless Chromium into `shot`; return (share of rows drawn, PNG bytes).

    Scanlines are filtered (PNG filter types 1-4 store differences), so a blank page is rows of
    zeros and compresses to almost nothing; a drawn page changes within most rows.
    """
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    width, height, raw = png_pixels(data)
    assert (width, height) == size
    stride = len(raw) // height
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    return sum(1 for r in rows if r.count(0) < len(r) - 8) / height, len(data)


def dump_dom(chromium: str, page: Path) -> str:
    """The DOM Chromium built from `page`."""
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
