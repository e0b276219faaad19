"""The base of a file on the write path (docs/chunked-store.md, 4.2, 4.5 step 1): its chunk
list, where the store keeps its chunks as ranges of whole objects (so that a new version names
those ranges instead of storing the chunks again), and the order that writes a base first.

A base kept whole gives one range, itself. A base kept as a record gives the whole-object
ranges its terms name, of any oid: v1 whole (a same-fs store, or an older version's push),
v2 a record naming v1's unchanged ranges around a pack, then v3 (whose base is v2) names those
same ranges of v1, rather than packing again every chunk v2 did not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .. import Store
from .index import LocalIndex
from .manifests import StoreView

#: where a chunk of a base lies in a whole object of the store: (oid, offset)
Place = tuple[bytes, int]
#: a range of a file that is a range of a whole object: (file offset, oid, offset, length)
Span = tuple[int, bytes, int, int]


def base_chunks(index: LocalIndex, oid: str, path: str) -> list[tuple[bytes, int]]:
    """The chunk list of the cached file `oid`: from the index, else cut now (4.2)."""
    chunks = index.file_chunks(bytes.fromhex(oid))
    if chunks is None:
        from .chunker import chunk_file

        cut = chunk_file(path)
        chunks = [(c.id, c.length) for c in cut]
        index.put_file(bytes.fromhex(oid), sum(n for _, n in chunks), chunks)
    return chunks


def spans(terms: Iterable[tuple[object, bool, int, int, int]]) -> list[Span]:
    """The whole-object ranges among output terms in file order, each as (source, is whole,
    offset, length, output): a record's terms, or the writer's pending ones."""
    out: list[Span] = []
    at = 0
    for src, whole, off, length, output in terms:
        if whole and isinstance(src, bytes):
            out.append((at, src, off, length))
        at += output
    return out


def record_spans(
    view: StoreView, store: Store, oid: str, size: int, present: dict[bytes, bool]
) -> list[Span]:
    """The whole-object ranges of the newest record of `oid` (of `size`) in the local index
    whose whole objects the store has: asked once per push each (`present` remembers)."""
    for stored in view.records(oid):
        rec = stored.record
        if rec.size != size:
            continue
        ask = {t.source for t in rec.terms if t.whole} - present.keys()
        if ask:
            found = store.exists_many({w.hex() for w in ask})
            present.update({w: w.hex() in found for w in ask})
        if all(present[t.source] for t in rec.terms if t.whole):
            return spans((t.source, t.whole, t.offset, t.length, t.output) for t in rec.terms)
    return []


def places(chunks: Sequence[tuple[bytes, int]], within: Sequence[Span]) -> dict[bytes, Place]:
    """chunk id -> where its bytes lie in a whole object, for the chunks of a file (in file
    order) that lie wholly inside one of `within` (in file order); a chunk that occurs twice
    keeps its first place."""
    out: dict[bytes, Place] = {}
    i = start = 0
    for cid, n in chunks:
        while i < len(within) and within[i][0] + within[i][3] <= start:
            i += 1
        if i == len(within):
            break
        at, src, off, length = within[i]
        if at <= start and start + n <= at + length:
            out.setdefault(cid, (src, off + start - at))
        start += n
    return out


def bases_first(todo: list[str], bases: Mapping[str, str]) -> list[str]:
    """`todo` (oids) with each file after its base when both are in it (versions pushed
    together: the later one's chunks are then found among the earlier one's new frames)."""
    oids = set(todo)

    def depth(oid: str) -> int:
        n, seen = 0, {oid}
        while (oid := bases.get(oid, "")) in oids and oid not in seen:
            n, seen = n + 1, seen | {oid}
        return n

    return sorted(todo, key=depth)  # stable: largest first within a depth
