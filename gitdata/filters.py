"""clean and smudge: the two directions between a data file and its pointer.

Used both by the long-running `filter-process` (through FilterHandler) and by the single-shot
`git-data clean` / `git-data smudge`. Bytes stream through a reused buffer and are hashed while
they are copied; nothing holds a whole file in memory.
"""

from __future__ import annotations

import os
import queue
import stat
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import BinaryIO

from . import pointer as ptr
from .context import Context
from .errors import GitDataError, IntegrityError, ObjectMissing
from .git.filter_protocol import DELAYED, Output, Request
from .git.pktline import ContentReader
from .hashing import Reader
from .pointer import SIZE_CUTOFF, Pointer
from .statcache import MIN_SIZE

#: Bytes compared between git's stream and the cached object before a stat-cache hit is trusted.
HEAD_CHECK = 64 << 10
SPOOL_MAX = 16 << 20
PENDING_FILE = "pending-checkout"
#: Files git and gitdata must read as text: a pattern like `*` must not turn them into pointers.
NEVER_FILTERED = (".gitattributes", ".gitdata.toml")


def read_head(src: Reader, n: int) -> bytes:
    """Up to `n` bytes from src (fewer only at the end of the stream)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = src.readinto(view[got:])
        if not k:
            break
        got += k
    return bytes(buf[:got])


def passes_through(content: bytes) -> bool:
    """Empty content and pointers are stored as they are (SPEC "Pointer"): committing a pointer
    that was never smudged must not wrap it twice. `content` is the whole content."""
    return len(content) <= SIZE_CUTOFF and (not content or ptr.parse(content) is not None)


def clean(ctx: Context, src: Reader, pathname: str | None = None) -> bytes:
    """The blob git should store for the content read from `src`.

    Empty content and content that already is a pointer pass through unchanged; anything else
    goes into the cache and its pointer comes back. With `pathname`, an unchanged big worktree
    file (same stat data as when we last hashed or wrote it) is recognised without hashing.
    """
    head = read_head(src, HEAD_CHECK)  # shorter only at the end of the stream
    if passes_through(head):
        return head
    st = _stat(pathname)
    if pathname and st is not None and len(head) == HEAD_CHECK:
        known = _clean_known(ctx, src, head, st, pathname)
        if known is not None:
            return known.encode()
    oid, size = ctx.cache.store_stream(src, head)
    if pathname and st is not None and st.st_size == size:
        after = _stat(pathname)
        if after is not None and _same_stat(st, after) and _file_head(pathname, len(head)) == head:
            ctx.stat_cache.record(after, oid)
    return Pointer(oid, size).encode()


def _clean_known(
    ctx: Context, src: Reader, head: bytes, st: os.stat_result, pathname: str
) -> Pointer | None:
    """A stat-cache hit: drain git's stream instead of hashing it, when the stream starts
    like the cached object and has its size. None: not known, nothing consumed beyond `head`."""
    oid = ctx.stat_cache.lookup(st)
    if oid is None or ctx.cache.size(oid) != st.st_size:
        return None
    try:
        with ctx.cache.open(oid) as f:
            if read_head(f, len(head)) != head:
                return None
    except FileNotFoundError:  # `git data gc` removed it just now
        return None
    # Nothing is written to the cache on this path, so tell a concurrent gc that the object is
    # wanted (Cache.remove_if_older); if gc took it already, hash and write it again.
    if not ctx.cache.touch(oid):
        return None
    size = len(head) + _drain(src)
    after = _stat(pathname)
    if size != st.st_size or after is None or not _same_stat(st, after):
        # The bytes were not the file we know, and they are gone: ask git to try again.
        raise GitDataError(
            f"{pathname} changed while it was being read",
            f"run the git command again for {pathname}",
        )
    return Pointer(oid, size)


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


def _same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


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
    """The cached bytes of `p`, checked for size; raises ObjectMissing when absent."""
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
    return f


def record_pending(ctx: Context, pathname: str) -> None:
    """Remember a big file left as a pointer; the post-checkout/post-merge hook writes it."""
    d = ctx.paths.worktree_data_dir
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, PENDING_FILE), "ab") as f:
        f.write(os.fsencode(pathname) + b"\0")


class FilterHandler:
    """Answers git's filter-process requests for one repository."""

    def __init__(self, ctx: Context, skip_smudge: bool = False) -> None:
        self.ctx = ctx
        self.skip_smudge = skip_smudge or ctx.settings.skip_smudge
        self._fetcher: Fetcher | None = None
        self._delayed: dict[str, Future[None]] = {}  # pathname -> its download
        self._finished: dict[str, BaseException | None] = {}
        self._done: queue.Queue[str] = queue.Queue()
        self._pointers: dict[str, Pointer] = {}

    def clean(self, req: Request, content: ContentReader) -> Output:
        if os.path.basename(req.pathname) in NEVER_FILTERED:
            return content.read()
        return clean(self.ctx, content, req.pathname)

    def smudge(self, req: Request, content: Reader) -> Output:
        path = req.pathname
        if path in self._finished:  # git asks again for a file we delayed
            error = self._finished.pop(path)
            if error is not None:
                raise error
            return open_cached(self.ctx, self._pointers.pop(path), path)
        p, head, rest = read_pointer_input(content)
        if p is None:
            return rest if rest is not None else head
        if self.skip_smudge:
            return head
        if p.size >= self.ctx.settings.big_file_threshold:
            record_pending(self.ctx, path)
            return head
        if self.ctx.cache.has(p.oid):
            return open_cached(self.ctx, p, path)
        fetcher = self.fetcher()
        if req.can_delay:
            self._pointers[path] = p
            fut = fetcher.submit(p)
            self._delayed[path] = fut
            fut.add_done_callback(partial(self._mark_done, path))
            return DELAYED
        fetcher.fetch(p, path)
        return open_cached(self.ctx, p, path)

    def _mark_done(self, path: str, _fut: Future[None]) -> None:
        self._done.put(path)

    def available(self) -> list[str]:
        """Block until at least one delayed file is ready; [] when none is left."""
        if not self._delayed:
            return []
        ready = [self._done.get()]
        while True:
            try:
                ready.append(self._done.get_nowait())
            except queue.Empty:
                break
        for path in ready:
            fut = self._delayed.pop(path)
            exc = fut.exception()
            self._finished[path] = (
                None if exc is None else self.fetcher().explain(exc, self._pointers[path], path)
            )
        return ready

    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.ctx)
        return self._fetcher


