"""Benchmark: checking and stripping evidence photos (incidents.evidence.check_photo), and thumbnails.

  DJANGO_ENV=test .venv/bin/python bench/evidence_bench.py [--repeat 3]

Photo-like images (a gradient with a little noise, so they compress like a camera's) of the sizes phones
send: a 12 MP JPEG, a 12 MP HEIC and a 2 MP PNG; prints the bytes in and stored and the median time of
the check (open, verify, decode, apply orientation, re-encode without metadata), which runs in the
request; the thumbnail (Celery's work) on the stored JPEG; and a decompression bomb's refusal.
Nothing touches a database or a storage.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import struct
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.test")
import django  # noqa: E402

django.setup()
import numpy as np  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from PIL import Image  # noqa: E402

from incidents import evidence  # noqa: E402


def photo(width: int, height: int, fmt: str, rng) -> bytes:
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + rng.normal(0, 4, (height, width, 3))
    out = io.BytesIO()
    options = {} if fmt == "PNG" else {"quality": 90}
    Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(out, format=fmt, **options)
    return out.getvalue()


def bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(1)
    for name, (w, h, fmt) in {"12 MP JPEG": (4000, 3000, "JPEG"), "12 MP HEIC": (4000, 3000, "HEIF"),
                              "2 MP PNG": (1600, 1200, "PNG")}.items():
        raw = photo(w, h, fmt, rng)
        ms, checked = timed(lambda raw=raw: evidence.check_photo(SimpleUploadedFile("x", raw)), args.repeat)
        stored = len(checked.content) / 1e6
        print(f"{name}: {len(raw) / 1e6:.1f} MB in, {stored:.1f} MB stored, check+strip {ms:.0f} ms")
        if fmt == "JPEG":
            def thumb(content=checked.content):
                with Image.open(io.BytesIO(content)) as image:
                    image.thumbnail((evidence.THUMBNAIL_PX, evidence.THUMBNAIL_PX))
                    image.convert("RGB").save(io.BytesIO(), format="JPEG", quality=80)
            print(f"  thumbnail of it: {timed(thumb, args.repeat)[0]:.0f} ms")
    start = time.perf_counter()
    try:
        evidence.check_photo(SimpleUploadedFile("b", bomb()))
    except evidence.PhotoRejected as exc:
        ms = (time.perf_counter() - start) * 1000
        print(f"bomb (10 G pixels in {len(bomb())} bytes) refused in {ms:.1f} ms: {exc}")


if __name__ == "__main__":
    main()
