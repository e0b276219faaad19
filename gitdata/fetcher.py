"""Downloads for the smudge filter (filter_handler.py): one Fetcher per filter process opens
the store in a thread while git goes on, downloads each missing object once, and rebuilds the
files git delays in batches, so that the ones a chunked store keeps in packs come in a few
ranged GETs."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from .context import Context
from .errors import GitDataError
from .outcome import Outcome
from .pointer import Pointer

if TYPE_CHECKING:
    from .fetch_process import FetchProcess
    from .storage.chunked import ChunkedStore

#: the most delayed files rebuilt as one batch (docs/chunked-store.md, 5.3)
BATCH_MAX = 1000
#: threads fetching the spans of the filter's batches (of small files: spans of several MiB, so
#: 2 GETs in flight hide a round trip; each thread more costs ~2.5 MiB and GIL time: a clone of
#: 2,000 x 64 KiB ran no faster with 4, and 8 peaked at 90 MiB)
SPAN_THREADS = 2
SLOW_OPEN = "GIT_DATA_TEST_SLOW_OPEN"  # seconds the store's opening waits first (tests only)


class Fetcher:
    """Downloads objects for smudge from the store that docs/configuration.md's rule picks, one
    at a time per oid, `data.transfers` at once. Delayed files are collected until git asks
    which are ready (flush), so that the ones the store keeps in packs are rebuilt in one batch
    whose ranged GETs coalesce.

    The store is opened in a thread (importing its client library, creating the client, and
    for the chunked store reading FORMAT and syncing the manifests: the first batch's requests)
    while git goes on sending the files it delays, which need nothing of it.

    The filter's Fetcher is made with `worker`: its batches go to a download process of their
    own (fetch_process.py: `git-data fetch-worker`, whose Fetcher runs them), started with the
    first file git delays; it opens the store itself only for a file git cannot wait for."""

    def __init__(self, ctx: Context, *, worker: bool = False) -> None:
        self.ctx = ctx
        self.setup_error: GitDataError | None = None
        self._chunked: ChunkedStore | None = None
        self._outcomes: dict[str, Outcome] = {}  # every oid asked for, once
        self._batch: dict[str, tuple[Pointer, Outcome]] = {}
        self._lock = threading.Lock()
        self._open_failed: BaseException | None = None  # not a GitDataError: a bug, raised
        #: batches flushed while the store was being opened: started once it is (git goes on)
        self._queued: list[dict[str, tuple[Pointer, Outcome]]] | None = []
        self._opening = threading.Thread(target=self._open, name="open-store", daemon=True)
        self._open_lock = threading.Lock()
        self._worker = worker
        self._process: FetchProcess | None = None  # made at the first batch (submit)
        if not worker:
            self._opening.start()

    def _open(self) -> None:
        try:
            if os.environ.get(SLOW_OPEN):  # tests: git's first request comes while it opens
                threading.Event().wait(float(os.environ[SLOW_OPEN]))
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
        if self._process is not None:
            self._process.close()
        if self._opening.ident is not None:
            self._opening.join()
        for name in ("_pool", "_spans"):
            pool = getattr(self, name, None)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _start_process(self) -> None:
        """The download process, which opens the store while git goes on; where none can be
        started, the batches run here, as in that process."""
        from .fetch_process import FetchProcess

        try:
            self._process = FetchProcess()
        except OSError:
            self._worker = False
            self._start_opening()

    def _start_opening(self) -> None:
        with self._open_lock:  # the filter's Fetcher opens the store at first need
            if self._opening.ident is None:
                self._opening.start()

    def _opened(self) -> None:
        self._start_opening()
        self._opening.join()
        if self._open_failed is not None:
            raise self._open_failed

    def submit(self, p: Pointer, batch: bool = False) -> Outcome:
        """The download of `p`, started now, or with `batch` at the next flush()."""
        if not batch:
            self._opened()  # not under the lock, which the opening thread takes as it ends
        with self._lock:
            fut = self._outcomes.get(p.oid)
            if fut is None:
                fut = self._outcomes[p.oid] = Outcome()
                if batch:
                    if self._worker and self._process is None:
                        self._start_process()
                    self._batch[p.oid] = (p, fut)
                    if len(self._batch) >= BATCH_MAX:
                        self._flush()
                else:
                    self._pool.submit(self._download, p).add_done_callback(partial(_pass_on, fut))
            return fut

    def flush(self) -> None:
        """Start the batch collected so far."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, {}
            if self._process is not None:
                self._process.send(batch)
            elif self._queued is not None:  # the store is still being opened: never wait here
                self._queued.append(batch)
            else:
                self._pool.submit(self._run_batch, batch)

    def _run_batch(self, batch: dict[str, tuple[Pointer, Outcome]]) -> None:
        """Rebuild what the store keeps in packs, all at once; download the rest whole."""
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
        from .fetch_process import Failed  # not at import: the filter starts without it

        return GitDataError(
            f"{pathname}: {exc.why if isinstance(exc, Failed) else self.why(exc, p)}",
            "set GIT_DATA_SKIP_SMUDGE=1 to check out pointers instead, then run "
            "`git data pull` once the store has the bytes",
        )

    def why(self, exc: BaseException, p: Pointer) -> str:
        """What failed for `p`, said after its path."""
        self._opened()
        where = self.store.describe() if self.setup_error is None else "no store"
        if isinstance(exc, OSError):  # a rebuild from packs that could not write the cache
            from .cache import disk_error

            exc = disk_error(exc, self.ctx.cache.root)
        cause = exc.message if isinstance(exc, GitDataError) else str(exc)
        return f"cannot get the bytes of xxh128:{p.oid} from {where}: {cause}"


def _pass_on(to: Outcome, done: Future[None]) -> None:
    exc = done.exception()
    if exc is None:
        to.set_result(None)
    else:
        to.set_exception(exc)
