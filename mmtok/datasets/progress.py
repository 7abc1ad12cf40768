"""A one-line progress bar on stderr: records done, rate and, when the total is known, percent and ETA.

Shown only when stderr is a terminal (a log file or a pipe gets no carriage-return noise) and the
caller did not turn it off (`--json`, `--no-progress`). No tqdm: the line is redrawn at most ten
times a second with a carriage return, as tqdm does, and cleared at the end.
"""

from __future__ import annotations

import os
import sys
import time

_CHUNK = 1 << 20


def count_lines(path: str | os.PathLike) -> int | None:
    """The number of lines of a JSONL file (newline bytes, plus a last line without one), read in 1 MB
    chunks: an upper bound of its records (blank lines count too), for the bar's total. None for
    other files (a JSON array's records cannot be counted without parsing it)."""
    path = os.fspath(path)
    if not path.endswith(".jsonl"):
        return None
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class Progress:
    """`update(n)` after each batch; `close()` at the end. `enabled=None` means: when `stream` is a
    terminal. `start` is the count already done (a resumed run), excluded from the rate."""

    def __init__(self, total: int | None = None, *, start: int = 0, label: str = "records", enabled: bool | None = None, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled, self.total, self.label = enabled, total, label
        self.done = self.start = start
        self._t0 = self._drawn = time.monotonic()
        self._width = 0

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled and time.monotonic() - self._drawn >= 0.1:
            self._draw()

    def line(self) -> str:
        """The bar's text, e.g. '1,024/10,000 records (10%) 512/s ETA 00:17'."""
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        rate = (self.done - self.start) / elapsed
        text = f"{self.done:,}"
        if self.total:
            total = max(self.total, self.done)
            text += f"/{total:,} {self.label} ({100 * self.done / total:.0f}%)"
        else:
            text += f" {self.label}"
        text += f" {rate:,.0f}/s"
        if self.total and rate > 0:
            text += f" ETA {_duration(max(self.total - self.done, 0) / rate)}"
        return text

    def _draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)
        self._drawn = time.monotonic()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
