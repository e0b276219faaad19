"""Fetching the index of a pack this clone has never read (docs/chunked-store.md, 3.3, 4.6,
5.2): the reader does it to place the frames of a cached base, the writer when a key chunk
points at a pack; either way every frame of the pack enters `stored_chunk`.

One ranged GET of the pack's last TAIL_FETCH bytes (64 KiB: the index of a full pack of 72 KiB
chunks is 25 KiB), a second for the rest of a longer index, and a HEAD first when the index
does not know the pack's size (a pack seen only through frames read from it, or a key chunk).
The trailer's magic and the index's BLAKE3 are checked; a corrupt or missing pack is left
out (only dedup is lost), never half used. A pack whose `pack.size` is known has had its whole
index entered (its writer, or a fetch): it is not fetched again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ...errors import GitDataError, ObjectMissing
from .. import Store
from .format.common import ENC_DELTA, PACK_MAX, TAIL_FETCH, TRAILER, CorruptPack
from .format.pack import IndexEntry, index_from_tail, parse_frame_header, parse_index
from .index import KEY_SIZE, LocalIndex

#: pack indexes fetched at most per push or per fetch (4.6, 5.2)
MOST_INDEXES = 64


def pack_key(pid: bytes) -> str:
    h = pid.hex()
    return f"chunked/v1/packs/{h[:2]}/{h}.pack"


def _read(store: Store, key: str, offset: int, length: int) -> bytes:
    parts, n = [], 0
    with store.get_range(key, offset, length) as f:
        while n < length and (data := f.read(length - n)):
            parts.append(data)
            n += len(data)
    if n != length:
        raise CorruptPack(f"corrupt pack: {key} ended early", "check the store and try again")
    return b"".join(parts)


def fetch_index(store: Store, index: LocalIndex, sid: int, pid: bytes) -> list[IndexEntry]:
    """Read the index of pack `pid` into `stored_chunk`; return its entries. ObjectMissing
    when the pack is gone, CorruptPack when its index fails a check."""
    key = pack_key(pid)
    size = index.pack_size(sid, pid) or 0
    if not size:
        found = store.head(key)
        if found is None:
            raise ObjectMissing(f"store {store.describe()} does not have {key}")
        size = found.size
    n = min(TAIL_FETCH, size)
    tail = _read(store, key, size - n, n)
    trailer, entries = index_from_tail(tail, size, name=pid.hex())
    if entries is None:
        start = trailer.index_offset
        rest = _read(store, key, start, size - TRAILER.size - start)
        entries = parse_index(rest, trailer, name=pid.hex())
    row = index.pack_row(sid, pid, size, time.time())
    frames = [(e.chunk_id, e.offset, e.length, e.encoding) for e in entries]
    index.put_stored_chunks(sid, row, frames)
    return entries


def fetch_indexes(
    store: Store, index: LocalIndex, sid: int, pids: Iterable[bytes], problems: list[GitDataError]
) -> int:
    """fetch_index for each of `pids` whose index is not known yet (at most MOST_INDEXES);
    a pack that cannot be read is left out and said in `problems`. Returns how many were read."""
    done = 0
    for pid in pids:
        if done >= MOST_INDEXES:
            break
        if index.pack_size(sid, pid):
            continue
        try:
            fetch_index(store, index, sid, pid)
        except (GitDataError, OSError) as e:
            problems.append(e if isinstance(e, GitDataError) else GitDataError(str(e)))
            continue
        done += 1
    return done


#: the span of a pack's delta frames read in one GET to learn their bases, at most
DELTA_SPAN_MAX = 8 << 20


def delta_bases(store: Store, index: LocalIndex, sid: int, pid: bytes) -> dict[bytes, bytes]:
    """The base ids of the delta frames the index places in pack `pid` (4.5: a record that
    names a delta frame also names its base), keyed by the first KEY_SIZE bytes of the delta's
    id: read from their frame headers in one ranged GET over them (none when they spread over
    more than DELTA_SPAN_MAX). A frame that fails a check is left out."""
    row = index.find_pack(sid, pid)
    frames = index.stored_chunks_at(row, 0, PACK_MAX) if row is not None else []
    rows = [r for r in frames if r.encoding == ENC_DELTA]
    if not rows or rows[-1].offset + rows[-1].frame_length - rows[0].offset > DELTA_SPAN_MAX:
        return {}
    start = rows[0].offset
    try:
        data = _read(store, pack_key(pid), start, rows[-1].offset + rows[-1].frame_length - start)
    except (GitDataError, OSError):
        return {}
    out = {}
    for r in rows:
        try:
            hdr = parse_frame_header(data, r.offset - start, name=pid.hex(), at=r.offset)
        except CorruptPack:
            continue
        if hdr.base_id is not None and hdr.chunk_id[:KEY_SIZE] == r.chunk_key:
            out[r.chunk_key] = hdr.base_id
    return out
