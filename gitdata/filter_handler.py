"""The filter process's handler: answers git's clean and smudge requests for one repository,
downloads missing objects for smudge (in parallel through the protocol's `delay`), and at the
end of the git command writes the big files it left as pointers (worktree.finish)."""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from . import pending
from .context import Context
from .errors import GitDataError
from .filters import NEVER_FILTERED, clean, open_cached, read_pointer_input
from .git.filter_protocol import DELAYED, Output, Request
from .git.pktline import ContentReader
from .hashing import Reader
from .pointer import Pointer

if TYPE_CHECKING:
    from .storage.chunked import ChunkedStore

#: git's options that take their value as the next argument (git.c, handle_options)
_GIT_OPTIONS_WITH_VALUE = {b"-C", b"-c", b"--git-dir", b"--work-tree", b"--namespace",
                           b"--config-env", b"--super-prefix", b"--exec-path"}  # fmt: skip


def parent_is_archive() -> bool:
    """Whether the git that started this filter runs `git archive`. That command puts what
    smudge gives into the archive, not the worktree, so a big file must come through as bytes
    (git holds each file in memory for an archive anyway) rather than as a pointer for the
    worktree pass. Linux's /proc tells (git starts the filter through `sh -c`, which may stay
    in between); elsewhere the answer is no."""
    return parent_subcommand() == b"archive"


def parent_subcommand() -> bytes | None:
    """The subcommand of the git that started this filter (`archive`, `checkout-index`), from
    Linux's /proc; None where it cannot be told."""
    pid = os.getppid()
    for _ in range(2):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if os.path.basename(argv[0]) not in (b"sh", b"bash", b"dash") or argv[1:2] != [b"-c"]:
                return git_subcommand(argv)
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rpartition(b")")[2].split()[1])  # the shell's parent
        except (OSError, ValueError, IndexError):
            return None
    return None


def is_display_read(req: Request) -> bool:
    """Whether git smudges one blob to show it rather than to check it out (as far as the
    request tells: see FilterHandler._for_display).

    `git diff`, `git log -p` and `git show` smudge each version into a temporary file before
    they hand it to a textconv or external diff driver (diff.c, prep_temp_blob, git 2.39), and
    so does `git cat-file --filters`. Such a request names the blob but no tree or ref and
    cannot be delayed; every checkout that moves HEAD or restores from a tree names the tree
    (`treeish=`), and index checkouts (`git checkout -- PATH`, stash, merges, read-tree) may be
    delayed. Only `git checkout-index` sends the same request for the worktree.
    """
    return (
        not req.can_delay
        and "blob" in req.extra
        and "treeish" not in req.extra
        and "ref" not in req.extra
    )


def git_subcommand(argv: list[bytes]) -> bytes | None:
    if not argv:
        return None
    if os.path.basename(argv[0]).startswith(b"git-"):
        return os.path.basename(argv[0])[4:]
    args = iter(argv[1:])
    for a in args:
        if a in _GIT_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not a.startswith(b"-"):
            return a
    return None


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
        self._left: set[bytes] = set()  # big files smudged as pointers: finish() writes them
        self._archive: bool | None = None  # started by `git archive`? (asked once)
        self._checkout_index: bool | None = None  # started by `git checkout-index`? (likewise)

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
        if self._for_display(req):
            # never a download, never a big file through git's memory, nothing left for
            # finish(): the diff driver (`git-data textconv`) describes a pointer as well
            big = p.size >= self.ctx.settings.big_file_threshold
            return head if big or not self.ctx.cache.has(p.oid) else open_cached(self.ctx, p, path)
        if p.size >= self.ctx.settings.big_file_threshold and not self._for_archive():
            # Recorded for crash recovery too: a filter killed before finish() leaves the list
            # to the next git command's filter (or `git data checkout`).
            pending.record(self.ctx.paths.worktree_data_dir, path)
            self._left.add(os.fsencode(path))
            return head
        if self.ctx.cache.has(p.oid):
            return open_cached(self.ctx, p, path)
        fetcher = self.fetcher()
        if req.can_delay:
            self._pointers[path] = p
            fut = fetcher.submit(p, batch=True)
            self._delayed[path] = fut
            fut.add_done_callback(partial(self._mark_done, path))
            return DELAYED
        fetcher.fetch(p, path)
        return open_cached(self.ctx, p, path)

    def _for_display(self, req: Request) -> bool:
        """A display read (is_display_read), unless /proc says `git checkout-index` sent it:
        that one writes the worktree, so it downloads and leaves big files to finish() like any
        checkout. Where /proc cannot tell, it is served as a display read."""
        if not is_display_read(req):
            return False
        if self._checkout_index is None:
            self._checkout_index = parent_subcommand() == b"checkout-index"
        return not self._checkout_index

    def _for_archive(self) -> bool:
        if self._archive is None:
            self._archive = parent_is_archive()
        return self._archive

    def finish(self) -> None:
        """git closed our input: its command has written every file and its index, and waits
        for us. Write the big files left as pointers (see worktree.finish). Nothing to do, the
        usual case, costs one stat."""
        if not self._left and not os.path.exists(
            os.path.join(self.ctx.paths.worktree_data_dir, pending.PENDING_FILE)
        ):
            return
        from . import worktree

        worktree.finish(self.ctx, self._left)

    def _mark_done(self, path: str, _fut: Future[None]) -> None:
        self._done.put(path)

    def available(self) -> list[str]:
        """Block until at least one delayed file is ready; [] when none is left."""
        if not self._delayed:
            return []
        if self._fetcher is not None:
            self._fetcher.flush()  # git has sent every file it delays: start the batch
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

    def close(self) -> None:
        """Before the process leaves: see Fetcher.close."""
        if self._fetcher is not None:
            self._fetcher.close()

    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.ctx)
        return self._fetcher


