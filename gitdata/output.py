"""The only module that prints for people: errors, notes, summaries and progress (stderr).

Progress is drawn only when stderr is a terminal; otherwise a transfer prints one summary line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Collection
from typing import TextIO


def error(message: str, hint: str = "", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    print(f"git-data: error: {message}", file=out)
    if hint:
        print(f"hint: {hint}", file=out)
    out.flush()


def error_list(message: str, lines: list[str], hint: str = "", limit: int = 20) -> None:
    """An error about several things: the line, one indented line per thing (at most `limit`),
    then the hint."""
    print(f"git-data: error: {message}", file=sys.stderr)
    for line in lines[:limit]:
        print(line, file=sys.stderr)
    if len(lines) > limit:
        print(f"  ... and {len(lines) - limit} more", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    sys.stderr.flush()


def warn(message: str) -> None:
    print(f"git-data: warning: {message}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A line for people, on stderr (stdout is for data and `--json`)."""
    print(f"git-data: {message}", file=sys.stderr, flush=True)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def signed_bytes(n: int) -> str:
    """A change in size: `+1.5 MiB`, `-5 B`, `0 B`."""
    return ("+" if n > 0 else "") + human_bytes(n)


def table(rows: list[list[str]], right: Collection[int] = ()) -> list[str]:
    """Rows of cells as aligned lines: columns joined by two spaces, those in `right` aligned
    to the right. Put a free-width column (a path) last: it is never padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = []
    for r in rows:
        cells = [
            c if i == len(r) - 1 and i not in right else c.rjust(widths[i]) if i in right
            else c.ljust(widths[i])
            for i, c in enumerate(r)
        ]  # fmt: skip
        lines.append("  ".join(cells))
    return lines


class Progress:
    """Objects done/total, bytes and rate; thread-safe; a no-op renderer off a terminal."""

    def __init__(
        self,
        label: str,
        objects: int,
        nbytes: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.total_objects = objects
        self.total_bytes = nbytes
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.objects = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self._draw()

    def object_done(self) -> None:
        with self._lock:
            self.objects += 1
            self._draw(force=self.objects == self.total_objects)

    def all_done_but(self, failed: int, failed_bytes: int = 0) -> None:
        """Count every object but `failed` (of `failed_bytes`) as done, bytes included, those
        too that finished without object_done or advance (the files a chunked push did not
        cut: the store had them, or they go whole, hard-linked)."""
        with self._lock:
            self.objects = self.total_objects - failed
            self.bytes = self.total_bytes - failed_bytes

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r{self._line(now)}\x1b[K")
        self.stream.flush()

    def _line(self, now: float) -> str:
        rate = self.bytes / max(now - self.start, 1e-6)
        return (
            f"{self.label}: {self.objects}/{self.total_objects} objects, "
            f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}, "
            f"{human_bytes(rate)}/s"
        )

    def close(self, failed: int = 0) -> None:
        if not self.total_objects:
            return
        line = self._line(time.monotonic())
        if failed:
            line += f", {failed} failed"
        self.stream.write(("\r" + line + "\x1b[K\n") if self.tty else f"git-data: {line}\n")
        self.stream.flush()
