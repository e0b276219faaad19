"""clean and smudge: the two directions between a data file and its pointer.

Used both by the long-running `filter-process` (through FilterHandler) and by the single-shot
`git-data clean` / `git-data smudge`. Bytes stream through a reused buffer and are hashed while
they are copied; nothing holds a whole file in memory.
"""

from __future__ import annotations

import io
import os
import re
import stat
from typing import BinaryIO, cast

from . import hashing
from . import pointer as ptr
from .context import Context
from .errors import GitDataError, IntegrityError, ObjectMissing
from .hashing import Reader
from .pointer import SIZE_CUTOFF, Pointer
from .statcache import MIN_SIZE, same_file

#: Content up to this size is hashed in memory and written only when new; for bigger files,
#: the bytes compared with the cached object before a stat-cache entry is trusted.
HEAD_CHECK = hashing.CHUNK
SPOOL_MAX = 16 << 20
#: Files git and gitdata must read as text: a pattern like `*` must not turn them into pointers.
NEVER_FILTERED = (".gitattributes", ".gitdata.toml")


def read_head(src: Reader, n: int) -> bytes:
    """Up to `n` (at most hashing.CHUNK) bytes from src; fewer only at the end of the stream."""
    view = hashing.buffer()[:n]
    got = 0
    while got < n:
        k = src.readinto(view[got:])
        if not k:
            break
        got += k
    return bytes(view[:got])


def passes_through(content: bytes) -> bool:
    """Empty content and pointers are stored as they are (docs/formats.md, "Pointer"):
    committing a pointer that was never smudged must not wrap it twice. `content` is the whole
    content."""
    return len(content) <= SIZE_CUTOFF and (not content or ptr.parse(content) is not None)


_MARKERS = (re.compile(rb"^<{7}(?: |$)", re.M), re.compile(rb"^={7}$", re.M),
            re.compile(rb"^>{7}(?: |$)", re.M))  # fmt: skip


def is_conflict_text(content: bytes) -> bool:
    """What git's text merge makes of two different pointers when no merge driver resolves
    them: pointer lines with conflict markers between (`content` is the whole content)."""
    return (
        len(content) <= 4 * SIZE_CUTOFF
        and b"version gitdata/1\n" in content
        and all(m.search(content) for m in _MARKERS)
    )


def clean(ctx: Context, src: Reader, pathname: str | None = None) -> bytes:
    """The blob git should store for the content read from `src`.

    Empty content and content that already is a pointer pass through unchanged; anything else
    goes into the cache and its pointer comes back. With `pathname`, an unchanged big worktree
    file (same stat data as when we last hashed or wrote it) is recognised without hashing.
    """
    head = read_head(src, HEAD_CHECK)  # shorter only at the end of the stream
    if passes_through(head):
        return head
    if is_conflict_text(head):
        name = pathname or "the file"
        raise GitDataError(
            f"{name}: conflict markers around gitdata pointers: this is the text of an "
            "unresolved merge, not data; it was not added",
            f"take one side: `git checkout --ours -- {name}` (or --theirs), then `git add "
            f"{name}`; `git data install` defines the merge=data driver that avoids this",
        )
    if len(head) < HEAD_CHECK:  # the whole file is in hand: write it only if it is new
        return Pointer(ctx.cache.store_bytes(head), len(head)).encode()
    st = _stat(pathname)
    if not pathname or st is None:
        oid, size = ctx.cache.store_stream(src, head)
        return Pointer(oid, size).encode()
    return _clean_file(ctx, src, head, pathname, st).encode()


def _clean_file(
    ctx: Context, src: Reader, head: bytes, pathname: str, st: os.stat_result
) -> Pointer:
    """Clean a big worktree file, using what the stat cache knows of it.

    - Same stat data as recorded: drain git's stream, no hash, no write.
    - Same inode and size, other timestamps (a `touch`): hash while draining, no write; if the
      content changed in place after all, its bytes went by unsaved, so store them from the
      file, which must hash to what git sent.
    - Otherwise: hash and store, then record the stat data.
    A stream that does not start like the recorded object is never taken for it.
    """
    exact, guess = ctx.stat_cache.lookup(st)
    # Reused objects are freshened (see Cache.freshen) before git's bytes are let go: a gc
    # that took the object meanwhile is seen, and the bytes are then stored after all.
    if (
        exact is not None
        and _starts_like(ctx, exact, head, st.st_size)
        and ctx.cache.freshen(exact)
    ):
        size = len(head) + _drain(src)
        if size != st.st_size or not _unchanged(st, pathname):
            raise _changed(pathname)  # not the file we know, and its bytes are gone
        return Pointer(exact, size)
    if guess is not None and _starts_like(ctx, guess, head, st.st_size):
        h = hashing.hasher()
        h.update(head)
        sent, rest = hashing.copy_and_hash(src, None, h=h)
        oid, size = sent, len(head) + rest
        if oid != guess or not ctx.cache.freshen(oid):
            # edited in place (or collected meanwhile): the file must hold what git sent
            with open(pathname, "rb") as f:
                oid, size = ctx.cache.store_stream(f)
            if oid != sent:
                raise _changed(pathname)
    else:
        oid, size = ctx.cache.store_stream(src, head)
    # Remember only what is certainly this file's content: same size, same first bytes, and
    # the same stat data before and after git sent it.
    if size == st.st_size and _unchanged(st, pathname) and _file_head(pathname, len(head)) == head:
        ctx.stat_cache.record(st, oid)
    return Pointer(oid, size)


