"""The rows the local index (index.py, docs/chunked-store.md 4.3) answers with, and how it packs
lists into its BLOBs: `file.chunks`, a file's chunk list, and `record.terms`, a record's terms.
Pure functions."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .format.common import ID_SIZE, OID_SIZE
from .format.manifest import Record, Term


class LocalChunk(NamedTuple):
    oid: bytes
    offset: int
    length: int


class StoredChunk(NamedTuple):
    chunk_key: bytes  # first 16 bytes of the id
    offset: int  # of the frame in its pack
    frame_length: int
    encoding: int


class StoredRecord(NamedTuple):
    mid: bytes  # the manifest that holds it
    mtime: float  # that manifest's store time
    record: Record


#: `file.chunks`: n x (id 32, raw length u32)
CHUNK_ENTRY = struct.Struct("<32sI")
#: `record.terms`: n x (kind, flags, zero, source, offset, length, output)
TERM_ROW = struct.Struct("<BB6s32sQQQ")


def encode_chunks(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    return b"".join(CHUNK_ENTRY.pack(cid, n) for cid, n in chunks)


def decode_chunks(blob: bytes) -> list[tuple[bytes, int]]:
    return [(bytes(c), n) for c, n in CHUNK_ENTRY.iter_unpack(blob)]


def encode_terms(terms: Sequence[Term]) -> bytes:
    return b"".join(
        TERM_ROW.pack(
            1 if t.whole else 0, 1 if t.base_only else 0, bytes(6),
            t.source.ljust(ID_SIZE, b"\0"), t.offset, t.length, t.output,
        )
        for t in terms
    )  # fmt: skip


def decode_terms(blob: bytes) -> tuple[Term, ...]:
    out = []
    for kind, flags, _, src, off, length, output in TERM_ROW.iter_unpack(blob):
        source = bytes(src[:OID_SIZE]) if kind == 1 else bytes(src)
        out.append(Term(kind == 1, source, off, length, output, bool(flags & 1)))
    return tuple(out)
