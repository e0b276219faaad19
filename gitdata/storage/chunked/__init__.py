"""The chunked store (issue 12; design and byte layouts: docs/chunked-store.md).

Files cut into content-defined chunks, kept as frames in packs of at most 32 MiB, each file
described by a record of byte ranges in packs or whole objects, records collected in one
manifest per push. The design landed in steps (section 8.2); fetches read through it, pushes
write packs and records when a store's `chunked` setting says so (`auto`, built in since step
9: a new store, or one that already has FORMAT); every push writes a manifest (step 2).

Landed so far:
- step 2, what closes the push/store gc race: `runlog.py` (the store gc run log, the push's
  check of it, gc against gc), `manifest_store.py` (a push's manifest, listing and reading
  manifests); the services `push_check.py` and `store_gc.py` call them on every push and
  store gc;
- step 3, formats and chunker: `format/` (FORMAT text, frames, pack index and trailer,
  manifests: pure functions over bytes), `chunker.py` (chunk_file, the compression rule),
  `packer.py` (PackWriter).
- step 4, `index.py`: the local index (SQLite), kept by local gc and fsck.
- step 5, the read path: `manifests.py` (FORMAT, manifest sync into the index), `reader.py`
  (plan, coalesce, fetch, verify, adopt) and ChunkedStore.rebuild below, for the services.
- step 6, the write path: `writer.py` (FORMAT, records, packs), called by gitdata/push_chunked.py.
- step 7, store gc of packs and manifests: `gc.py` (chosen records, live and dead packs and
  manifests, compaction, the fence), `repack.py` (mostly dead packs), `repack_whole.py` (whole
  objects that records name in part), for gitdata/store_gc.py.
- step 8, dedup across clones: `packindex.py` (pack indexes of packs never read), `plan.py` (the
  reader's plan, with the bases it learns), key chunks in `writer.py`, delta frames (`delta.py`).

blake3, pyfastcdc and zstandard are imported only inside this package, and only when used.
Never imports git/, cache, transfer or sync: those call in, not the other way round.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...errors import GitDataError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from .. import Store
    from .index import LocalIndex
    from .manifests import StoreView
    from .reader import Adopt, CacheLike


@dataclass
class RebuildResult:
    done: list[str] = field(default_factory=list)  # rebuilt and in the cache
    failed: dict[str, BaseException] = field(default_factory=dict)  # a record, but it failed
    rest: list[str] = field(default_factory=list)  # no usable record: read the whole object


class ChunkedStore:
    """A store's chunked files, for the services (docs/chunked-store.md, 8.1). Opens the local
    index and lists the store's manifests only when first asked: a store without FORMAT costs
    one GET (its 404) per process, and its manifests are never read."""

    def __init__(self, store: Store, index_path: str) -> None:
        self.store = store
        self.index_path = index_path
        self.problems: list[GitDataError] = []
        self._lock = threading.Lock()
        self._view: StoreView | None = None
        self._index: LocalIndex | None = None

    def view(self) -> StoreView:
        with self._lock:
            if self._view is None:
                from .index import MEMORY, LocalIndex, LocalIndexError
                from .manifests import StoreView

                try:
                    self._index = LocalIndex(self.index_path)
                except LocalIndexError as e:
                    if not e.unwritable:
                        raise  # damaged, or newer: the message says to delete it
                    self.problems.append(e)  # a read-only repository reads all the same
                    self._index = LocalIndex(MEMORY)
                self._view = StoreView(self.store, self._index)
            return self._view

    def prepare(self) -> None:
        """Ask ahead what a first rebuild asks first (the filter does, while git sends the
        files it delays): FORMAT, and for an index that has no manifest of the store yet (a
        fresh clone), one manifest sync. Any error is left for the rebuild to meet."""
        try:
            view = self.view()
            with self._lock:
                if view.readable() and not view.synced and not view.index.manifests(view.sid):
                    view.sync()
        except Exception:  # noqa: BLE001 - asked again by the rebuild, which says what failed
            pass

    def rebuild(
        self,
        sizes: Mapping[str, int | None],
        cache: CacheLike,
        adopt: Adopt,
        workers: int | Executor,
    ) -> RebuildResult:
        """Rebuild into the cache the files of `sizes` (oid -> size from its pointer) that the
        store has a record for (5.1): a record from the index, else after one manifest sync; a
        record that meets a missing pack or whole object is dropped, manifests are synced once
        more and another record is tried. What has no usable record comes back in `rest`."""
        from .reader import MissingPack, Rebuild

        out = RebuildResult()
        view = self.view()
        unreadable: GitDataError | None = None
        try:
            with self._lock:
                readable = view.readable()  # FORMAT: once per store
        except GitDataError as e:  # a newer format, or FORMAT unreadable: said below
            readable, unreadable = True, e
        if not readable:
            # No FORMAT: no writer made records here, every file is a whole object, and the
            # manifests every push writes (what it relied on) are not worth reading: a store
            # that many pushes wrote to would cost a clone one GET per push.
            out.rest = list(sizes)
            return out
        try:
            with self._lock:
                found = view.with_records(list(sizes))
        except GitDataError as e:  # a store that lists nothing to us reads as before
            self.problems.append(e)
            out.rest = list(sizes)
            return out
        if found and unreadable is not None:
            out.failed = dict.fromkeys(found, unreadable)
            out.rest = [oid for oid in sizes if oid not in found]
            return out

        def usable(oid: str, records: list) -> list:  # type: ignore[type-arg]
            return [r for r in records if sizes[oid] is None or r.size == sizes[oid]]

        todo = {oid: usable(oid, found.get(oid, [])) for oid in sizes}
        out.rest = [oid for oid, rs in todo.items() if not rs]
        todo = {oid: rs for oid, rs in todo.items() if rs}
        for attempt in range(2):
            if not todo:
                break
            with view.index.batch():  # what the rebuild learns: a few commits, not 3 per file
                results = Rebuild(view, cache, adopt, workers).run(
                    {o: rs[0] for o, rs in todo.items()}
                )
            missing = []
            for oid, err in results.items():
                if err is None:
                    out.done.append(oid)
                elif isinstance(err, MissingPack):
                    if err.whole:
                        view.index.drop_records_naming(view.sid, err.pid)
                    else:
                        view.index.drop_pack(view.sid, err.pid)
                    missing.append(oid)
                else:
                    out.failed[oid] = err
            if attempt == 0 and missing:
                with self._lock:
                    view.sync()  # gc may have repacked: its manifest has the new record
            todo = {
                o: rs for o in missing if (rs := usable(o, [r.record for r in view.records(o)]))
            }
            out.rest += [o for o in missing if o not in todo or attempt == 1]
        return out

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
