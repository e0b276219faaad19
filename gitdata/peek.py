"""What pointer a file holds, or would get from `git add`, without storing anything.

For `git data diff` (a worktree file git reports as changed) and `git-data textconv` (a file git
hands to the diff driver). A file is read only as far as needed: a pointer is parsed from its
first bytes; a bigger file whose stat data the stat cache knows exactly (statcache.py: recorded
when the clean filter hashed it, or when a checkout wrote it) is not read at all; anything else
is hashed in one streaming pass through a 1 MiB buffer, unless it is bigger than `hash_limit`.
Nothing enters the cache: a diff is not an `add`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

from . import hashing
from .pointer import SIZE_CUTOFF, Pointer, parse
from .statcache import StatCache


@dataclass(frozen=True)
class Peek:
    size: int
    oid: str | None  # None for empty content, and for content not hashed (over the limit)
    is_pointer: bool  # the file holds a pointer, not the bytes

    @property
    def pointer(self) -> Pointer | None:
        """The pointer the file is, or the one its content would get; None when unknown."""
        return Pointer(self.oid, self.size) if self.oid is not None else None


def peek(
    f: io.RawIOBase,
    st: os.stat_result,
    stat_cache: StatCache | None = None,
    hash_limit: int | None = None,
) -> Peek:
    """Peek at `f`, a file opened unbuffered (`open(path, "rb", buffering=0)`) and read from
    its start, whose fstat is `st`."""
    head = _read_head(f, SIZE_CUTOFF + 1)
    if len(head) <= SIZE_CUTOFF:
        p = parse(head)
        if p is not None:
            return Peek(p.size, p.oid, True)
        return Peek(len(head), hashing.hash_bytes(head) if head else None, False)
    if stat_cache is not None:
        exact, _ = stat_cache.lookup(st)
        if exact is not None:
            return Peek(st.st_size, exact, False)
    if hash_limit is not None and st.st_size > hash_limit:
        return Peek(st.st_size, None, False)
    h = hashing.hasher()
    h.update(head)
    oid, rest = hashing.copy_and_hash(f, None, h=h)
    return Peek(len(head) + rest, oid, False)


def _read_head(f: io.RawIOBase, n: int) -> bytes:
    parts = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)
