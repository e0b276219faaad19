"""What a store says about its chunked files (docs/chunked-store.md, 3.2, 3.4, 4.6, 5.1): its
FORMAT, read once and kept in the local index, and its manifests, listed with one LIST and read
only when the index does not have them yet; their records go into the index, where the reader
chooses one per oid (newest manifest first).

Manifests are synced only for a store that has FORMAT (ChunkedStore.rebuild asks first): the
manifests of a store without it name what pushes relied on, no records. A damaged manifest is
left out (and reported by `problems`), never half used.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from ...errors import GitDataError, ObjectMissing
from .. import Store
from ..keys import FORMAT_KEY, is_key
from .format.common import UnsupportedStore, format_text, parse_format
from .format.manifest import Manifest, Record, decode_manifest
from .index import LocalIndex, StoredRecord

MANIFESTS = "chunked/v1/manifests/"
SUFFIX = ".manifest"
READERS = 8  # manifests read at once by a sync


def manifest_key(mid: bytes) -> str:
    return f"{MANIFESTS}{mid.hex()}{SUFFIX}"


class Synced(NamedTuple):
    listed: int  # manifests in the store
    read: int  # of those, read now (the index lacked them)
    gone: int  # forgotten: the index knew them, the store no longer has them
    emptied: bool = False  # no manifest left of a store the index knew: all of it forgotten


class StoreView:
    """One store as the chunked reader sees it, through the local index."""

    def __init__(self, store: Store, index: LocalIndex) -> None:
        self.store = store
        self.index = index
        self.sid = index.store_id(store.describe())
        self.synced = False
        self.problems: list[GitDataError] = []
        self._readable: bool | None = None
        #: packs this process rebuilt files from: their frames are in the index, and so are the
        #: chunk lists of those files, so the planner does not fetch their indexes to match them
        self.read_from: set[bytes] = set()

    def sync(self) -> Synced:
        """One LIST of the manifests; read the ones the index lacks, forget the ones gone."""
        listing, _ = self.store.list_keys(MANIFESTS)
        listed: dict[bytes, float] = {}
        for k in listing:
            if is_key(k.key) and k.key.endswith(SUFFIX):
                listed[bytes.fromhex(k.key[len(MANIFESTS) : -len(SUFFIX)])] = k.store_time
        known = self.index.manifests(self.sid)
        if not listed and (known or self.index.holds(self.sid, "pack")):
            # A store with no manifest holds nothing to rely on (a store gc deletes the last one
            # only once every pack is dead): it was emptied (a new bucket, a deleted directory)
            # and the packs the index remembers are gone with it (4.6).
            self.index.set_store_format(self.sid, None, forget=True)
            self._readable = None
            self.synced = True
            return Synced(0, 0, len(known), emptied=True)
        gone = known - listed.keys()
        if gone:
            self.index.drop_manifests(self.sid, gone)
        read = 0
        for mid, m in self._read_manifests(sorted(listed.keys() - known)):
            if isinstance(m, ObjectMissing):
                continue  # gc took it since the listing
            if isinstance(m, GitDataError):
                self.problems.append(m)
                continue
            self.index.add_manifest(self.sid, mid, listed[mid], m.records, m.key_chunks)
            read += 1
        self.synced = True
        return Synced(len(listed), read, len(gone))

    def _read_manifests(self, mids: list[bytes]) -> Iterator[tuple[bytes, Manifest | GitDataError]]:
        """Each manifest of `mids` read and decoded, or why not; READERS GETs at once, since a
        clone of a store that many pushes wrote to reads one manifest per push (those younger
        than gc's grace period are never compacted), READERS at most in memory."""

        def read(mid: bytes) -> Manifest | GitDataError:
            try:
                return decode_manifest(self.store.get_bytes(manifest_key(mid)), name=mid.hex())
            except GitDataError as e:
                return e

        if len(mids) < 2:
            yield from ((mid, read(mid)) for mid in mids)
            return
        with ThreadPoolExecutor(max_workers=min(READERS, len(mids))) as pool:
            for i in range(0, len(mids), READERS):
                window = mids[i : i + READERS]
                yield from zip(window, pool.map(read, window))

    def readable(self) -> bool:
        """Whether this gitdata may read the store's chunked files: its FORMAT, from the index,
        else one GET. A store without FORMAT has no chunked files a writer made."""
        if self._readable is None:
            text = self.index.store_format(self.sid)
            if text is None:
                try:
                    data = self.store.get_bytes(FORMAT_KEY)
                except ObjectMissing:
                    self._readable = False
                    return False
                text = data.decode("utf-8", "replace")
                parse_format(data).check_readable()
                self.index.set_store_format(self.sid, text)
            try:
                parse_format(text.encode()).check_readable()
            except UnsupportedStore as e:
                self.index.set_store_format(self.sid, None)
                raise e
            self._readable = True
        return self._readable

    def ensure_writable(self, seen_empty: bool = False) -> None:
        """FORMAT: read (once, kept in the index) and checked for writing; written when
        absent (a first chunked push). `seen_empty`: this push's `auto` decision (7.4) found
        neither FORMAT nor a whole object moments ago, what a GET and a listing would answer
        again: FORMAT is written without asking."""
        text = self.index.store_format(self.sid)
        if text is None:
            try:
                data = None if seen_empty else self.store.get_bytes(FORMAT_KEY)
            except ObjectMissing:
                data = None
            if data is None:
                # 3.2: `legacy-objects no` when this first chunked push finds no whole object
                data = format_text(not seen_empty and self.store.holds_whole_objects())
                self.store.put_bytes(FORMAT_KEY, data)
            text = data.decode("utf-8", "replace")
        fmt = parse_format(text.encode())
        fmt.check_readable()
        fmt.check_writable()
        self.index.set_store_format(self.sid, text)

    def records(self, oid: str) -> list[StoredRecord]:
        """The records of `oid` the index knows for this store, newest manifest first."""
        return self.index.records(self.sid, bytes.fromhex(oid))

    def with_records(self, oids: list[str], sync: bool = True) -> dict[str, list[Record]]:
        """The oids of `oids` that have a record: from the index, else after one manifest sync
        (5.1, steps 1 and 2). Whether they may be read is readable()'s to say."""
        found = {o: [r.record for r in self.records(o)] for o in oids}
        missing = [o for o, rs in found.items() if not rs]
        if missing and sync and not self.synced:
            self.sync()
            for o in missing:
                found[o] = [r.record for r in self.records(o)]
        return {o: rs for o, rs in found.items() if rs}
