"""Cutting files into chunks, and choosing how each new chunk is stored (docs/chunked-store.md,
sections 2.2, 2.4, 4.4 and 4.5).

chunk_file(path) streams a file through FastCDC 2020 with format 1's parameters (average 64 KiB,
minimum 8 KiB, maximum 128 KiB, normalized chunking 1, seed 0: identical in every clone, or
clones would not dedup against each other) and names each chunk by its BLAKE3-256. iter_chunks
holds one buffer, pyfastcdc's (twice the maximum chunk), whatever the file's size; chunk_file
adds the list it returns, about 3 MiB per GiB of file. pyfastcdc cuts and blake3 hashes with the
GIL released, so threads can chunk files side by side (section 4.4).

FrameEncoder applies the compression rule per file: per group of 16 consecutive new chunks,
compress the first with zstd-1; if it shrinks to at most 7/8, compress the group's other chunks
too, keeping each compressed only if it shrinks to at most 7/8; otherwise the group stays raw.
A push gives every file's encoder one compressor (zstd_compressor): making one costs more than
compressing a 64 KiB chunk, and a push of 2,000 small files made 2,000.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

from ...errors import GitDataError
from .format.common import (
    CHUNK_AVG,
    CHUNK_MAX,
    CHUNK_MIN,
    CHUNK_NC,
    CHUNK_SEED,
    ENC_RAW,
    ENC_ZSTD,
    ZSTD_LEVEL,
    Buffer,
    blake3_hasher,
)

#: new chunks per compression decision, and the share a chunk must shrink to
GROUP = 16
SHRINK_NUM, SHRINK_DEN = 7, 8


class Chunk(NamedTuple):
    id: bytes  # BLAKE3-256 of the chunk's bytes
    offset: int
    length: int


class ChunkerUnavailable(GitDataError):
    """The compiled chunker or BLAKE3 is missing: write whole objects instead (section 9)."""


class Readable(Protocol):
    def readinto(self, buf: memoryview, /) -> int | None: ...


def unavailable() -> str | None:
    """Why this process cannot chunk at speed, or None. pyfastcdc's pure-Python fallback cuts
    the same boundaries at 5 MB/s, which is no use for big files: it does not count."""
    try:
        import blake3  # noqa: F401
        from pyfastcdc.cy import FastCDC  # noqa: F401
    except ImportError as e:
        return f"the chunked store needs pyfastcdc (compiled) and blake3: {e}"
    return None


def _cutter() -> Any:
    why = unavailable()
    if why:
        raise ChunkerUnavailable(why, "pip install pyfastcdc blake3 (binary wheels)")
    from pyfastcdc.cy import FastCDC

    return FastCDC(
        CHUNK_AVG,
        min_size=CHUNK_MIN,
        max_size=CHUNK_MAX,
        normalized_chunking=CHUNK_NC,
        seed=CHUNK_SEED,
    )


def iter_chunks(stream: Readable) -> Iterator[tuple[Chunk, memoryview]]:
    """Cut `stream` (anything with `readinto`) into chunks, in order, with each chunk's bytes:
    a view valid only until the next chunk is asked for."""
    hasher = blake3_hasher
    for c in _cutter().cut_stream(stream):
        h = hasher()
        h.update(c.data)
        yield Chunk(bytes(h.digest()), c.offset, c.length), c.data


def chunk_file(path: str | bytes | os.PathLike[str]) -> list[Chunk]:
    """The chunks of the file at `path`, in file order: (id, offset, length)."""
    with open(path, "rb", buffering=0) as f:
        return [chunk for chunk, _ in iter_chunks(f)]


def zstd_compressor() -> Any:
    """A zstd-1 compressor, or None without the zstandard package."""
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL)


def shrinks(stored: int, raw: int) -> bool:
    """Whether `stored` bytes for `raw` bytes is worth decompressing: at most 7/8 of them."""
    return stored * SHRINK_DEN <= raw * SHRINK_NUM


class FrameEncoder:
    """The encoding of the new chunks of one file, in file order (section 4.5, rule b).

    `encode(raw)` returns (encoding, payload) for make_frame/PackWriter.add. Without the
    zstandard package every chunk stays raw (encoding 0), as section 9 allows writers."""

    def __init__(self, zstd: Any = None) -> None:
        """`zstd`: the compressor to use (zstd_compressor()), else one is made."""
        self._seen = 0
        self._on = False
        self._zstd = zstd if zstd is not None else zstd_compressor()

    def encode(self, raw: Buffer) -> tuple[int, Buffer]:
        first = self._seen % GROUP == 0
        self._seen += 1
        if self._zstd is None or not (first or self._on):
            return ENC_RAW, raw
        payload = self._zstd.compress(raw)
        ok = shrinks(len(payload), len(raw))
        if first:
            self._on = ok
        return (ENC_ZSTD, payload) if ok else (ENC_RAW, raw)
