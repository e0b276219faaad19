"""Manifests (docs/chunked-store.md, section 3.4): the records one push (or one gc) wrote.

`Header PackTable WholeTable Record* KeyChunk*`, all sorted, so that a manifest is a function of
its contents: encode_manifest builds the tables from the records (term sources are pack ids and
oids, not table indexes) and decode_manifest gives them back the same way, after checking every
rule; a manifest is named by the BLAKE3-256 of its bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .common import (
    CHUNK_MAX,
    FRAME_MIN,
    ID_SIZE,
    KEY_CHUNK,
    MANIFEST_GC,
    MANIFEST_HEADER,
    MANIFEST_MAGIC,
    MANIFEST_VERSION,
    OID_SIZE,
    PACK_HEADER,
    PACK_MAX,
    RECORD_HEAD,
    TERM,
    TERM_BASE_ONLY,
    TERM_WHOLE,
    U64_MAX,
    Buffer,
    CorruptManifest,
    blake3_256,
)


class Term(NamedTuple):
    """A byte range of a pack (whole frames) or of a whole object, in file order."""

    whole: bool  # the source is a whole object (an oid), else a pack (a pack id)
    source: bytes
    offset: int  # pack: of the first frame; whole object: of the first byte
    length: int  # bytes of the range
    output: int  # bytes the term adds to the file; 0 for base-only
    base_only: bool = False  # delta bases only: the frames add nothing to the file


class Record(NamedTuple):
    """How to rebuild one file: output terms in file order, then base-only terms."""

    oid: bytes
    size: int
    terms: tuple[Term, ...]


class KeyChunk(NamedTuple):
    chunk_id: bytes
    pack: bytes  # pack id
    offset: int  # of the chunk's frame in that pack


def is_key_chunk(cid: bytes) -> bool:
    """A chunk sampled into the manifest for other clones to find its pack (2.6): 1 in 256;
    also the first chunk of a file of two chunks or more, and each pack's first frame."""
    return cid[0] == 0


@dataclass(frozen=True)
class Manifest:
    packs: tuple[bytes, ...]  # every pack a term names or the push relied on, sorted
    wholes: tuple[bytes, ...]  # every whole object a term names or the push relied on, sorted
    records: tuple[Record, ...]  # sorted by oid
    key_chunks: tuple[KeyChunk, ...]  # sorted by (id, pack table index, offset)
    gc: bool = False  # written by store gc (compaction)


def manifest_id(data: Buffer) -> bytes:
    return blake3_256(data)


def encode_manifest(
    records: Iterable[Record],
    *,
    packs: Iterable[bytes] = (),
    wholes: Iterable[bytes] = (),
    key_chunks: Iterable[KeyChunk] = (),
    gc: bool = False,
) -> bytes:
    """The manifest of `records`, relying also on `packs` and `wholes` (which need not be
    named by a term). Invalid input (a term breaking a rule, two records for one oid) is a bug:
    ValueError."""
    recs = sorted(records)
    keys = list(key_chunks)
    pack_set = set(packs) | {t.source for r in recs for t in r.terms if not t.whole}
    pack_set |= {k.pack for k in keys}
    whole_set = set(wholes) | {t.source for r in recs for t in r.terms if t.whole}
    ptable, wtable = sorted(pack_set), sorted(whole_set)
    ids = [*ptable, *(k.chunk_id for k in keys)]
    oids = [*wtable, *(r.oid for r in recs)]
    if any(len(i) != ID_SIZE for i in ids) or any(len(o) != OID_SIZE for o in oids):
        raise ValueError("pack and chunk ids are 32 bytes, oids 16")  # struct would pad them
    pindex = {p: i for i, p in enumerate(ptable)}
    windex = {w: i for i, w in enumerate(wtable)}
    wire = sorted({(k.chunk_id, pindex[k.pack], k.offset) for k in keys})
    flags = MANIFEST_GC if gc else 0
    counts = (len(ptable), len(wtable), len(recs), len(wire))
    # one buffer, not a bytes object per term: a push of 100,000 files holds this once
    out = bytearray(MANIFEST_HEADER.pack(MANIFEST_MAGIC, MANIFEST_VERSION, flags, *counts, 0))
    try:
        for i in (*ptable, *wtable):
            out += i
        for rec in recs:
            out += RECORD_HEAD.pack(rec.oid, rec.size, len(rec.terms), 0)
            for t in rec.terms:
                src = (TERM_WHOLE | windex[t.source]) if t.whole else pindex[t.source]
                tflags = TERM_BASE_ONLY if t.base_only else 0
                out += TERM.pack(src, tflags, t.offset, t.length, t.output)
        for cid, p, off in wire:
            out += KEY_CHUNK.pack(cid, p, 0, off)
    except struct.error as e:  # a negative or too large number
        raise ValueError(str(e)) from None
    data = bytes(out)
    del out
    # one set of rules, checked on both sides (the records checked, not kept a second time)
    decode_manifest(data, _error=ValueError, _check_only=True)
    return data


