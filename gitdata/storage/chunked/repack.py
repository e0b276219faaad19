"""Repack (docs/chunked-store.md, 7.1 step 7): a pack older than G that no young manifest names
and whose live bytes (the frames chosen records cover) are under REPACK_BELOW of its frame bytes
has its live frames copied, in order, into new packs (packer.PackWriter, frames as they are:
no re-encoding); the chosen records that named it are rewritten onto the new packs, and the old
pack becomes dead. The caller PUTs the compacted manifest with those records after the new
packs, and deletes nothing before both exist (6.1).

Whole objects that records name only in part are repacked by repack_whole.py, onto the same
record rewriting (rewrite_records). Never imports git/, cache, transfer or sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .. import Store, StoredKey
from .format.common import ENC_DELTA, PACK_HEADER, TAIL_FETCH
from .format.manifest import KeyChunk, Record, Term, is_key_chunk
from .format.pack import IndexEntry, decode_frame, index_from_tail, iter_frames, parse_index
from .gc import ChunkedPlan, kill_point
from .packer import ClosedPack, PackWriter
from .reader import pack_key
from .uploads import PackUploads

#: repack a pack whose live frames are under this share of its frame bytes
REPACK_BELOW = 0.5


def live_ranges(p: ChunkedPlan) -> dict[bytes, list[tuple[int, int]]]:
    """Per pack, the union of the frame ranges chosen records cover: sorted (start, end)."""
    raw: dict[bytes, list[tuple[int, int]]] = {}
    for c in p.chosen.values():
        for t in c.record.terms:
            if not t.whole:
                raw.setdefault(t.source, []).append((t.offset, t.offset + t.length))
    return {pid: merge(spans) for pid, spans in raw.items()}


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of the (start, end) spans, as sorted disjoint spans."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def candidates(p: ChunkedPlan, ranges: dict[bytes, list[tuple[int, int]]]) -> list[bytes]:
    """Live packs older than G, named by no young manifest, whose live bytes are under
    REPACK_BELOW of their size (a pack's frame bytes are a little less: see confirm)."""
    out = []
    for pid, k in sorted(p.packs.items()):
        if k.store_time >= p.cutoff or pid in p.young_named or pid in p.dead_packs:
            continue
        live = sum(b - a for a, b in ranges.get(pid, []))
        if live and live < REPACK_BELOW * k.size:
            out.append(pid)
    return out


def pack_index(store: Store, pid: bytes, size: int) -> list[IndexEntry]:
    """A pack's index: its last TAIL_FETCH bytes, then the rest of the index if longer."""
    n = min(TAIL_FETCH, size)
    with store.get_range(pack_key(pid), size - n, n) as f:
        tail = f.read()
    trailer, entries = index_from_tail(tail, size, name=pid.hex())
    if entries is None:
        length = size - 64 - trailer.index_offset
        with store.get_range(pack_key(pid), trailer.index_offset, length) as f:
            entries = parse_index(f.read(), trailer, name=pid.hex())
    return entries


def confirm(
    store: Store, p: ChunkedPlan, ranges: dict[bytes, list[tuple[int, int]]], pids: Iterable[bytes]
) -> list[bytes]:
    """The packs of `pids` whose live bytes are under REPACK_BELOW of their frame bytes."""
    out = []
    for pid in pids:
        entries = pack_index(store, pid, p.packs[pid].size)
        frames = entries[-1].offset + entries[-1].length - PACK_HEADER.size
        if sum(b - a for a, b in ranges[pid]) < REPACK_BELOW * frames:
            out.append(pid)
    return out


@dataclass
class MovedFrame:
    writer: int  # index of the new pack
    offset: int  # in the new pack
    length: int
    raw: int
    span: int  # bytes of the old source it stands for: a pack's frame, or a whole object's range


@dataclass
class Repacked:
    packs: list[ClosedPack] = field(default_factory=list)
    moved: dict[tuple[bytes, int], MovedFrame] = field(default_factory=dict)  # (old source, offset)
    bytes: int = 0  # frame bytes copied


def repack(
    store: Store,
    p: ChunkedPlan,
    ranges: dict[bytes, list[tuple[int, int]]],
    pids: list[bytes],
    tmp_dir: str,
) -> Repacked:
    """Copy the live frames of `pids` into new packs, PUT them, and rewrite the chosen records
    that named the old packs (in `p.chosen`); the old packs become dead."""
    out = Repacked()
    writers: list[PackWriter] = []
    uploads = PackUploads(store, tmp_dir)  # a directory store's packs: in its tmp/, renamed
    try:
        for pid in pids:
            name = pid.hex()
            for start, end in ranges[pid]:
                with store.get_range(pack_key(pid), start, end - start) as f:
                    buf = f.read()
                for at, hdr, frame in iter_frames(buf, start, name=name):
                    if hdr.encoding != ENC_DELTA:  # a delta frame's base may be elsewhere
                        decode_frame(frame, name=name, at=at)
                    if not writers or not writers[-1].fits(len(frame)):
                        writers.append(uploads.new_pack())
                    payload = frame[hdr.head_size :]
                    e = writers[-1].add(
                        hdr.chunk_id, hdr.raw_length, hdr.encoding, payload, hdr.base_id
                    )
                    moved = MovedFrame(len(writers) - 1, e.offset, e.length, e.raw_length, e.length)
                    out.moved[(pid, at)] = moved
                    out.bytes += e.length
        close_packs(writers, uploads, p, out)
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        uploads.close()
    rewrite_records(p, out, set(pids), set())
    for pid in pids:
        p.dead_packs[pid] = p.packs[pid]
    p.repacked_bytes += out.bytes
    return out


def close_packs(
    writers: list[PackWriter], uploads: PackUploads, p: ChunkedPlan, out: Repacked
) -> None:
    """Close and upload each new pack, in order; their key chunks go into the compacted
    manifest, for other clones to find the frames there (2.6), as a push's manifest does."""
    for w in writers:
        closed = w.close()
        uploads.put(closed)
        out.packs.append(closed)
        p.new_key_chunks += [
            KeyChunk(e.chunk_id, closed.pid, e.offset)
            for e in closed.entries
            if is_key_chunk(e.chunk_id) or e.offset == PACK_HEADER.size
        ]
        kill_point("gc-repacked")


def rewrite_records(p: ChunkedPlan, r: Repacked, packs: set[bytes], wholes: set[bytes]) -> None:
    """Rewrite the chosen records that name the repacked `packs` or whole objects `wholes`
    onto the new packs of `r`."""
    new_ids = [c.pid for c in r.packs]

    def moved(t: Term) -> bool:
        return t.source in (wholes if t.whole else packs)

    for c in p.chosen.values():
        if any(moved(t) for t in c.record.terms):
            c.record = _rewrite(c.record, moved, r, new_ids)


def _rewrite(
    rec: Record, moved: Callable[[Term], bool], r: Repacked, new_ids: list[bytes]
) -> Record:
    """`rec` with each term over a repacked source split into runs of frames that sit
    together in one new pack."""
    terms: list[Term] = []
    for t in rec.terms:
        if not moved(t):
            terms.append(t)
            continue
        at: int = t.offset
        run: Term | None = None
        while at < t.offset + t.length:
            f = r.moved[(t.source, at)]
            out = 0 if t.base_only else f.raw
            if (
                run is not None and run.source == new_ids[f.writer]
                and run.offset + run.length == f.offset
            ):  # fmt: skip
                run = run._replace(length=run.length + f.length, output=run.output + out)
            else:
                if run is not None:
                    terms.append(run)
                run = Term(False, new_ids[f.writer], f.offset, f.length, out, t.base_only)
            at += f.span
        if run is not None:
            terms.append(run)
    return rec._replace(terms=tuple(terms))


def sizes(packs: dict[bytes, StoredKey], pids: Iterable[bytes]) -> int:
    return sum(packs[p].size for p in pids)
