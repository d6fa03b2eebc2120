"""A one-line progress bar for long commands (bulk loads and imports): done/total, rate, time left."""
from __future__ import annotations

import time


class Progress:
    """Call with (done, total); redraws one line on ``out`` at most twice a second, and at the end."""

    def __init__(self, out, label: str):
        self.out, self.label, self.start, self.shown = out, label, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5 and done < total:
            return
        self.shown = now
        rate = done / max(now - self.start, 1e-9)
        left = (total - done) / rate if rate else 0.0
        bar = "#" * int(30 * done / total) if total else ""
        speed = f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"
        self.out.write(f"\r{self.label} [{bar:<30}] {done:,}/{total:,} {speed}/s {left:,.0f} s left  ")
        if done >= total:
            self.out.write("\n")
        self.out.flush()
