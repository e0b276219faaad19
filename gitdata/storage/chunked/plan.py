"""Planning a rebuild (docs/chunked-store.md, 5.2-5.3): what of each file's record is copied
from the cache, and what is fetched from the store, coalesced into few ranged GETs.

A term is copied from the cache when it can be: a range of a cached whole object, or a pack
range whose every frame the local index places in a cached file. The rest are remote pieces.
When the remote pieces cover at least LEARN_MIN bytes of packs whose index this clone has never
read, and cached files have records naming those packs (their bases: an older version this
clone has from its own `git add`, say), the planner chunks those files, fetches the packs'
indexes (packindex.py) and plans again: frames of chunks the cache holds are then copied too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from ...errors import GitDataError
from .. import key_for
from ..fileops import kernel_copy
from .format.manifest import Record, Term
from .manifests import StoreView
from .packindex import fetch_indexes, pack_key

COALESCE_GAP = 1 << 20
GET_MAX = 16 << 20
#: remote bytes in packs never read, from which their indexes are fetched to match bases (5.2)
LEARN_MIN = 4 << 20


class CacheLike(Protocol):
    """What the reader needs of the cache (8.1): where an object is, and a fresh temporary."""

    def path(self, oid: str) -> str: ...

    def temp_path(self) -> AbstractContextManager[str]: ...


@dataclass
class Piece:
    """One term's bytes in the store, and where they go (several files may share a run)."""

    key: str
    offset: int
    length: int
    output: int
    pack: bytes | None  # the pack id; None for a range of a whole object
    dests: list[tuple[str, int]] = field(default_factory=list)  # (oid, file offset)

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class Span:
    key: str
    offset: int
    end: int
    pieces: list[Piece]


@dataclass
class Job:
    """One file being rebuilt."""

    oid: str
    size: int
    tmp: str
    chunks: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # file offset -> chunk
    known: bool = True  # every chunk id is known (no whole-object range): record the list


class Copy(NamedTuple):
    """Bytes of a cached file that go into a file being rebuilt."""

    src: str
    src_offset: int
    offset: int  # in the file being rebuilt
    length: int


def _runs(copies: list[Copy]) -> list[Copy]:
    """`copies` with each run of consecutive bytes of one file into consecutive bytes of the
    rebuilt one made a single copy (an unchanged GiB of an older version: a few copies, not
    one open, seek, read and write per chunk)."""
    out: list[Copy] = []
    for c in copies:
        last = out[-1] if out else None
        if (
            last is not None
            and last.src == c.src
            and last.src_offset + last.length == c.src_offset
            and last.offset + last.length == c.offset
        ):
            out[-1] = last._replace(length=last.length + c.length)
        else:
            out.append(c)
    return out


def coalesce(pieces: list[Piece], gap: int = COALESCE_GAP, most: int = GET_MAX) -> list[Span]:
    """Pieces merged into spans of one key: sorted by offset, no overlap inside a span, a gap
    of at most `gap` between neighbours, a span at most `most` (a single longer piece stays
    whole: pack terms are split at term boundaries only)."""
    merged: dict[tuple[str, int, int, int], Piece] = {}
    for p in pieces:
        same = merged.setdefault((p.key, p.offset, p.length, p.output), p)
        if same is not p:
            same.dests.extend(p.dests)
    spans: list[Span] = []
    for p in sorted(merged.values(), key=lambda p: (p.key, p.offset, p.length, p.output)):
        s = spans[-1] if spans else None
        if (
            s is not None and s.key == p.key and s.end <= p.offset
            and p.offset - s.end <= gap and p.end - s.offset <= most
        ):  # fmt: skip
            s.pieces.append(p)
            s.end = p.end
        else:
            spans.append(Span(p.key, p.offset, p.end, [p]))
    return spans


def split_whole(p: Piece, most: int = GET_MAX) -> list[Piece]:
    """A range of a whole object longer than `most`, in pieces of `most` (split anywhere)."""
    if p.pack is not None or p.length <= most:
        return [p]
    out = []
    for at in range(0, p.length, most):
        n = min(most, p.length - at)
        dests = [(o, off + at) for o, off in p.dests]
        out.append(Piece(p.key, p.offset + at, n, n, None, dests))
    return out


