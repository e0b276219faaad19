"""XXH3-128, computed while bytes are copied: every byte is read once."""

from __future__ import annotations

import errno
import os
import threading
from typing import Callable, Protocol

import xxhash

CHUNK = 1 << 20


class Reader(Protocol):
    """What streaming code needs from a source: a file, a pipe, or git's pkt-line content."""

    def readinto(self, buf: bytearray | memoryview, /) -> int | None: ...


class Writer(Protocol):
    """What copying needs from a destination: a file, or a wrapper around one."""

    def write(self, data: bytes | memoryview, /) -> int | None: ...


def hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


_local = threading.local()


def buffer() -> memoryview:
    """This thread's copy buffer of CHUNK bytes. A fresh 1 MiB bytearray is an mmap and 256
    page faults, which cost more than hashing a small file."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(CHUNK))
    return view


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def copy_and_hash(
    src: Reader,
    dst: Writer | None,
    progress: Callable[[int], None] | None = None,
    h: xxhash.xxh3_128 | None = None,
) -> tuple[str, int]:
    """Copy `src` to `dst` (or just read it when `dst` is None); return (oid, size).

    `h` continues a hash already fed with bytes that came before `src`; `size` counts only
    the bytes read from `src`.
    """
    if h is None:
        h = xxhash.xxh3_128()
    view = buffer()
    size = 0
    readinto = src.readinto
    while True:
        n = readinto(view)
        if not n:
            break
        chunk = view[:n]
        h.update(chunk)
        if dst is not None:
            write_all(dst, chunk)
        size += n
        if progress is not None:
            progress(n)
    return h.hexdigest(), size


def write_all(dst: Writer, data: bytes | memoryview) -> None:
    """Write all of `data`. An unbuffered file near a full disk or a file-size limit writes
    what fits and returns that count (the next write raises); ignoring the count would leave
    a short file that hashes as the whole content did."""
    view = memoryview(data)
    done = dst.write(view)
    while done is not None and done < len(view):
        n = dst.write(view[done:])
        if not n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += n


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    with open(path, "rb", buffering=0) as f:
        return copy_and_hash(f, None)
