"""Golden vectors: bytes this version wrote for fixed inputs, kept under vectors/, so that every
later version proves it reads them (and writes the same bytes for the same inputs).

    GITDATA_REGEN_VECTORS=1 pytest tests/storage/chunked/test_vectors.py

rewrites them; only a change of format (a new version, docs/chunked-store.md first) may do
that. zstd's output is not part of the format: the pack is compared byte for byte with the
payloads it holds, and the compressor is compared with them only under the libzstd version that
wrote them (vectors/zstd-version)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from gitdata.storage.chunked.chunker import iter_chunks
from gitdata.storage.chunked.format.common import (
    ENC_DELTA,
    ENC_RAW,
    ENC_ZSTD,
    blake3_256,
    format_text,
    parse_format,
    zstd_module,
)
from gitdata.storage.chunked.format.manifest import (
    KeyChunk,
    Record,
    Term,
    decode_manifest,
    encode_manifest,
)
from gitdata.storage.chunked.format.pack import (
    decode_frame,
    parse_frame_header,
    parse_pack,
    zstd_compress,
)
from gitdata.storage.chunked.packer import PackWriter

VECTORS = Path(__file__).resolve().parent / "vectors"
REGEN = os.environ.get("GITDATA_REGEN_VECTORS") == "1"
NONCE = bytes(range(16))


def stream(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


CSV = b"".join(b"%d,station-%d,%d.%d\n" % (i, i % 5, i * 13 % 997, i % 10) for i in range(200))
#: the chunks of small.pack, in pack order: (raw, encoding, base raw)
CHUNKS = [
    (stream("gitdata vector raw", 1000), ENC_RAW, None),
    (CSV[:3000], ENC_ZSTD, None),
    (CSV[:1500] + b"0,changed,1.0\n" + CSV[1500:2986], ENC_DELTA, CSV[:3000]),
    (b"gitdata\n", ENC_RAW, None),
]
OID_X = bytes.fromhex("00112233445566778899aabbccddeeff")
OID_Y = bytes.fromhex("ffeeddccbbaa99887766554433221100")
WHOLE = bytes.fromhex("0123456789abcdef0123456789abcdef")
RELIED_PACK, RELIED_WHOLE = b"\xee" * 32, b"\xdd" * 16
CHUNKER_INPUT = ("gitdata chunker vector", (1 << 20) + 4321)


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def write_pack(payloads: list[bytes] | None) -> bytes:
    """small.pack through PackWriter; zstd payloads computed, or taken from `payloads`."""
    with PackWriter(str(VECTORS.parent / ".vectors-tmp"), nonce=NONCE) as w:
        for i, (raw, enc, base) in enumerate(CHUNKS):
            if enc == ENC_RAW:
                payload = raw
            elif payloads is not None:
                payload = payloads[i]
            else:
                payload = zstd_compress(raw, base)
            w.add(blake3_256(raw), len(raw), enc, payload, base and blake3_256(base))
        closed = w.close()
    data = Path(closed.path).read_bytes()
    os.unlink(closed.path)
    os.rmdir(os.path.dirname(closed.path))
    return data


def manifest_inputs(pack: bytes) -> dict:
    """The records of two files in `pack` (small.pack) and a whole object."""
    pid = blake3_256(pack)
    _, (e0, e1, e2, e3) = parse_pack(pack)
    x = Record(
        OID_X,
        1000 + 3000 + 500,
        (
            Term(False, pid, e0.offset, e0.length + e1.length, 4000),
            Term(True, WHOLE, 0, 500, 500),
        ),
    )
    y_out = e2.raw_length + e3.raw_length
    y = Record(
        OID_Y,
        y_out,
        (
            Term(False, pid, e2.offset, e2.length + e3.length, y_out),
            Term(False, pid, e1.offset, e1.length, 0, base_only=True),
        ),
    )
    keys = [KeyChunk(e0.chunk_id, pid, e0.offset), KeyChunk(e2.chunk_id, pid, e2.offset)]
    return dict(
        records=[y, x], packs=[RELIED_PACK], wholes=[RELIED_WHOLE], key_chunks=keys, gc=False
    )


def chunk_lines() -> bytes:
    seed, n = CHUNKER_INPUT
    data = stream(seed, n)
    lines = [f"{c.offset} {c.length} {c.id.hex()}\n" for c, _ in iter_chunks(io.BytesIO(data))]
    return "".join(lines).encode()


def build() -> dict[str, bytes]:
    pack = write_pack(None)
    return {
        "FORMAT": format_text(legacy_objects=True),
        "small.pack": pack,
        "small.manifest": encode_manifest(**manifest_inputs(pack)),
        "chunks.txt": chunk_lines(),
        "zstd-version": ".".join(map(str, zstd_module().ZSTD_VERSION)).encode() + b"\n",
    }


def test_regenerate_when_asked():
    if not REGEN:
        pytest.skip("GITDATA_REGEN_VECTORS=1 rewrites tests/storage/chunked/vectors/")
    VECTORS.mkdir(exist_ok=True)
    for name, data in build().items():
        (VECTORS / name).write_bytes(data)


def test_format_vector():
    assert vector("FORMAT") == format_text(True)
    assert parse_format(vector("FORMAT")).legacy_objects


def test_the_pack_reads():
    data = vector("small.pack")
    nonce, entries = parse_pack(data, name=blake3_256(data).hex())
    assert nonce == NONCE
    assert [e.encoding for e in entries] == [enc for _, enc, _ in CHUNKS]
    for e, (raw, _, base) in zip(entries, CHUNKS):
        hdr, out = decode_frame(data[e.offset : e.offset + e.length], base_raw=base)
        assert out == raw and hdr.chunk_id == e.chunk_id == blake3_256(raw)
    assert entries[2].length < 200  # the delta frame holds the change, not the chunk


def test_the_pack_writes_the_same_bytes():
    data = vector("small.pack")
    _, entries = parse_pack(data)
    payloads = []
    for e in entries:
        head = parse_frame_header(data, e.offset).head_size
        payloads.append(data[e.offset + head : e.offset + e.length])
    assert write_pack(payloads) == data


def test_zstd_writes_the_same_payloads():
    version = ".".join(map(str, zstd_module().ZSTD_VERSION))
    if vector("zstd-version").decode().strip() != version:
        pytest.skip(f"libzstd {version} may compress otherwise; the format does not depend on it")
    assert write_pack(None) == vector("small.pack")


def test_the_manifest_reads_and_writes():
    data = vector("small.manifest")
    pid = blake3_256(vector("small.pack"))
    m = decode_manifest(data, name=blake3_256(data).hex())
    inputs = manifest_inputs(vector("small.pack"))
    assert m.records == tuple(sorted(inputs["records"]))
    assert m.packs == tuple(sorted([pid, RELIED_PACK]))
    assert m.wholes == tuple(sorted([WHOLE, RELIED_WHOLE]))
    assert sorted(m.key_chunks) == sorted(inputs["key_chunks"]) and not m.gc
    assert encode_manifest(**inputs) == data


def test_the_chunker_cuts_where_format_1_cuts():
    """Clones must cut alike to dedup against each other: the cut points are part of the
    format (docs/chunked-store.md 2.2), checked against the ones this version found."""
    assert chunk_lines() == vector("chunks.txt")


def test_vectors_are_small():
    sizes = {p.name: p.stat().st_size for p in VECTORS.iterdir()}
    assert set(sizes) >= {"FORMAT", "small.pack", "small.manifest", "chunks.txt"}
    assert sum(sizes.values()) < 16 * 1024
