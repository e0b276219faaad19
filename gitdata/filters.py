"""clean and smudge: the two directions between a data file and its pointer.

Used both by the long-running `filter-process` (through FilterHandler) and by the single-shot
`git-data clean` / `git-data smudge`. Bytes stream through a reused buffer and are hashed while
they are copied; nothing holds a whole file in memory.
"""

from __future__ import annotations

import io
import os
import queue
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import BinaryIO, cast

from . import hashing
from . import pointer as ptr
from .context import Context
from .errors import GitDataError, IntegrityError, ObjectMissing
from .git.filter_protocol import DELAYED, Output, Request
from .git.pktline import ContentReader
from .hashing import Reader
from .pointer import SIZE_CUTOFF, Pointer
from .statcache import MIN_SIZE

#: Content up to this size is hashed in memory and written only when new; for bigger files,
#: the bytes compared with the cached object before a stat-cache entry is trusted.
HEAD_CHECK = hashing.CHUNK
SPOOL_MAX = 16 << 20
PENDING_FILE = "pending-checkout"
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
    return after is not None and _same_stat(st, after)


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


def record_pending(ctx: Context, pathname: str) -> None:
    """Remember a big file left as a pointer; the post-checkout/post-merge hook writes it."""
    d = ctx.paths.worktree_data_dir
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, PENDING_FILE), "ab") as f:
        f.write(os.fsencode(pathname) + b"\0")


def is_display_read(req: Request) -> bool:
    """Whether git smudges one blob to show it rather than to check it out.

    `git diff`, `git log -p` and `git show` smudge each version into a temporary file before
    they hand it to a textconv or external diff driver (diff.c, prep_temp_blob, git 2.39), and
    so does `git cat-file --filters`. Such a request names the blob but no tree or ref and
    cannot be delayed; every checkout that moves HEAD or restores from a tree names the tree
    (`treeish=`), and index checkouts (`git checkout -- PATH`, stash, merges) may be delayed.
    `git checkout-index` looks the same as a display read, so it too gets cached bytes but
    leaves a pointer where the bytes are not cached (`git data pull` fills it).
    """
    return (
        not req.can_delay
        and "blob" in req.extra
        and "treeish" not in req.extra
        and "ref" not in req.extra
    )


class FilterHandler:
    """Answers git's filter-process requests for one repository."""

    def __init__(self, ctx: Context, skip_smudge: bool = False) -> None:
        self.ctx = ctx
        # Settings (.gitdata.toml) are read at the first smudge: a broken file must not stop
        # `git add`, which never needs it.
        self._skip_smudge = skip_smudge
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
        if self._skip_smudge or self.ctx.settings.skip_smudge:
            return head
        if is_display_read(req):
            # never a download, never a big file through git's memory: the diff driver
            # (`git-data textconv`) describes a pointer as well as the bytes
            big = p.size >= self.ctx.settings.big_file_threshold
            return head if big or not self.ctx.cache.has(p.oid) else open_cached(self.ctx, p, path)
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
        from .transfer import workers_for

        workers = ctx.settings.transfers
        if self.setup_error is None:
            workers = workers_for(self.store, workers)
        self._pool = ThreadPoolExecutor(max_workers=workers)
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