class Fetcher:
    """Downloads objects for smudge from the store SPEC's resolution picks, one at a time per
    oid, `data.transfers` at once."""

    def __init__(self, ctx: Context) -> None:
        from . import resolve
        from .storage import open_store

        self.ctx = ctx
        try:
            self.resolution = resolve.for_download(ctx)
            self.store = open_store(self.resolution.spec)
            self.setup_error: GitDataError | None = None
        except GitDataError as e:
            self.setup_error = e
        self._pool = ThreadPoolExecutor(max_workers=ctx.settings.transfers)
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, p: Pointer) -> Future[None]:
        with self._lock:
            fut = self._futures.get(p.oid)
            if fut is None:
                fut = self._pool.submit(self._download, p)
                self._futures[p.oid] = fut
            return fut

    def fetch(self, p: Pointer, pathname: str) -> None:
        exc = self.submit(p).exception()
        if exc is not None:
            raise self.explain(exc, p, pathname)

    def _download(self, p: Pointer) -> None:
        from .transfer import download_one

        if self.setup_error is not None:
            raise self.setup_error
        if not self.ctx.cache.has(p.oid):
            download_one(self.store, self.ctx.cache, p.oid, p.size)

    def explain(self, exc: BaseException, p: Pointer, pathname: str) -> GitDataError:
        where = self.store.describe() if self.setup_error is None else "no store"
        cause = exc.message if isinstance(exc, GitDataError) else str(exc)
        return GitDataError(
            f"{pathname}: cannot get the bytes of xxh128:{p.oid} from {where}: {cause}",
            "set GIT_DATA_SKIP_SMUDGE=1 to check out pointers instead, then run "
            "`git data pull` once the store has the bytes",
        )