#: the most delayed files rebuilt as one batch (docs/chunked-store.md, 5.3)
BATCH_MAX = 1000
#: threads fetching the spans of the filter's batches (of small files: 4 GETs in flight hide a
#: round trip; a thread more costs ~2.5 MiB and GIL time: 2,000 x 64 KiB peak 90 MiB with 8)
SPAN_THREADS = 4


class Fetcher:
    """Downloads objects for smudge from the store that docs/configuration.md's rule picks, one
    at a time per oid, `data.transfers` at once. Delayed files are collected until git asks
    which are ready (flush), so that the ones the store keeps in packs are rebuilt in one batch
    whose ranged GETs coalesce.

    The store is opened in a thread (importing its client library, creating the client, and
    for the chunked store reading FORMAT and syncing the manifests: the first batch's requests)
    while git goes on sending the files it delays, which need nothing of it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.setup_error: GitDataError | None = None
        self._chunked: ChunkedStore | None = None
        self._futures: dict[str, Future[None]] = {}
        self._batch: dict[str, tuple[Pointer, Future[None]]] = {}
        self._lock = threading.Lock()
        self._open_failed: BaseException | None = None  # not a GitDataError: a bug, raised
        #: batches flushed while the store was being opened: started once it is (git goes on)
        self._queued: list[dict[str, tuple[Pointer, Future[None]]]] | None = []
        self._opening = threading.Thread(target=self._open, name="open-store", daemon=True)
        self._opening.start()

    def _open(self) -> None:
        try:
            self._open_store()
        except BaseException as e:
            self._open_failed = e
        finally:
            with self._lock:
                queued, self._queued = self._queued or [], None
                for batch in queued:
                    if hasattr(self, "_pool"):
                        self._pool.submit(self._run_batch, batch)
                    else:  # failed before its pool was made: a bug, said for every file
                        for _, fut in batch.values():
                            fut.set_exception(self._open_failed or RuntimeError("no store"))

    def _open_store(self) -> None:
        from . import resolve
        from .storage import open_store
        from .transfer import chunked_reader, workers_for

        workers = self.ctx.settings.transfers
        try:
            self.resolution = resolve.for_download(self.ctx)
            self.store = open_store(self.resolution.spec)
            workers = workers_for(self.store, workers)
        except GitDataError as e:
            self.setup_error = e
        finally:
            self._pool = ThreadPoolExecutor(max_workers=workers)
            # the threads that fetch the spans of every batch: two batches at once (git
            # delays more than BATCH_MAX files) share them, as the store's connections
            self._spans = ThreadPoolExecutor(
                max_workers=min(workers, SPAN_THREADS), thread_name_prefix="span"
            )
        if self.setup_error is None:
            self._chunked = chunked_reader(self.store, self.ctx.paths.data_dir)
            self._chunked.prepare()

    def close(self) -> None:
        """Let the downloads under way finish (into their temporaries, then the cache) and drop
        those not started. The process leaves without the interpreter's teardown, which would
        have waited for them: after git stopped at a failed file (a full cache), a download
        cut there left its temporary in the cache's tmp/."""
        self._opening.join()
        for name in ("_pool", "_spans"):
            pool = getattr(self, name, None)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _opened(self) -> None:
        self._opening.join()
        if self._open_failed is not None:
            raise self._open_failed

    def submit(self, p: Pointer, batch: bool = False) -> Future[None]:
        """The download of `p`, started now, or with `batch` at the next flush()."""
        with self._lock:
            fut = self._futures.get(p.oid)
            if fut is None:
                if batch:
                    fut = Future()
                    self._batch[p.oid] = (p, fut)
                    if len(self._batch) >= BATCH_MAX:
                        self._flush()
                else:
                    self._opened()
                    fut = self._pool.submit(self._download, p)
                self._futures[p.oid] = fut
            return fut

    def flush(self) -> None:
        """Start the batch collected so far."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, {}
            if self._queued is not None:  # the store is still being opened: never wait here
                self._queued.append(batch)
            else:
                self._pool.submit(self._run_batch, batch)

    def _run_batch(self, batch: dict[str, tuple[Pointer, Future[None]]]) -> None:
        """Rebuild what the store keeps in packs, all at once; download the rest whole."""
        for _, fut in batch.values():
            fut.set_running_or_notify_cancel()
        if self._chunked is None:  # the store could not be opened: each says why
            for p, fut in batch.values():
                self._pool.submit(self._download, p).add_done_callback(partial(_pass_on, fut))
            return
        cache = self.ctx.cache
        need = {oid: p.size for oid, (p, _) in batch.items() if not cache.has(oid)}

        def adopt(tmp: str, oid: str, size: int) -> None:
            cache.adopt(tmp, oid, size)
            batch[oid][1].set_result(None)  # git may have it now, while the rest come in

        try:
            r = self._chunked.rebuild(need, cache, adopt, self._spans)
        except BaseException as e:
            for _, fut in batch.values():
                if not fut.done():
                    fut.set_exception(e)
            return
        for oid, (p, fut) in batch.items():
            if fut.done():
                continue
            if oid in r.failed:
                fut.set_exception(r.failed[oid])
            elif oid in r.rest:
                self._pool.submit(self._download_whole, p).add_done_callback(partial(_pass_on, fut))
            else:
                fut.set_result(None)

    def fetch(self, p: Pointer, pathname: str) -> None:
        exc = self.submit(p).exception()
        if exc is not None:
            raise self.explain(exc, p, pathname)

    def _download(self, p: Pointer) -> None:
        self._opened()
        if self.setup_error is not None:
            raise self.setup_error
        if self.ctx.cache.has(p.oid):
            return
        if self._chunked is not None:  # a file the store keeps in packs is rebuilt (5.1)
            cache = self.ctx.cache
            r = self._chunked.rebuild({p.oid: p.size}, cache, cache.adopt, 1)
            if r.failed:
                raise r.failed[p.oid]
            if r.done:
                return
        self._download_whole(p)

    def _download_whole(self, p: Pointer) -> None:
        from .transfer import download_one

        if not self.ctx.cache.has(p.oid):
            download_one(self.store, self.ctx.cache, p.oid, p.size)

    def explain(self, exc: BaseException, p: Pointer, pathname: str) -> GitDataError:
        self._opened()
        where = self.store.describe() if self.setup_error is None else "no store"
        if isinstance(exc, OSError):  # a rebuild from packs that could not write the cache
            from .cache import disk_error

            exc = disk_error(exc, self.ctx.cache.root)
        cause = exc.message if isinstance(exc, GitDataError) else str(exc)
        return GitDataError(
            f"{pathname}: cannot get the bytes of xxh128:{p.oid} from {where}: {cause}",
            "set GIT_DATA_SKIP_SMUDGE=1 to check out pointers instead, then run "
            "`git data pull` once the store has the bytes",
        )


def _pass_on(to: Future[None], done: Future[None]) -> None:
    exc = done.exception()
    if exc is None:
        to.set_result(None)
    else:
        to.set_exception(exc)