def _starts_like(ctx: Context, oid: str, head: bytes, size: int) -> bool:
    try:
        with ctx.cache.open(oid) as f:
            return os.fstat(f.fileno()).st_size == size and read_head(f, len(head)) == head
    except FileNotFoundError:  # never cached, or `git data gc` removed it just now
        return False


def _unchanged(st: os.stat_result, pathname: str) -> bool:
    after = _stat(pathname)
    return after is not None and same_file(st, after)


def _changed(pathname: str) -> GitDataError:
    return GitDataError(
        f"{pathname} changed while it was being read",
        f"run the git command again for {pathname}",
    )


def _drain(src: Reader) -> int:
    buf = bytearray(1 << 20)
    total = 0
    while True:
        n = src.readinto(buf)
        if not n:
            return total
        total += n


def _stat(pathname: str | None) -> os.stat_result | None:
    if not pathname:
        return None
    try:
        st = os.stat(pathname)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) and st.st_size >= MIN_SIZE else None


def _file_head(pathname: str, n: int) -> bytes | None:
    try:
        with open(pathname, "rb") as f:
            return read_head(f, n)
    except OSError:
        return None


def read_pointer_input(src: Reader) -> tuple[Pointer | None, bytes, BinaryIO | None]:
    """Read what git gives smudge: (pointer, its bytes, None) or, for ordinary content,
    (None, head, rest) where `rest` must be copied after `head` (spooled when large)."""
    head = read_head(src, SIZE_CUTOFF + 1)
    if len(head) <= SIZE_CUTOFF:
        return ptr.parse(head), head, None
    import tempfile  # only for ordinary content checked in before it was tracked

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)
    spool.write(head)
    buf = bytearray(1 << 20)
    while True:
        n = src.readinto(buf)
        if not n:
            break
        spool.write(memoryview(buf)[:n])
    spool.seek(0)
    return None, head, spool  # type: ignore[return-value]


def open_cached(ctx: Context, p: Pointer, pathname: str) -> BinaryIO:
    """The cached bytes of `p`, checked for size, and hashed as they are read (see
    VerifiedReader); raises ObjectMissing when absent."""
    try:
        f = ctx.cache.open(p.oid)
    except FileNotFoundError as e:
        raise ObjectMissing(f"{pathname}: xxh128:{p.oid} is not in the cache") from e
    size = os.fstat(f.fileno()).st_size
    if size != p.size:
        f.close()
        raise IntegrityError(
            f"{pathname}: cached object xxh128:{p.oid} has {size} bytes, the pointer says {p.size}",
            "run `git data fsck` to move it aside, then `git data pull`",
        )
    return cast(BinaryIO, VerifiedReader(f, p, pathname, ctx.cache.path(p.oid)))


class VerifiedReader(io.RawIOBase):
    """A cached object on its way to git, hashed as it goes. At the end, bytes that do not hash
    to the pointer's oid (damaged after they entered the cache: bit rot, a write through a hard
    link) raise IntegrityError; the filter protocol sends it as status=error after the content,
    and git throws that content away. XXH3 runs at memory speed, well above a pipe's."""

    def __init__(self, f: io.BufferedReader, p: Pointer, pathname: str, path: str) -> None:
        self._f = f
        self._p = p
        self._pathname = pathname
        self._path = path
        self._h = hashing.hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._f.readinto(buf)
        if n:
            self._h.update(memoryview(buf)[:n])
            return n
        got = self._h.hexdigest()
        if got != self._p.oid:
            raise IntegrityError(
                f"{self._pathname}: cached object xxh128:{self._p.oid} is damaged "
                f"(its bytes hash to xxh128:{got}); it was not used",
                f"remove {self._path} and run `git data pull`",
            )
        return 0

    def close(self) -> None:
        self._f.close()
        super().close()