def decode_manifest(
    data: Buffer, *, name: str = "", _error: Any = None, _check_only: bool = False
) -> Manifest:
    """Check a manifest against every rule of the format and return it; `name`, the manifest's
    id in hex, is checked against the BLAKE3 of the bytes when given. `_check_only`: the
    checks alone, the returned manifest without its records (encode_manifest's own check)."""

    def bad(why: str) -> Exception:
        if _error is not None:
            return _error(why)
        return CorruptManifest(
            f"corrupt manifest {name}: {why}" if name else f"corrupt manifest: {why}",
            "it was not used; files that only it describes must be pushed again from a clone "
            "that has them",
        )

    mv = memoryview(data)
    if name and manifest_id(mv).hex() != name:
        raise bad("its bytes do not hash to its name")
    if len(mv) < MANIFEST_HEADER.size:
        raise bad("shorter than its header")
    magic, version, flags, n_packs, n_wholes, n_records, n_keys, zero = MANIFEST_HEADER.unpack_from(
        mv
    )
    if magic != MANIFEST_MAGIC:
        raise bad("not a manifest (wrong magic)")
    if version != MANIFEST_VERSION:
        raise bad(f"manifest format version {version} (this gitdata reads 1)")
    if flags & ~MANIFEST_GC or zero:
        raise bad("unknown flags or nonzero reserved bytes in the header")
    pos = MANIFEST_HEADER.size
    fixed = pos + ID_SIZE * n_packs + OID_SIZE * n_wholes
    if fixed + RECORD_HEAD.size * n_records + KEY_CHUNK.size * n_keys > len(mv):
        raise bad(f"its header counts more than its {len(mv)} bytes hold")
    packs = _table(mv, pos, n_packs, ID_SIZE, bad, "pack")
    pos += ID_SIZE * n_packs
    wholes = _table(mv, pos, n_wholes, OID_SIZE, bad, "whole-object")
    pos += OID_SIZE * n_wholes
    records: list[Record] = []
    last_oid = None
    for _ in range(n_records):
        rec, pos = _record(mv, pos, packs, wholes, bad)
        if last_oid is not None and rec.oid <= last_oid:
            raise bad("records are not sorted by oid, or repeat one")
        last_oid = rec.oid
        if not _check_only:
            records.append(rec)
    if len(mv) - pos != KEY_CHUNK.size * n_keys:
        raise bad(f"{len(mv) - pos} bytes left for {n_keys} key chunks")
    keys: list[KeyChunk] = []
    last = None
    for i in range(n_keys):
        cid, p, kzero, off = KEY_CHUNK.unpack_from(mv, pos + i * KEY_CHUNK.size)
        if kzero or p >= n_packs or not PACK_HEADER.size <= off < PACK_MAX:
            raise bad(f"key chunk {i} is out of range")
        if last is not None and (cid, p, off) <= last:
            raise bad("key chunks are not sorted, or repeat one")
        last = (cid, p, off)
        keys.append(KeyChunk(cid, packs[p], off))
    return Manifest(tuple(packs), tuple(wholes), tuple(records), tuple(keys), bool(flags))


def _table(mv: memoryview, pos: int, n: int, size: int, bad: Any, what: str) -> list[bytes]:
    out = [bytes(mv[pos + i * size : pos + (i + 1) * size]) for i in range(n)]
    if any(a >= b for a, b in zip(out, out[1:])):
        raise bad(f"the {what} table is not sorted, or repeats an entry")
    return out


def _record(
    mv: memoryview, pos: int, packs: Sequence[bytes], wholes: Sequence[bytes], bad: Any
) -> tuple[Record, int]:
    if len(mv) - pos < RECORD_HEAD.size:
        raise bad("a record is cut short")
    oid, size, count, zero = RECORD_HEAD.unpack_from(mv, pos)
    pos += RECORD_HEAD.size
    where = f"record {oid.hex()}"
    if zero:
        raise bad(f"{where}: nonzero reserved bytes")
    if count * TERM.size > len(mv) - pos:
        raise bad(f"{where}: {count} terms overrun the manifest")
    terms: list[Term] = []
    total = 0
    for i in range(count):
        src, flags, off, length, output = TERM.unpack_from(mv, pos + i * TERM.size)
        why = _term_error(src, flags, off, length, output, len(packs), len(wholes))
        if why:
            raise bad(f"{where}, term {i}: {why}")
        base_only = bool(flags & TERM_BASE_ONLY)
        if terms and terms[-1].base_only and not base_only:
            raise bad(f"{where}: an output term follows a base-only term")
        whole = bool(src & TERM_WHOLE)
        source = wholes[src & ~TERM_WHOLE] if whole else packs[src]
        terms.append(Term(whole, source, off, length, output, base_only))
        total += output
    if total != size:
        raise bad(f"{where}: its terms add up to {total} bytes, not its size {size}")
    return Record(oid, size, tuple(terms)), pos + count * TERM.size


def _term_error(src: int, flags: int, off: int, length: int, out: int, np: int, nw: int) -> str:
    """Why a term breaks the rules of section 3.4, or ''."""
    if flags & ~TERM_BASE_ONLY:
        return "unknown flags"
    if src & TERM_WHOLE:
        if src & ~TERM_WHOLE >= nw:
            return "whole-object index out of range"
        if flags:
            return "a base-only term names a whole object"
        if length < 1 or length != out or off + length > U64_MAX:
            return "a whole-object range must be nonempty and output its own length"
        return ""
    if src >= np:
        return "pack index out of range"
    if not (PACK_HEADER.size <= off and FRAME_MIN <= length and off + length <= PACK_MAX):
        return "the range does not fit in a pack"
    if flags & TERM_BASE_ONLY:
        return "a base-only term outputs bytes" if out else ""
    if not 1 <= out <= (length // FRAME_MIN) * CHUNK_MAX:
        return f"{out} bytes out of {length} bytes of frames"
    return ""
