"""A stand-in for the chunked write path (step 6) in tests of the read path: writes FORMAT, packs
and manifests into a store from format/ and packer.py, and the records that describe files.

    w = ChunkedWriter(store, tmp_path)
    rec = w.push(data)                    # every chunk into a new pack (raw or zstd)
    rec = w.push(data2, reuse=[rec])      # chunks already in a pack of `reuse` are not re-stored
    w.manifest([rec, ...])                # one manifest; returns its id
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

from gitdata.hashing import hash_bytes
from gitdata.storage import Store
from gitdata.storage.chunked.chunker import iter_chunks
from gitdata.storage.chunked.format.common import ENC_RAW, ENC_ZSTD, format_text
from gitdata.storage.chunked.format.manifest import (
    Record,
    Term,
    decode_manifest,
    encode_manifest,
    manifest_id,
)
from gitdata.storage.chunked.format.pack import decode_frame, parse_pack, zstd_compress
from gitdata.storage.chunked.manifests import manifest_key
from gitdata.storage.chunked.packer import PackWriter
from gitdata.storage.chunked.reader import pack_key
from gitdata.storage.keys import FORMAT_KEY, is_key, is_whole_key


def chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """(id, bytes) of each chunk of `data`, cut by the store's chunker."""
    return [(c.id, bytes(view)) for c, view in iter_chunks(io.BytesIO(data))]


class ChunkedWriter:
    def __init__(self, store: Store, tmp: Path, *, legacy: bool = True) -> None:
        self.store = store
        self.tmp = tmp / "packs-out"
        self.tmp.mkdir(parents=True, exist_ok=True)
        store.put_bytes(FORMAT_KEY, format_text(legacy))
        #: chunk id -> (pack id, frame offset, frame length, raw length): what the store holds
        self.where: dict[bytes, tuple[bytes, int, int, int]] = {}
        self.packs: list[bytes] = []

    def pack(self, chunks: list[tuple[bytes, bytes]], encoding: int = ENC_RAW) -> bytes:
        """One pack of `chunks` (ids and bytes) in this encoding; uploaded; returns its id."""
        with PackWriter(str(self.tmp)) as w:
            for cid, raw in chunks:
                payload = zstd_compress(raw) if encoding == ENC_ZSTD else raw
                w.add(cid, len(raw), encoding, payload)
            closed = w.close()
        self.store.put_file(pack_key(closed.pid), closed.path)
        os.unlink(closed.path)
        for e in closed.entries:
            self.where.setdefault(e.chunk_id, (closed.pid, e.offset, e.length, e.raw_length))
        self.packs.append(closed.pid)
        return closed.pid

    def push(
        self, data: bytes, encoding: int = ENC_RAW, *, whole_of: tuple[bytes, bytes] | None = None
    ) -> Record:
        """The record of `data`: chunks already stored are reused, new ones go into one new
        pack. With `whole_of` = (old data, its oid in the store as a whole object), chunks that
        sit at the same offset in the old data are taken as ranges of that whole object."""
        return self.push_many([data], encoding, whole_of=whole_of)[0]

    def push_many(
        self,
        datas: list[bytes],
        encoding: int = ENC_RAW,
        *,
        whole_of: tuple[bytes, bytes] | None = None,
    ) -> list[Record]:
        """The records of `datas`, their new chunks all in one new pack."""
        cut = [chunks_of(data) for data in datas]
        fresh = {cid: raw for chunks in cut for cid, raw in chunks if cid not in self.where}
        if fresh:
            self.pack(list(fresh.items()), encoding)
        return [self._record(d, chunks, whole_of) for d, chunks in zip(datas, cut)]

    def _record(
        self, data: bytes, chunks: list[tuple[bytes, bytes]], whole_of: tuple[bytes, bytes] | None
    ) -> Record:
        terms: list[Term] = []
        pos = 0
        for cid, raw in chunks:
            if whole_of is not None and whole_of[0][pos : pos + len(raw)] == raw:
                t = Term(True, whole_of[1], pos, len(raw), len(raw))
            else:
                pid, off, flen, n = self.where[cid]
                t = Term(False, pid, off, flen, n)
            last = terms[-1] if terms else None
            if (
                last is not None and last.whole == t.whole and last.source == t.source
                and last.offset + last.length == t.offset
            ):  # fmt: skip
                terms[-1] = last._replace(
                    length=last.length + t.length, output=last.output + t.output
                )
            else:
                terms.append(t)
            pos += len(raw)
        return Record(bytes.fromhex(hash_bytes(data)), len(data), tuple(terms))

    def manifest(self, records: list[Record]) -> bytes:
        data = encode_manifest(records)
        mid = manifest_id(data)
        self.store.put_bytes(manifest_key(mid), data)
        return mid


def files_in(objects: Iterable[tuple[str, bytes]]) -> set[str]:
    """The files (oids) a store holds, from all its objects: (key relative to the root, bytes).
    Every key is one of the layout; every whole object hashes to its name, every pack and
    manifest too and keeps every rule of the format (each frame decodes to its chunk id). A
    file is there as a whole object, or when a manifest has a record of it whose packs and
    whole objects are all there."""
    oids, packs, records = set(), set(), []
    for key, body in objects:
        name = key.rpartition("/")[2].partition(".")[0]
        if is_whole_key(key):
            assert hash_bytes(body) == name, f"{key} holds {len(body)} bytes that hash elsewhere"
            oids.add(name)
            continue
        assert is_key(key), key
        if key.endswith(".pack"):
            _, entries = parse_pack(body, name=name)
            for e in entries:
                decode_frame(body[e.offset : e.offset + e.length], name=name, at=e.offset)
            packs.add(bytes.fromhex(name))
        elif key.endswith(".manifest"):
            records += decode_manifest(body, name=name).records
    for r in records:
        if all((t.source.hex() in oids) if t.whole else (t.source in packs) for t in r.terms):
            oids.add(r.oid.hex())
    return oids
