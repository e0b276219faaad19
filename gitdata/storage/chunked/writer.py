"""The write path of the chunked store (docs/chunked-store.md, sections 4.1-4.5): cut the files
a push uploads into chunks, put the chunks the store lacks into packs, upload the packs, and
describe each file by a record of terms (ranges of packs, or of whole objects).

`write_files` takes the files (oid -> size) and where the cache keeps them; it returns the
records, the packs it uploaded and relied on, and the files the same-fs whole rule leaves to
the caller (hard-linked whole, as before). The caller writes the push's manifest after every
upload (P4) and checks the run log. FORMAT is written when the store has none (3.2).

Packs are written by one thread, file after file (4.4 chunks in two), each uploaded in the
background while the next is written; a directory store's are written in its own `tmp/` and
renamed under their keys (uploads.py). Deviations, to be closed later: the defragmentation
guard (4.5 step 2) looks at the terms before a chunk and the chunk after it, not at every term
of the file; `pack.checked` is the client's clock.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...errors import GitDataError
from .. import Store
from .bases import Place, base_chunks, bases_first, places, record_spans, spans
from .chunker import Chunk, FrameEncoder, iter_chunks, zstd_compressor
from .delta import DeltaBase
from .format.common import ENC_DELTA, PACK_HEADER, Buffer
from .format.manifest import KeyChunk, Record, is_key_chunk
from .index import KEY_SIZE, LocalIndex
from .manifests import StoreView
from .packer import ClosedPack
from .packindex import MOST_INDEXES, delta_bases, fetch_indexes
from .terms import Pending, Slot, merge_terms
from .uploads import PackUploads

#: where the index places a stored chunk: pack id, frame offset, frame length, encoding
Stored = tuple[bytes, int, int, int]
#: a key chunk while its pack is open: the pack, the frame's offset, the chunk id
KeyAt = tuple[Slot, int, bytes]
#: files at least this big go whole into a directory store on the cache's file system (4.1)
LINK_MIN = 16 << 20
#: chunk lists of files recorded in the local index in one write
FILES_PER_WRITE = 256
#: test-only: kill the process (SIGKILL) at the named point of the write path
TEST_KILL = "GIT_DATA_TEST_KILL"


def _reused(at: Stored, output: int) -> Pending:
    """The pending term of a chunk the store has, at `at`."""
    return (at[0], False, at[1], at[2], output)


def kill_point(point: str) -> None:
    """A test hook: SIGKILL this process at `point` when GIT_DATA_TEST_KILL names it."""
    if point in os.environ.get(TEST_KILL, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


class Meter(Protocol):  # output.Progress: bytes cut and files done, on the terminal
    def advance(self, nbytes: int) -> None: ...
    def object_done(self) -> None: ...


@dataclass
class Written:
    records: list[Record] = field(default_factory=list)  # of every file written or found
    packs: set[bytes] = field(default_factory=set)  # uploaded or relied on
    wholes: set[bytes] = field(default_factory=set)  # whole objects terms name
    whole: dict[str, int] = field(default_factory=dict)  # for the caller to upload whole
    failed: dict[str, BaseException] = field(default_factory=dict)
    key_chunks: list[KeyChunk] = field(default_factory=list)  # of the packs uploaded (2.6)
    uploaded: int = 0  # bytes of packs uploaded
    pack_count: int = 0  # packs uploaded
    indexes: int = 0  # pack indexes read for key chunks found (4.6)


class _Push:
    def __init__(
        self, store: Store, index: LocalIndex, tmp_dir: str, meter: Meter | None = None
    ) -> None:
        self.store = store
        self.meter = meter
        self.index = index
        self.view = StoreView(store, index)
        self.sid = self.view.sid
        self.slot: Slot | None = None
        self.slots: list[Slot] = []
        #: chunk id -> its frame in this push: pack, offset, length, encoding
        self.new: dict[bytes, tuple[Slot, int, int, int]] = {}
        self.delta_of: dict[bytes, Pending] = {}  # delta frame of this push -> its base's frame
        self.bases_in: dict[bytes, dict[bytes, bytes]] = {}  # pack -> delta_bases(pack)
        self.keys: list[KeyAt] = []  # key chunks: pack, frame offset, id
        self.key_ids: set[bytes] = set()  # of the key chunks manifests list (4.6)
        self.stored_any = True  # the index places some chunk in this store: look chunks up
        self.out = Written()
        self.uploads = PackUploads(store, tmp_dir)
        self.zstd = zstd_compressor()  # one for every file's FrameEncoder
        self.files: list[tuple[bytes, int, list[tuple[bytes, int]]]] = []  # for put_files

    def _frame_slot(self, length: int) -> Slot:
        if self.slot is not None and self.slot.writer is not None:
            if self.slot.writer.fits(length):
                return self.slot
            self._upload(self.slot)
        self.slot = Slot(self.uploads.new_pack())
        self.slots.append(self.slot)
        return self.slot

    def _upload(self, slot: Slot) -> None:
        """Close the pack of `slot` and start its upload (uploads.py: behind the next pack)."""
        assert slot.writer is not None
        closed = slot.writer.close()
        slot.writer, slot.pid = None, closed.pid
        kill_point("pack-closed")
        self.uploads.start(closed, self._uploaded)

    def _uploaded(self, closed: ClosedPack) -> None:
        kill_point("pack-uploaded")
        row = self.index.pack_row(self.sid, closed.pid, closed.size, time.time())
        self.index.put_stored_chunks(
            self.sid, row, [(e.chunk_id, e.offset, e.length, e.encoding) for e in closed.entries]
        )
        self.out.uploaded += closed.size
        self.out.pack_count += 1
        self.out.packs.add(closed.pid)

    def chunk_file(
        self, oid: str, size: int, path: str, base: Mapping[bytes, Place], delta: DeltaBase | None
    ) -> tuple[list[Pending], Sequence[Pending]]:
        """The pending terms of one file, and the frames its delta frames need as bases; its
        new chunks go into this push's packs. `base`: where its base's chunks lie in whole
        objects of the store (4.5 step 1, base-whole; bases.py).

        Defragmentation guard (4.5 step 2): a stored chunk alone in a pack that no earlier
        term of the file uses, and that the next chunk does not continue (a run of one, under
        the design's MIN_REUSE_RUN of 2), is written again as new, so that coincidental
        single chunks never scatter a file over other pushes' packs. It is held, its bytes
        copied, until the next chunk says; a file of one chunk keeps it (one range either
        way)."""
        encoder = FrameEncoder(self.zstd)
        pending: list[Pending] = []
        bases: list[Pending] = []  # the frames of the delta frames' bases
        chunks: list[tuple[bytes, int]] = []
        used: set[bytes] = set()  # the stored packs terms of this file use so far
        held: tuple[Chunk, bytes, Stored] | None = None  # a stored chunk, run of one so far
        first = None  # the key chunk a file of two chunks or more starts with, if new
        with open(path, "rb", buffering=0) as f:
            for chunk, data in iter_chunks(f):
                chunks.append((chunk.id, chunk.length))
                n = chunk.length
                s = None if chunk.id in self.new else self._stored(chunk.id, base)
                if held is not None:  # reused if this chunk continues its run, else new
                    c, b, at = held
                    held = None
                    if s is not None and s[1] is None and s[0][0] == at[0]:
                        used.add(at[0])
                        pending.append(_reused(at, c.length))
                    else:
                        term, k = self._new(c, b, len(chunks) - 2, encoder, delta, bases)
                        first = first or k
                        pending.append(term)
                if delta is not None:
                    delta.shared(chunk.id, chunk.offset)
                t: Pending
                if chunk.id in self.new:
                    slot, off, flen, enc = self.new[chunk.id]
                    t = (slot, False, off, flen, n)
                    if enc == ENC_DELTA:  # its base goes with it
                        bases.append(self.delta_of[chunk.id])
                elif s is not None:
                    if s[1] is None and s[0][0] not in used:
                        held = (chunk, bytes(data), s[0])
                        self._advance(n)
                        continue
                    used.add(s[0][0])
                    t = _reused(s[0], n)
                    if s[1] is not None:  # a delta frame: its base goes with it
                        bases.append(s[1])
                elif chunk.id in base:
                    t = (base[chunk.id][0], True, base[chunk.id][1], n, n)
                else:
                    t, k = self._new(chunk, data, len(chunks) - 1, encoder, delta, bases)
                    first = first or k
                pending.append(t)
                self._advance(n)
        if held is not None:
            c, b, at = held
            if len(chunks) == 1:
                pending.append(_reused(at, c.length))
            else:
                term, k = self._new(c, b, len(chunks) - 1, encoder, delta, bases)
                first = first or k
                pending.append(term)
        if self.meter is not None:
            self.meter.object_done()
        if first is not None and len(chunks) > 1:
            self.keys.append(first)
        self.files.append((bytes.fromhex(oid), size, chunks))
        if len(self.files) >= FILES_PER_WRITE:
            self.put_files()
        return pending, bases or ()  # most files have no delta frame: no list kept for them

    def _new(
        self,
        chunk: Chunk,
        data: Buffer,
        i: int,
        encoder: FrameEncoder,
        delta: DeltaBase | None,
        bases: list[Pending],
    ) -> tuple[Pending, KeyAt | None]:
        """Write chunk `i` of a file as a new frame of this push (a delta frame when one pays,
        4.5 step 3): its pending term, and its key if it is the file's first chunk and no key
        chunk otherwise (kept when the file has two chunks or more)."""
        n = chunk.length
        found = self._delta(delta, data, chunk.offset, n) if delta else None
        base_id = None
        if found is None:
            enc, payload = encoder.encode(data)
        else:
            enc, payload, base_id, where = ENC_DELTA, found[0], found[1], found[2]
            bases.append(where)
            self.delta_of[chunk.id] = where
        slot = self._frame_slot(44 + (32 if base_id else 0) + len(payload))
        assert slot.writer is not None
        e = slot.writer.add(chunk.id, n, enc, payload, base_id)
        self.new[chunk.id] = (slot, e.offset, e.length, enc)
        key: KeyAt = (slot, e.offset, chunk.id)
        if is_key_chunk(chunk.id) or e.offset == PACK_HEADER.size:
            self.keys.append(key)
            return (slot, False, e.offset, e.length, n), None
        return (slot, False, e.offset, e.length, n), key if i == 0 else None

    def _advance(self, n: int) -> None:
        if self.meter is not None:
            self.meter.advance(n)

    def put_files(self) -> None:
        """Record the chunk lists of the files cut since the last call (one index write)."""
        if self.files:
            self.index.put_files(self.files)
            self.files = []

    def _delta(
        self, delta: DeltaBase, data: Buffer, offset: int, length: int
    ) -> tuple[bytes, bytes, Pending] | None:
        """(payload, base id, the base's frame) of a delta frame for a new chunk, if one pays
        (4.5 step 3): its base stored with encoding 0 or 1, in this push or before."""
        cand = delta.candidate(offset, length)
        if cand is None:
            return None
        cid, boff, blen = cand
        where: Pending
        if cid in self.new:
            slot, off, flen, enc = self.new[cid]
            where = (slot, False, off, flen, 0)
        elif (s := self.index.stored_chunk(self.sid, cid)) is not None:
            enc, where = s[3], (s[0], False, s[1], s[2], 0)
        else:
            return None
        if enc == ENC_DELTA:
            return None
        payload = delta.encode(data, boff, blen)
        return None if payload is None else (payload, cid, where)

    def _stored(
        self, cid: bytes, base: Mapping[bytes, Place]
    ) -> tuple[Stored, Pending | None] | None:
        """Where the store keeps chunk `cid`: from the index, else, when a manifest's key
        chunks place it in a pack whose index this clone has not read, from that index (4.6:
        read at the first key chunk met, so the chunks after it in that pack are found too).
        A delta frame comes with its base's frame, which the record names (a base-only term)
        for a clone that lacks it: learnt from the delta frames' headers (packindex.py), else
        the frame is not reused."""
        found = self.index.stored_chunk(self.sid, cid) if self.stored_any else None
        if found is None and cid[:KEY_SIZE] in self.key_ids and cid not in base:
            packs = self.index.key_chunk_packs(self.sid, [cid])
            if packs and self.out.indexes < MOST_INDEXES:
                problems = self.view.problems
                self.out.indexes += fetch_indexes(self.store, self.index, self.sid, packs, problems)
                self.stored_any = True
                found = self.index.stored_chunk(self.sid, cid)
        if found is None or found[3] != ENC_DELTA:
            return None if found is None else (found, None)
        pid = found[0]
        if pid not in self.bases_in:
            self.bases_in[pid] = delta_bases(self.store, self.index, self.sid, pid)
        base_id = self.bases_in[pid].get(cid[:KEY_SIZE])
        b = self.index.stored_chunk(self.sid, base_id) if base_id is not None else None
        if b is None or b[3] == ENC_DELTA:
            return None
        return found, (b[0], False, b[1], b[2], 0)

    def finish(self) -> None:
        if self.slot is not None and self.slot.writer is not None:
            self._upload(self.slot)
        self.uploads.settle()
        self.uploads.close()
        for slot, off, cid in self.keys:
            assert slot.pid is not None
            self.out.key_chunks.append(KeyChunk(cid, slot.pid, off))

    def abort(self) -> None:
        for s in self.slots:
            if s.writer is not None:
                s.writer.abort()
        self.uploads.close()


def write_files(
    store: Store,
    index: LocalIndex,
    files: Mapping[str, int],
    path_of: Callable[[str], str],
    tmp_dir: str,
    *,
    bases: Mapping[str, str] | None = None,
    whole_bases: Collection[str] = (),
    same_fs: bool = False,
    copy: Collection[str] = (),
    meter: Meter | None = None,
    seen_empty: bool = False,
) -> Written:
    """Write `files` (oid -> size, all in the cache at `path_of(oid)`) into `store` as records
    (4.1, steps 1, 3 and 4): the big ones first, the others in the order of `files` (the
    caller's path order, 4.5 step 5). `bases`: oid -> the oid of its base (4.2), used when the
    base is in the cache; `whole_bases`: bases the store holds as whole objects, whose
    unchanged ranges the records name instead of storing them again; `copy`: files not in the
    cache whose records the store has, copied into the push's manifest; `seen_empty`: the push
    found neither FORMAT nor a whole object in the store (ensure_writable)."""
    bases = bases or {}
    push = _Push(store, index, tmp_dir, meter)
    out = push.out
    push.view.sync()  # first: a store found emptied is forgotten, FORMAT with it
    push.view.ensure_writable(seen_empty)
    push.key_ids, push.stored_any = index.key_ids(push.sid), index.holds(push.sid, "stored_chunk")
    kill_point("synced")
    for oid in copy:
        out.records += [r.record for r in push.view.records(oid)][:1]
    todo: list[str] = []
    for oid in sorted(files, key=lambda o: -files[o] if files[o] >= LINK_MIN else 0):
        size = files[oid]
        known = [r.record for r in push.view.records(oid) if r.record.size == size]
        if known:  # the store has a record: copy it into this push's manifest (4.8)
            out.records.append(known[0])
            continue
        if same_fs and size >= LINK_MIN:
            out.whole[oid] = size  # 4.1 step 3: hard-linked whole, with a base or not
            continue
        todo.append(oid)
    pending: dict[str, tuple[list[Pending], Sequence[Pending]]] = {}
    # a base that goes whole in this push is a whole object by the manifest (P4)
    whole_bases = set(whole_bases) | set(out.whole)
    present: dict[bytes, bool] = {}  # whole objects the bases' records name: in the store?
    try:
        for oid in bases_first(todo, bases):
            base = bases.get(oid)
            base_map: dict[bytes, Place] = {}
            delta = None
            if base is not None and os.path.isfile(path_of(base)):
                push.put_files()  # its chunk list, if this push cut it
                delta = DeltaBase(path_of(base), base_chunks(index, base, path_of(base)))
                n = sum(c[1] for c in delta.chunks)
                if base in whole_bases:  # its whole object, else the ranges its record names
                    within = [(0, bytes.fromhex(base), 0, n)]
                elif base in pending:  # pushed in this run
                    within = spans(pending[base][0])
                else:
                    within = record_spans(push.view, store, base, n, present)
                base_map = places(delta.chunks, within)
            try:
                p, deltas = push.chunk_file(oid, files[oid], path_of(oid), base_map, delta)
                pending[oid] = (p, deltas)
            except OSError as e:
                out.failed[oid] = e
            finally:
                if delta is not None:
                    delta.close()
        push.put_files()
        push.finish()
    except BaseException:
        push.abort()
        raise
    kill_point("packs-uploaded")
    del push  # its table of new chunks, before the records are built: a peak of a push
    for oid in list(pending):  # each file's pending terms go as its record comes
        rec = Record(bytes.fromhex(oid), files[oid], merge_terms(*pending.pop(oid)))
        if sum(t.output for t in rec.terms) != rec.size:
            out.failed[oid] = GitDataError(f"xxh128:{oid} changed in the cache while pushed")
            continue
        out.records.append(rec)
    for rec in out.records:
        for t in rec.terms:
            (out.wholes if t.whole else out.packs).add(t.source)
    return out
