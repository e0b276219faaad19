"""Delta frames on the write path (docs/chunked-store.md, 2.5, 4.5 step 3): a new chunk of a
file that has a cached base may be stored as zstd-1 with one chunk of the base as a raw-content
dictionary (encoding 2), when that is under half its plain zstd-1 size.

The candidate is the base chunk covering `offset + shift + length / 2`, where `shift` is (base
offset - file offset) of the last chunk both versions share (0 before any). It must be stored
(in this push or before) with encoding 0 or 1 (delta depth 1); its bytes are read from the
cached base. After MISSES_MAX candidates in a row that did not pay, a file stops trying until
it meets a shared chunk again, so a rewritten file costs few extra compressions.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from .format.pack import zstd_compress

MISSES_MAX = 16


class DeltaBase:
    """The cached base of one file: its chunk list and its bytes."""

    def __init__(self, path: str, chunks: Sequence[tuple[bytes, int]]) -> None:
        self.path = path
        self.starts: list[int] = []
        self.chunks: list[tuple[bytes, int]] = list(chunks)
        self.at: dict[bytes, int] = {}  # chunk id -> its first offset in the base
        off = 0
        for cid, n in self.chunks:
            self.starts.append(off)
            self.at.setdefault(cid, off)
            off += n
        self.shift = 0
        self.misses = 0
        self._file: Any = None

    def shared(self, cid: bytes, offset: int) -> None:
        """A chunk of the file at `offset`; if the base has it, it sets the shift."""
        b = self.at.get(cid)
        if b is not None:
            self.shift = b - offset
            self.misses = 0

    def candidate(self, offset: int, length: int) -> tuple[bytes, int, int] | None:
        """(id, offset, length) of the base chunk to try as the dictionary of a new chunk."""
        if self.misses >= MISSES_MAX or not self.chunks:
            return None
        pos = offset + self.shift + length // 2
        i = bisect.bisect_right(self.starts, pos) - 1
        if i < 0 or pos >= self.starts[i] + self.chunks[i][1]:
            return None
        return self.chunks[i][0], self.starts[i], self.chunks[i][1]

    def encode(self, data: Any, offset: int, length: int) -> bytes | None:
        """The delta payload of `data` against the base's bytes at [offset, offset + length),
        or None when it is not under half the plain zstd-1 payload (then a miss)."""
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self._file.seek(offset)
        base_raw = self._file.read(length)
        if len(base_raw) != length:
            return None
        q = zstd_compress(data, base_raw)
        if len(q) * 2 < len(zstd_compress(data)):
            self.misses = 0
            return q
        self.misses += 1
        return None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