class Planner:
    """Plans the files of one rebuild against the local index and the cache."""

    def __init__(self, view: StoreView, cache: CacheLike) -> None:
        self.view = view
        self.index = view.index
        self.cache = cache
        self._chunk_lists: dict[bytes, dict[int, bytes]] = {}
        #: no chunk of a cached file is known (a fresh clone): no frame can be copied, and
        #: three queries per term are saved
        self._no_local = not self.index.has_local_chunks()

    def plan(self, job: Job, rec: Record) -> tuple[list[Copy], list[Piece]]:
        """What of `rec` is copied from the cache, and the remote pieces of the rest."""
        job.chunks, job.known = {}, True
        copies: list[Copy] = []
        remote: list[Piece] = []
        pos = 0
        for t in rec.terms:
            if t.base_only:  # delta bases: fetched unless the cache holds them all (5.2)
                if self._local_frames(Job("", 0, ""), t, 0) is None:
                    remote.append(Piece(pack_key(t.source), t.offset, t.length, 0, t.source))
                continue
            if t.whole:
                src = self.cache.path(t.source.hex())
                job.known = False  # the chunks of a whole object's range are not known
                if os.path.isfile(src):
                    copies.append(Copy(src, t.offset, pos, t.length))
                else:
                    remote.append(Piece(key_for(t.source.hex()), t.offset, t.length, t.output,
                                        None, [(job.oid, pos)]))  # fmt: skip
            else:
                local = self._local_frames(job, t, pos)
                if local is None:
                    remote.append(
                        Piece(pack_key(t.source), t.offset, t.length, t.output, t.source,
                              [(job.oid, pos)])
                    )  # fmt: skip
                else:
                    copies += local
            pos += t.output
        return _runs(copies), remote  # decode_manifest checked that the outputs add up to the size

    def _local_frames(self, job: Job, t: Term, pos: int) -> list[Copy] | None:
        """The copies of a pack term from the cache, when the index places every frame of it
        there; else None."""
        if self._no_local:
            return None
        pack = self.index.find_pack(self.view.sid, t.source)
        if pack is None:
            return None
        rows = self.index.stored_chunks_at(pack, t.offset, t.offset + t.length)
        at = t.offset
        for r in rows:
            if r.offset != at:
                return None
            at += r.frame_length
        if not rows or at != t.offset + t.length:
            return None
        local = self.index.local_chunks(r.chunk_key for r in rows)
        if any(r.chunk_key not in local for r in rows):
            return None
        places = [local[r.chunk_key] for r in rows]
        if not t.base_only and sum(p.length for p in places) != t.output:
            return None
        paths = [self.cache.path(p.oid.hex()) for p in places]
        if not all(os.path.isfile(p) for p in paths):
            return None
        copies = []
        for place, path in zip(places, paths):
            copies.append(Copy(path, place.offset, pos, place.length))
            cid = self._chunk_id(place.oid, place.offset)
            if cid is None:
                job.known = False
            else:
                job.chunks[pos] = (cid, place.length)
            pos += place.length
        return copies

    def _chunk_id(self, oid: bytes, offset: int) -> bytes | None:
        """The full id of the chunk at `offset` of the cached file `oid`, from its chunk list."""
        if oid not in self._chunk_lists:
            at, ids = 0, {}
            for cid, n in self.index.file_chunks(oid) or []:
                ids[at] = cid
                at += n
            self._chunk_lists[oid] = ids
        return self._chunk_lists[oid].get(offset)

    def learn(self, remote: Iterable[Piece]) -> bool:
        """Before fetching `remote`: when it holds at least LEARN_MIN bytes of packs whose index
        is not known, find the cached files whose records name those packs, chunk the ones
        whose chunk list is not known, and fetch the indexes of the packs they name (5.2).
        Returns whether an index was read (then plan again)."""
        sid = self.view.sid
        unread: dict[bytes, int] = {}
        for p in remote:
            if p.pack in self.view.read_from:
                continue  # the cached files naming it came from it (a batch before this one)
            if p.pack is not None and not self.index.pack_size(sid, p.pack):
                unread[p.pack] = unread.get(p.pack, 0) + p.length
        if sum(unread.values()) < LEARN_MIN:
            return False
        bases: set[bytes] = set()
        packs: list[bytes] = []
        for pid in sorted(unread, key=lambda p: -unread[p]):
            cached = {o for o in self.index.oids_naming(sid, pid)
                      if os.path.isfile(self.cache.path(o.hex()))}  # fmt: skip
            # asked again after the files: a rebuild adds a pack before adopting from it
            if cached and pid not in self.view.read_from:
                bases |= cached
                packs.append(pid)
        if not packs:
            return False
        for oid in sorted(bases):
            if self.index.file_chunks(oid) is None:
                from .chunker import chunk_file

                try:
                    cut = chunk_file(self.cache.path(oid.hex()))
                except (GitDataError, OSError):
                    continue  # no chunker here, or the file went: no dedup against it
                chunks = [(c.id, c.length) for c in cut]
                self.index.put_file(oid, sum(n for _, n in chunks), chunks)
        self._chunk_lists.clear()
        self._no_local = not self.index.has_local_chunks()
        read = fetch_indexes(self.view.store, self.index, sid, packs, self.view.problems)
        return read > 0


def copy_range(src: str, src_off: int, dest: str, dest_off: int, n: int) -> None:
    """Copy `n` bytes of `src` from `src_off` into `dest` (made if missing) at `dest_off`: in
    the kernel where copy_file_range works between the two (on one btrfs or XFS, the blocks are
    shared), else through a bounded buffer."""
    with open(src, "rb") as fin, open(os.open(dest, os.O_WRONLY | os.O_CREAT, 0o644), "wb") as fout:
        done = kernel_copy(fin.fileno(), fout.fileno(), n, (src_off, dest_off))
        fin.seek(src_off + done)
        fout.seek(dest_off + done)
        n -= done
        while n > 0:
            data = fin.read(min(1 << 20, n))
            if not data:
                raise OSError(f"{src} is shorter than the bytes to copy from it")
            fout.write(data)
            n -= len(data)
