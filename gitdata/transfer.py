"""Bulk transfers between the cache and a store: dedup, check first, largest first, in parallel,
with retries for transient failures; failures come back as data (TransferResult), not as the
first exception."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .cache import Cache, disk_error
from .errors import GitDataError
from .output import Progress
from .retry import with_retries
from .storage import Store

if TYPE_CHECKING:
    from .storage.chunked import ChunkedStore


@dataclass
class TransferResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def workers_for(store: Store, configured: int) -> int:
    """How many objects to move at once: `data.transfers`, capped by what the store is worth."""
    return min(configured, store.max_workers or configured)


def upload(
    store: Store,
    cache: Cache,
    sizes: Mapping[str, int],
    workers: int,
    progress: Progress | None = None,
) -> TransferResult:
    """Upload the objects `sizes` names (oid -> size) from the cache."""

    def one(oid: str) -> None:
        src = cache.path(oid)

        def attempt() -> None:
            with _attempt(progress) as advance:
                store.upload(oid, src, sizes[oid], advance)

        with_retries(attempt)

    return _run(one, sizes, workers_for(store, workers), progress)


def download(
    store: Store,
    cache: Cache,
    sizes: Mapping[str, int],
    workers: int,
    progress: Progress | None = None,
    chunked: ChunkedStore | None = None,
) -> TransferResult:
    """Download the objects `sizes` names into the cache, each re-hashed before it enters.
    With `chunked`, the files the store has a record for are rebuilt from packs first, all in
    one batch (docs/chunked-store.md, 5.1-5.3); the others are downloaded whole."""
    rebuilt = TransferResult()
    if chunked is not None and sizes:
        r = chunked.rebuild(sizes, cache, cache.adopt, workers_for(store, workers))
        rebuilt.done = r.done
        rebuilt.failed = {
            oid: disk_error(e, cache.root) if isinstance(e, OSError) else e
            for oid, e in r.failed.items()
        }
        if progress:
            for oid in r.done:
                progress.advance(sizes[oid])
                progress.object_done()
        sizes = {oid: sizes[oid] for oid in r.rest}

    def one(oid: str) -> None:
        download_one(store, cache, oid, sizes.get(oid), progress)

    result = _run(one, sizes, workers_for(store, workers), progress)
    result.done += rebuilt.done
    result.failed.update(rebuilt.failed)
    return result


_readers: dict[tuple[str, str], ChunkedStore] = {}
_readers_lock = threading.Lock()


def chunked_reader(store: Store, data_dir: str) -> ChunkedStore:
    """The chunked side of `store`, with the repository's local index (`<data_dir>/chunked`):
    nothing is opened or listed until a download asks. One per store and repository in a
    process (the filter's smudges and its finish() share it), so that a store's manifests are
    listed once per process."""
    from .storage.chunked import ChunkedStore
    from .storage.chunked.index import index_path

    key = (store.describe(), index_path(data_dir))
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            reader = _readers[key] = ChunkedStore(store, key[1])
        return reader


def download_one(
    store: Store, cache: Cache, oid: str, size: int | None, progress: Progress | None = None
) -> None:
    def attempt() -> None:
        with cache.temp_path() as tmp, _attempt(progress) as advance:
            store.download(oid, tmp, advance, size=size)
            cache.adopt(tmp, oid, size)

    try:
        with_retries(attempt)
    except OSError as e:
        raise disk_error(e, cache.root) from e


@contextmanager
def _attempt(progress: Progress | None) -> Iterator[Callable[[int], None] | None]:
    """The progress callback of one attempt at one object. The bytes of an attempt that fails
    are taken back, so that a retried object is not counted twice."""
    if progress is None:
        yield None
        return
    lock = threading.Lock()
    moved = 0

    def advance(n: int) -> None:
        nonlocal moved
        with lock:
            moved += n
        progress.advance(n)

    try:
        yield advance
    except BaseException:
        progress.advance(-moved)
        raise


def _run(
    fn: Callable[[str], None], sizes: Mapping[str, int], workers: int, progress: Progress | None
) -> TransferResult:
    """Run fn on every oid, largest first, in `workers` threads that pull from one queue.

    No Future per object: with thousands of small objects, a thread pool's per-task futures and
    conditions cost more than a hard link or a 64 KiB copy (a profile of a 5,000-object push
    spent a quarter of its time entering their locks)."""
    result = TransferResult()
    order = sorted(sizes, key=lambda o: -sizes[o])  # largest first: the long pole starts early
    if not order:
        return result
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for oid in order:
        todo.put(oid)
    lock = threading.Lock()
    stop = threading.Event()
    bugs: list[BaseException] = []

    def work() -> None:
        while not stop.is_set():
            try:
                oid = todo.get_nowait()
            except queue.Empty:
                return
            try:
                fn(oid)
                failed = None
            except (GitDataError, OSError) as e:
                failed = e
            except BaseException as e:  # a bug: stop everything, raise it in the caller
                bugs.append(e)
                stop.set()
                return
            with lock:
                if failed is None:
                    result.done.append(oid)
                else:
                    result.failed[oid] = failed
            if progress:
                progress.object_done()

    n = max(1, min(workers, len(order)))
    threads = [threading.Thread(target=work, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # wake up for Ctrl-C
    except BaseException:
        # Ctrl-C: take no new object; the ones under way finish or fail on their own (their
        # temporaries never take a final name)
        stop.set()
        for t in threads:
            t.join()
        raise
    if bugs:
        raise bugs[0]
    return result
