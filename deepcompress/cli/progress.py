"""The progress line of one operand on stderr: bytes in and out, ratio, speed, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from deepcompress import fileio

LARGE = 1 << 20  # bytes read before a terminal gets a progress line (one block of the default size)
INTERVAL = 0.25  # seconds between redraws


def size_text(n: float) -> str:
    """`n` bytes for people: 512 B, 1.50 KiB, 3.25 MiB..."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Meter:
    """Draws the progress of one operand: called as the API's `progress(read, written)`.

    total: the input's size when known (a regular file), for the percentage and the ETA;
    compressing: which side is the compressed one, for the ratio (compressed / original).
    On a terminal the line is redrawn in place and erased by `close`; elsewhere (--progress
    into a file or pipe) each update is a line of its own.
    """

    def __init__(self, name: str, total: int | None, compressing: bool, stream: TextIO, quiet_below: int = 0) -> None:
        self.name, self.total, self.compressing, self.stream = name, total, compressing, stream
        self.quiet_below = quiet_below  # bytes read before the first line (a pipe not yet known to be large)
        self.in_place = fileio.is_terminal(stream)
        self.started = self.last = time.monotonic()
        self.drawn = False  # an update was drawn (the next ones wait INTERVAL)
        self.shown = False  # a line was written (`start` too)
        self.latest: tuple[int, int] | None = None  # the last update not drawn (throttled)

    def __call__(self, read: int, written: int) -> None:
        now = time.monotonic()
        if read < self.quiet_below or (self.drawn and now - self.last < INTERVAL):
            self.latest = (read, written)
            return
        self.last, self.drawn, self.latest = now, True, None
        self.stream.write(("\r" if self.in_place else "") + self.line(read, written, now - self.started)
                          + ("\x1b[K" if self.in_place else "\n"))
        self.stream.flush()
        self.shown = True

    def line(self, read: int, written: int, seconds: float) -> str:
        original, compressed = (read, written) if self.compressing else (written, read)
        parts = [f"{self.name}:"]
        if self.total:
            parts.append(f"{100 * read / self.total:3.0f}%")
        parts.append(f"{size_text(read)} -> {size_text(written)}")
        if original:
            parts.append(f"({100 * compressed / original:.1f}%)")
        if seconds > 0 and read:
            speed = read / seconds
            parts.append(f"{size_text(speed)}/s")
            if self.total and speed > 0 and read < self.total:
                left = int((self.total - read) / speed)
                parts.append(f"ETA {left // 60}:{left % 60:02d}")
        return " ".join(parts)

    def start(self) -> None:
        """A first line at once (the first block takes seconds); the first update still draws."""
        self(0, 0)
        self.drawn = False

    def close(self) -> None:
        """Erase an in-place line, so that what follows starts on a clean line; elsewhere end
        with the final state."""
        if self.shown and self.in_place:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        elif self.drawn and self.latest is not None:
            self.drawn = False
            self(*self.latest)


def meter(wanted: bool | None, name: str, total: int | None, compressing: bool) -> Meter | None:
    """A Meter for one operand, or None. wanted: True (--progress), False (--no-progress) or
    None: only when stderr is a terminal and the input is larger than LARGE (at once), or of
    unknown size (a pipe: once LARGE bytes have been read)."""
    stream = sys.stderr
    if stream is None or wanted is False or (wanted is None and not fileio.is_terminal(stream)):
        return None
    if wanted is None and total is not None and total <= LARGE:
        return None  # done before a progress line would help
    shown = Meter(name, total, compressing, stream, LARGE if wanted is None and total is None else 0)
    if not shown.quiet_below:
        shown.start()
    return shown
