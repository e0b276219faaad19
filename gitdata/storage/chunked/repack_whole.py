"""Repack of whole objects (docs/chunked-store.md, 7.1 step 7): a whole object older than G that
no live oid is and no young manifest names, and whose ranges the chosen records name add up to
under REPACK_BELOW of its size, has those ranges cut into chunks and written into new packs;
the chosen records are rewritten onto them, and the whole object becomes dead.

Such objects are the "packs that are the file itself" of 3.4: a version kept whole (an older
gitdata's push, the same-fs rule of 4.1) whose next versions name its unchanged ranges. Once it
has left the history and the live versions have moved away from it, most of it is dead.

Chunks are cut by CDC, as a push cuts them, and also at each end of every term that names the
object, so that each term becomes a run of whole frames. The object is read once, from its
first byte to its last, and hashed: a range of a whole object cannot be checked on its own, so
one that does not hash to its oid is left as it is, its records unchanged, and said.

Never imports git/, cache, transfer or sync.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from ...hashing import hasher
from .. import Store, key_for
from .chunker import FrameEncoder, iter_chunks, zstd_compressor
from .format.common import FRAME_HEADER
from .gc import ChunkedPlan
from .packer import PackWriter
from .repack import REPACK_BELOW, MovedFrame, Repacked, close_packs, merge, rewrite_records
from .uploads import PackUploads

#: bytes read at a time between the live ranges of an object (they are hashed, not kept)
SKIP = 1 << 20
FRAME = FRAME_HEADER.size  # a frame's bytes before its payload (no base id: no delta here)


def term_ranges(p: ChunkedPlan) -> dict[bytes, set[tuple[int, int]]]:
    """Per whole object, the ranges (start, end) the chosen records' terms name."""
    out: dict[bytes, set[tuple[int, int]]] = {}
    for c in p.chosen.values():
        for t in c.record.terms:
            if t.whole:
                out.setdefault(t.source, set()).add((t.offset, t.offset + t.length))
    return out


def segments(ranges: Collection[tuple[int, int]]) -> list[tuple[int, int]]:
    """The live bytes of an object cut at every end of every range: sorted, disjoint
    (start, end) pieces, each inside the union of the ranges, which they cover."""
    merged = merge(ranges)
    cuts = sorted({x for r in ranges for x in r})
    out = []
    i = 0
    for a, b in zip(cuts, cuts[1:]):
        while merged[i][1] <= a:
            i += 1
        if merged[i][0] <= a:  # a cut pair lies inside one merged span or between two
            out.append((a, b))
    return out


def candidates(
    p: ChunkedPlan,
    ranges: dict[bytes, set[tuple[int, int]]],
    old: Iterable[tuple[str, int]],
    live: Collection[str],
) -> list[str]:
    """Of `old` (whole objects older than G: oid, size), those no live oid is, no young
    manifest names, and whose named ranges add up to under REPACK_BELOW of their size."""
    out = []
    for oid, size in old:
        rs = ranges.get(bytes.fromhex(oid))
        if not rs or oid in live or oid in p.young_wholes:
            continue
        if sum(b - a for a, b in merge(rs)) < REPACK_BELOW * size:
            out.append(oid)
    return sorted(out)


class _Reader:
    """One whole object read in order, every byte hashed; `upto(end)` is a stream of the bytes
    from where it is to `end`, for the chunker."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.pos = 0
        self.h = hasher()
        self.end = 0

    def skip_to(self, at: int) -> None:
        while self.pos < at:
            data = self.f.read(min(SKIP, at - self.pos))
            if not data:
                raise EOFError
            self.h.update(data)
            self.pos += len(data)

    def upto(self, end: int) -> _Reader:
        self.end = end
        return self

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf)  # a slice of a bytearray would be a copy
        n = min(len(view), self.end - self.pos)
        if n <= 0:
            return 0
        got = self.f.readinto(view[:n])  # type: ignore[attr-defined]
        if not got:
            raise EOFError
        self.h.update(view[:got])
        self.pos += got
        return got


class _Packs:
    """The new packs of one run, written one after the other (uploaded as each closes)."""

    def __init__(self, store: Store, tmp_dir: str) -> None:
        self.uploads = PackUploads(store, tmp_dir)
        self.writers: list[PackWriter] = []
        self.zstd = zstd_compressor()

    def copy(self, f: BinaryIO, oid: str, size: int, segs: list[tuple[int, int]]) -> Copied:
        """Cut the segments of whole object `oid` (read from `f`, its first byte to its last)
        into frames of the new packs; what moved, or why not (`Copied.why`)."""
        src, encoder, r = bytes.fromhex(oid), FrameEncoder(self.zstd), _Reader(f)
        out = Copied()
        try:
            for a, b in segs:
                r.skip_to(a)
                for chunk, data in iter_chunks(r.upto(b)):
                    enc, payload = encoder.encode(data)
                    if not self.writers or not self.writers[-1].fits(FRAME + len(payload)):
                        self.writers.append(self.uploads.new_pack())
                    e = self.writers[-1].add(chunk.id, chunk.length, enc, payload)
                    w = len(self.writers) - 1
                    out.frames[(src, a + chunk.offset)] = MovedFrame(
                        w, e.offset, e.length, e.raw_length, e.raw_length
                    )
                    out.bytes += e.length
            r.skip_to(size)
        except EOFError:
            out.why = f"it is shorter than its {size} bytes"
        if not out.why and r.h.hexdigest() != oid:
            out.why = "its bytes do not hash to its oid"
        return out

    def close(self, p: ChunkedPlan, out: Repacked) -> None:
        """Close and upload every pack (repack.close_packs)."""
        close_packs(self.writers, self.uploads, p, out)

    def abort(self) -> None:
        for w in self.writers:
            w.abort()


@dataclass
class Copied:
    frames: dict[tuple[bytes, int], MovedFrame] = field(default_factory=dict)
    bytes: int = 0
    why: str = ""


def repack_wholes(
    store: Store,
    p: ChunkedPlan,
    ranges: dict[bytes, set[tuple[int, int]]],
    wholes: dict[str, int],
    tmp_dir: str,
) -> tuple[Repacked, dict[str, str]]:
    """Write the live ranges of each whole object of `wholes` (oid -> size) into new packs,
    PUT them, and rewrite the chosen records that named those objects. Returns what moved and,
    per object left as it is, why (it did not hash to its oid, or was shorter). The frames of
    such an object stay in their new pack, which nothing names: a later gc deletes it."""
    out, failed, moved = Repacked(), dict[str, str](), set[bytes]()
    packs = _Packs(store, tmp_dir)
    try:
        for oid, size in sorted(wholes.items()):
            segs = segments(ranges[bytes.fromhex(oid)])
            with store.get_range(key_for(oid), 0, size) as f:
                c = packs.copy(f, oid, size, segs)
            if c.why:
                failed[oid] = c.why
                continue
            out.moved.update(c.frames)
            out.bytes += c.bytes
            moved.add(bytes.fromhex(oid))
        packs.close(p, out)
    except BaseException:
        packs.abort()
        raise
    finally:
        packs.uploads.close()
    rewrite_records(p, out, set(), moved)
    p.repacked_bytes += out.bytes
    return out, failed
