"""Rebuilding files from their records (docs/chunked-store.md, 5.2-5.5).

For each file: a temporary file in the cache's `tmp/`, created by its first write and filled term
by term at each term's file offset (a file-size limit bites there: EFBIG). A term is copied from
the cache when it can be (a range of a cached whole object; a pack range whose every frame the
local index places in a cached file, after reading the indexes of packs that cached bases were
written to: plan.py), else it is a remote piece.
Remote pieces of all the files are sorted by (key, offset) and coalesced into few ranged GETs
(gaps up to COALESCE_GAP, spans up to GET_MAX), fetched by `workers` threads, each streamed in
1 MiB reads: no file, pack or span is ever held whole in memory. Every frame is
decoded and its BLAKE3 checked against its id; every file is handed to `adopt` (Cache.adopt),
which checks its XXH3-128 against the oid before it enters the cache: wrong bytes never do.
A file is adopted by the thread that writes its last remote piece, while the other threads
still fetch (its caller may use it at once: `adopt` may say so); the files no piece completes
(all copied from the cache, or waiting for a delta frame read before its base) are adopted by
the threads at the end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from typing import BinaryIO

from ...errors import GitDataError, ObjectMissing
from .format.common import ENC_DELTA, FRAME_HEADER, ID_SIZE, CorruptPack
from .format.manifest import Record
from .format.pack import decode_frame, parse_frame_header
from .index import KEY_SIZE
from .manifests import StoreView
from .packindex import pack_key
from .plan import (
    GET_MAX,
    CacheLike,
    Copy,
    Job,
    Piece,
    Planner,
    Span,
    coalesce,
    copy_range,
    split_whole,
)

__all__ = ["GET_MAX", "Adopt", "CacheLike", "MissingPack", "Piece", "Rebuild", "pack_key"]
__all__ += ["coalesce", "split_whole"]

READ_SIZE = 1 << 20
REPUSH = "nothing from it was used; push the files that need it again from a clone that has them"

Adopt = Callable[[str, str, int], None]  # (temporary, oid, size): verify and move into place


class MissingPack(GitDataError):
    """A record names a pack, or a range of a whole object (`whole`), that the store no longer
    has (a gc repacked it): try another record."""

    def __init__(self, pid: bytes, cause: GitDataError, whole: bool = False) -> None:
        super().__init__(cause.message, cause.hint)
        self.pid = pid  # the pack id, or the whole object's oid
        self.whole = whole


class Rebuild:
    """One batch of files rebuilt together, so that their remote pieces coalesce."""

    def __init__(
        self, view: StoreView, cache: CacheLike, adopt: Adopt, workers: int | Executor
    ) -> None:
        """`workers`: how many threads fetch, or a pool shared by the rebuilds that run at
        once (the filter's), so that their threads, a few MiB each, do not add up."""
        self.view = view
        self.index = view.index
        self.cache = cache
        self.adopt = adopt
        self.workers = workers if isinstance(workers, Executor) else max(1, workers)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        #: delta bases (5.2): chunk id -> (file, offset, length) of its raw bytes, from frames
        #: written to the files being rebuilt or kept from base-only terms in `_spill`
        self._raw: dict[bytes, tuple[str, int, int]] = {}
        self._spill = ""
        self._spilled = 0
        #: delta frames read before their base: (piece, output offset, frame, at)
        self._deferred: list[tuple[Piece, int, bytes, int]] = []
        #: oid -> (piece, destination) pairs not yet written; a file is adopted as soon as its
        #: last one is, unless it waits for a deferred delta frame (`_waiting`)
        self._left: dict[str, int] = {}
        self._waiting: set[str] = set()
        self._result: dict[str, BaseException | None] = {}
        self._learned: list[tuple[bytes, int, list[tuple[bytes, int]]]] = []  # for put_files

    def run(self, records: Mapping[str, Record]) -> dict[str, BaseException | None]:
        """Rebuild every file of `records` (oid -> the record chosen); return oid -> None when
        it entered the cache, else its error (MissingPack: another record may do)."""
        result = self._result = {}
        planner = Planner(self.view, self.cache)
        with ExitStack() as stack:
            jobs = self._jobs = {}
            self._spill = stack.enter_context(self.cache.temp_path())
            plans: dict[str, tuple[list[Copy], list[Piece]]] = {}

            def plan(oid: str) -> None:
                try:
                    plans[oid] = planner.plan(jobs[oid], records[oid])
                except (GitDataError, OSError) as e:
                    result[oid] = e

            for oid, rec in records.items():
                tmp = stack.enter_context(self.cache.temp_path())
                try:  # else created by its first write, in the fetching threads
                    if not rec.size:
                        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                except OSError as e:
                    result[oid] = e
                    continue
                jobs[oid] = Job(oid, rec.size, tmp)
                plan(oid)
            if planner.learn(p for _, remote in plans.values() for p in remote):
                for oid in list(plans):  # pack indexes were read: frames in the cache are copied
                    plan(oid)
            pieces: list[Piece] = []
            for oid, (copies, remote) in plans.items():
                try:
                    for c in copies:
                        copy_range(c.src, c.src_offset, jobs[oid].tmp, c.offset, c.length)
                except OSError as e:
                    result[oid] = e
                    continue
                pieces += remote
            # delta bases of base-only terms first, so that few deltas wait in memory for them
            bases = [p for p in pieces if p.output == 0]
            rest = [q for p in pieces if p.output for q in split_whole(p)]
            stages = [coalesce(bases), coalesce(rest)]
            for p in (p for spans in stages for span in spans for p in span.pieces):
                for oid, _ in p.dests:
                    self._left[oid] = self._left.get(oid, 0) + 1
            with (
                nullcontext(self.workers)
                if isinstance(self.workers, Executor)
                else ThreadPoolExecutor(max_workers=self.workers)
            ) as pool:
                for spans in stages:  # files are adopted by the threads as they complete
                    for failed in pool.map(self._fetch_span, spans):
                        with self._lock:
                            for oid, err in failed.items():
                                result.setdefault(oid, err)
                for oid, err in self._late_deltas().items():
                    result.setdefault(oid, err)
                # the files no span completed: all copies, or waiting for a late delta frame
                list(pool.map(self._adopt, [o for o in jobs if o not in result]))
            if self._learned:
                self.index.put_files(self._learned)  # one write, not one per file
        return result

    def _adopt(self, oid: str) -> None:
        """Hand a complete file to `adopt` (it verifies it against its oid); learn its chunks
        where they came from frames; let later delta frames find their bases in the cache."""
        job = self._jobs[oid]
        try:
            self.adopt(job.tmp, oid, job.size)
        except (GitDataError, OSError) as e:
            with self._lock:
                self._result.setdefault(oid, e)
            return
        with self._lock:
            self._result[oid] = None
            final = self.cache.path(oid)
            for off, (cid, n) in job.chunks.items():
                if self._raw.get(cid, ("",))[0] == job.tmp:
                    self._raw[cid] = (final, off, n)
        self._remember(job)

    def _written(self, p: Piece) -> None:
        """`p` is in every file it goes to: adopt the files it completes."""
        ready = []
        with self._lock:
            for oid, _ in p.dests:
                self._left[oid] -= 1
                if not self._left[oid] and oid not in self._waiting and oid not in self._result:
                    ready.append(oid)
        for oid in ready:
            self._adopt(oid)

    # -- fetching -----------------------------------------------------------------------

    def _fetch_span(self, span: Span) -> dict[str, BaseException]:
        """Fetch one span; return the files it failed (a corrupt frame fails the files of its
        piece only; a failed request, every file of the span)."""
        failed: dict[str, BaseException] = {}
        stored: list[tuple[bytes, int, int, int]] = []  # the frames read, for the index
        pack = span.pieces[0].pack  # a span is one key: one pack, or a whole object
        if pack is not None:  # before any of its files is adopted (Planner.learn)
            self.view.read_from.add(pack)
        try:
            with self.view.store.get_range(span.key, span.offset, span.end - span.offset) as raw:
                s = _Counted(raw, span.offset)
                for p in span.pieces:
                    _skip(s, p.offset - s.pos, p.key)
                    try:
                        if p.pack is None:
                            self._whole_piece(s, p)
                        else:
                            stored += self._pack_piece(s, p)
                    except CorruptPack as e:  # its files are never complete: not adopted
                        for oid, _ in p.dests:
                            failed.setdefault(oid, e)
                        _skip(s, p.end - s.pos, p.key)
                        continue
                    self._written(p)
        except (GitDataError, OSError) as e:
            if isinstance(e, ObjectMissing):
                e = (
                    MissingPack(pack, e)
                    if pack is not None
                    else MissingPack(bytes.fromhex(span.key.rsplit("/", 1)[-1]), e, whole=True)
                )  # a whole object's key ends with its oid (storage.key_for)
            for p in span.pieces:
                for oid, _ in p.dests:
                    failed.setdefault(oid, e)
        if stored and pack is not None:  # one write for the span's frames
            row = self.index.pack_row(self.view.sid, pack, 0, 0.0)
            self.index.put_stored_chunks(self.view.sid, row, stored)
        return failed

    def _whole_piece(self, s: _Counted, p: Piece) -> None:
        done = 0
        while done < p.length:
            data = _read_exact(s, min(READ_SIZE, p.length - done), p.key)
            for oid, off in p.dests:
                self._write(oid, off + done, data)
            done += len(data)

    def _pack_piece(self, s: _Counted, p: Piece) -> list[tuple[bytes, int, int, int]]:
        """Write the frames of one pack piece; return them (id, offset, length, encoding)."""
        assert p.pack is not None
        name, at, out, stored = p.pack.hex(), p.offset, 0, []
        while at < p.end:
            head = _read_exact(s, FRAME_HEADER.size, p.key)
            if head[0] == ENC_DELTA:
                head += _read_exact(s, ID_SIZE, p.key)
            hdr = parse_frame_header(head, name=name, at=at)
            if at + hdr.size > p.end:
                raise CorruptPack(
                    f"corrupt frame in pack {name} at {at}: it crosses its term's end", REPUSH
                )
            frame = head + _read_exact(s, hdr.payload_length, p.key)
            stored.append((hdr.chunk_id, at, hdr.size, hdr.encoding))
            base = self._base(hdr.base_id) if hdr.encoding == ENC_DELTA else None
            if hdr.encoding == ENC_DELTA and base is None:  # its base may come later
                with self._lock:
                    self._deferred.append((p, out, frame, at))
                    self._waiting.update(oid for oid, _ in p.dests)
            else:
                _, raw = decode_frame(frame, base_raw=base, name=name, at=at)
                if p.output == 0:  # a base-only term: kept for the delta frames
                    self._keep(hdr.chunk_id, raw)
                for oid, off in p.dests:
                    self._write(oid, off + out, raw, (hdr.chunk_id, len(raw)))
            at += hdr.size
            out += hdr.raw_length
        if p.output and out != p.output:
            raise CorruptPack(
                f"corrupt pack {name}: the frames at {p.offset} hold {out} bytes, "
                f"the record says {p.output}",
                REPUSH,
            )
        return stored

    def _base(self, base_id: bytes | None) -> bytes | None:
        """The raw bytes of a delta frame's base (5.2): from the cache, else from a frame this
        rebuild decoded (a base-only term, or a frame of a file being rebuilt); else None."""
        assert base_id is not None
        place = self.index.local_chunks([base_id]).get(base_id[:KEY_SIZE])
        where = [(self.cache.path(place.oid.hex()), place.offset, place.length)] if place else []
        with self._lock:
            if base_id in self._raw:
                where.append(self._raw[base_id])
        for path, off, n in where:
            try:
                with open(path, "rb") as f:
                    f.seek(off)
                    raw = f.read(n)
            except OSError:
                continue
            if len(raw) == n:
                return raw
        return None

    def _keep(self, cid: bytes, raw: bytes) -> None:
        """Keep the raw bytes of a delta base from a base-only term, in the spill file."""
        with self._lock:
            if cid in self._raw:
                return
            with open(self._spill, "ab") as f:
                f.write(raw)
            self._raw[cid] = (self._spill, self._spilled, len(raw))
            self._spilled += len(raw)

    def _late_deltas(self) -> dict[str, BaseException]:
        """Decode the delta frames read before their base, once every span is in."""
        failed: dict[str, BaseException] = {}
        for p, out, frame, at in self._deferred:
            assert p.pack is not None
            name = p.pack.hex()
            hdr = parse_frame_header(frame, name=name, at=at)
            base = self._base(hdr.base_id)
            try:
                if base is None:
                    raise CorruptPack(
                        f"corrupt frame in pack {name} at {at}: its delta base is not in the cache",
                        "its record names no frame that holds the base; push the file again from "
                        "a clone that has it",
                    )
                _, raw = decode_frame(frame, base_raw=base, name=name, at=at)
            except CorruptPack as e:
                for oid, _ in p.dests:
                    failed.setdefault(oid, e)
                continue
            if p.output == 0:
                self._keep(hdr.chunk_id, raw)
            for oid, off in p.dests:
                self._write(oid, off + out, raw, (hdr.chunk_id, len(raw)))
        self._deferred = []
        return failed

    def _write(
        self, oid: str, off: int, data: bytes, chunk: tuple[bytes, int] | None = None
    ) -> None:
        job = self._jobs[oid]
        fd = os.open(job.tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            view, at = memoryview(data), off
            while view:
                n = os.pwrite(fd, view, at)
                view, at = view[n:], at + n
        finally:
            os.close(fd)
        if chunk is not None:
            with self._lock:
                job.chunks[off] = chunk
                self._raw.setdefault(chunk[0], (job.tmp, off, chunk[1]))

    def _remember(self, job: Job) -> None:
        """Record the chunk list of a file every chunk of which came from a frame or a known
        local chunk, so that its next version dedups against it (5.2)."""
        if not job.known:
            return
        at, chunks = 0, []
        for off in sorted(job.chunks):
            if off != at:
                return
            chunks.append(job.chunks[off])
            at += job.chunks[off][1]
        if at == job.size and chunks:
            with self._lock:
                self._learned.append((bytes.fromhex(job.oid), job.size, chunks))


class _Counted:
    """A span's stream, and the store offset of its next byte."""

    def __init__(self, stream: BinaryIO, pos: int) -> None:
        self.stream = stream
        self.pos = pos

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.pos += len(data)
        return data


def _read_exact(s: _Counted, n: int, key: str) -> bytes:
    data = s.read(n)
    if len(data) != n:
        raise CorruptPack(f"corrupt pack: {key} ended early", REPUSH)
    return data


def _skip(s: _Counted, n: int, key: str) -> None:
    while n > 0:
        n -= len(_read_exact(s, min(n, READ_SIZE), key))
