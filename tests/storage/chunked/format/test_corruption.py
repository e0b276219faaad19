"""Every malformed pack, frame, index, trailer or manifest is refused with the library's error
(CorruptPack, CorruptManifest), never another exception, and never accepted with other contents.

Corruptions are hypothesis-generated: truncations, bit flips, foreign magic, and any value in
any one field (out-of-range tables, unsorted tables, counts and lengths that overflow). Index
fields are also tried with the trailer's index hash recomputed, so that the layout checks behind
the hash are reached; manifest fields likewise without a name to check against."""

from __future__ import annotations

import hashlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitdata.storage.chunked.format.common import (
    ENC_DELTA,
    ENC_RAW,
    ENC_ZSTD,
    ID_SIZE,
    INDEX_ENTRY,
    KEY_CHUNK,
    MANIFEST_HEADER,
    OID_SIZE,
    PACK_HEADER,
    RECORD_HEAD,
    TERM,
    TRAILER,
    CorruptManifest,
    CorruptPack,
    blake3_256,
)
from gitdata.storage.chunked.format.manifest import (
    KeyChunk,
    Record,
    Term,
    decode_manifest,
    encode_manifest,
)
from gitdata.storage.chunked.format.pack import (
    IndexEntry,
    decode_frame,
    encode_pack_header,
    encode_pack_tail,
    index_from_tail,
    iter_frames,
    make_frame,
    parse_frame_header,
    parse_pack,
)

# --- the specimens ------------------------------------------------------------------------


def stream(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


CSV = b"".join(b"%d,sensor-%d,%d.5\n" % (i, i % 7, i * 3) for i in range(300))
BASE = CSV[:3000]
CHUNKS = [  # (raw, encoding, base raw)
    (stream("a", 700), ENC_RAW, None),
    (CSV[:2500], ENC_ZSTD, None),
    (CSV[100:3100], ENC_DELTA, BASE),
]
BASES = {blake3_256(BASE): BASE}


def build_pack(chunks) -> bytes:
    frames, entries, pos = [], [], PACK_HEADER.size
    for raw, enc, base in chunks:
        f = make_frame(raw, enc, base_raw=base)
        entries.append(IndexEntry(blake3_256(raw), pos, len(f), len(raw), enc))
        frames.append(f)
        pos += len(f)
    return encode_pack_header(bytes(16)) + b"".join(frames) + encode_pack_tail(entries)


PACK = build_pack(CHUNKS)
PACK_NAME = blake3_256(PACK).hex()
CONTENTS = [(blake3_256(raw), raw) for raw, _, _ in CHUNKS]
_, ENTRIES = parse_pack(PACK)
INDEX_AT = ENTRIES[-1].offset + ENTRIES[-1].length

P = [bytes([i]) * 32 for i in (3, 1, 2)]
OIDS = [bytes([i]) * 16 for i in (9, 8)]
RECORDS = [
    Record(b"\5" * 16, 700, (Term(False, P[0], 32, 744, 700),)),
    Record(
        b"\2" * 16,
        2600,
        (
            Term(True, OIDS[0], 0, 100, 100),
            Term(False, P[1], 32, 2000, 2500),
            Term(False, P[2], 500, 100, 0, base_only=True),
        ),
    ),
    Record(b"\7" * 16, 10, (Term(True, OIDS[1], 5, 10, 10),)),
]
KEYS = [KeyChunk(b"\4" * 32, P[0], 32), KeyChunk(b"\1" * 32, P[1], 2032)]
MANIFEST = encode_manifest(RECORDS, wholes=[b"\6" * 16], key_chunks=KEYS)
MANIFEST_NAME = blake3_256(MANIFEST).hex()


# --- fields -------------------------------------------------------------------------------


def pack_fields() -> list[tuple[int, int]]:
    """(offset, size) of every field of PACK."""
    out = [(0, 8), (8, 2), (10, 6), (16, 16)]
    for e in ENTRIES:
        o = e.offset
        out += [(o, 1), (o + 1, 3), (o + 4, 4), (o + 8, 4), (o + 12, 32)]
        if e.encoding == ENC_DELTA:
            out.append((o + 44, 32))
    for i in range(len(ENTRIES)):
        o = INDEX_AT + i * INDEX_ENTRY.size
        out += [(o, 32), (o + 32, 8), (o + 40, 4), (o + 44, 4), (o + 48, 1), (o + 49, 7)]
    t = len(PACK) - TRAILER.size
    out += [(t, 8), (t + 8, 4), (t + 12, 4), (t + 16, 32), (t + 48, 8), (t + 56, 8)]
    return out


def manifest_fields() -> list[tuple[int, int]]:
    m = decode_manifest(MANIFEST)
    out = [(0, 8), (8, 2), (10, 2)] + [(i, 4) for i in range(12, 32, 4)]
    pos = MANIFEST_HEADER.size
    out += [(pos + i * ID_SIZE, ID_SIZE) for i in range(len(m.packs))]
    pos += ID_SIZE * len(m.packs)
    out += [(pos + i * OID_SIZE, OID_SIZE) for i in range(len(m.wholes))]
    pos += OID_SIZE * len(m.wholes)
    for r in m.records:
        out += [(pos, 16), (pos + 16, 8), (pos + 24, 4), (pos + 28, 4)]
        pos += RECORD_HEAD.size
        for _ in r.terms:
            out += [(pos, 4), (pos + 4, 4), (pos + 8, 8), (pos + 16, 8), (pos + 24, 8)]
            pos += TERM.size
    for _ in m.key_chunks:
        out += [(pos, 32), (pos + 32, 4), (pos + 36, 4), (pos + 40, 8)]
        pos += KEY_CHUNK.size
    assert pos == len(MANIFEST)
    return out


@st.composite
def field_values(draw, data: bytes, fields: list[tuple[int, int]]) -> bytes:
    """`data` with one field set to another value: numbers near the edges of the field's
    range and of its old value, or anything."""
    off, size = draw(st.sampled_from(fields))
    old = int.from_bytes(data[off : off + size], "little")
    top = (1 << (8 * size)) - 1
    edges = [0, 1, 2, top, top - 1, top >> 1, (top >> 1) + 1, old - 1, old + 1, old * 2, old // 2]
    new = draw(st.one_of(st.sampled_from([v for v in edges if 0 <= v <= top]), st.integers(0, top)))
    return data[:off] + new.to_bytes(size, "little") + data[off + size :]


def truncations(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(0, len(data) - 1).map(lambda n: data[:n]),
        st.integers(1, len(data)).map(lambda n: data[n:]),
    )


def bit_flips(data: bytes) -> st.SearchStrategy[bytes]:
    def flip(bits: list[int]) -> bytes:
        b = bytearray(data)
        for bit in bits:
            b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    return st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=3).map(flip)


def splices(data: bytes) -> st.SearchStrategy[bytes]:
    """Bytes inserted, or a range repeated or removed."""
    n = len(data)
    return st.one_of(
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=64)).map(
            lambda t: data[: t[0]] + t[1] + data[t[0] :]
        ),
        st.tuples(st.integers(0, n), st.integers(0, n)).map(
            lambda t: data[: max(t)] + data[min(t) : max(t)] + data[max(t) :]
        ),
        st.tuples(st.integers(0, n), st.integers(0, n)).map(
            lambda t: data[: min(t)] + data[max(t) :]
        ),
    )


def corruptions(data: bytes, fields: list[tuple[int, int]]) -> st.SearchStrategy[bytes]:
    return st.one_of(truncations(data), bit_flips(data), splices(data), field_values(data, fields))


# --- packs --------------------------------------------------------------------------------


def rehash_index(data: bytes) -> bytes:
    """Recompute the trailer's index hash over the bytes where the index was."""
    if len(data) != len(PACK):
        return data
    t = len(data) - TRAILER.size
    return data[: t + 16] + blake3_256(data[INDEX_AT:t]) + data[t + 48 :]


def read_all(data: bytes, name: str = "") -> list[tuple[bytes, bytes]] | None:
    """What a reader gets from `data` as a pack: its chunks, or None when refused."""
    try:
        _, entries = parse_pack(data, name=name)
        out = []
        for e in entries:
            frame = data[e.offset : e.offset + e.length]
            hdr = parse_frame_header(frame, name=name, at=e.offset)
            base = BASES.get(hdr.base_id) if hdr.base_id else None
            if hdr.base_id and base is None:
                return None  # a base the reader does not have: this frame cannot be read
            h, raw = decode_frame(frame, base_raw=base, name=name, at=e.offset)
            out.append((h.chunk_id, raw))
        return out
    except CorruptPack as e:
        prefixes = (f"corrupt pack {name}: ", f"corrupt frame in pack {name} at ")
        assert str(e).startswith(prefixes if name else ("corrupt pack: ", "corrupt frame at "))
        return None


def test_the_specimen_is_valid():
    assert read_all(PACK, PACK_NAME) == CONTENTS
    assert len(pack_fields()) == 4 + 5 * 3 + 1 + 6 * 3 + 6


@settings(max_examples=600)
@given(
    st.one_of(corruptions(PACK, pack_fields()), field_values(PACK, pack_fields()).map(rehash_index))
)
@example(PACK[:8] + b"GDPACK\n\r" + PACK[16:])
@example(b"GDMANIF\n" + PACK[8:])
def test_corrupt_packs_are_refused(data):
    got = read_all(data)
    # the nonce is any 16 bytes, and some zstd header bits change nothing: equal contents only
    assert got is None or got == CONTENTS
    if data != PACK:
        assert read_all(data, PACK_NAME) is None
    for k in (TRAILER.size, 100, 1000, len(data)):
        try:
            trailer, entries = index_from_tail(data[-k:], len(data))
        except CorruptPack:
            continue
        if entries is not None and got is None:
            continue  # the index alone may be intact while frames are not
        assert entries is None or [e.chunk_id for e in entries] == [c for c, _ in CONTENTS]


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(0, 1 << 40))
def test_any_bytes_as_frames(data, at):
    try:
        for _, hdr, frame in iter_frames(data, at):
            assert len(frame) == hdr.size
    except CorruptPack:
        pass
    try:
        decode_frame(data, at=at)
    except (CorruptPack, ValueError) as e:  # ValueError: a delta frame given no base
        assert isinstance(e, CorruptPack) or data[0] == ENC_DELTA


FRAME = make_frame(CSV[:2000], ENC_ZSTD)
FRAME_FIELDS = [(0, 1), (1, 3), (4, 4), (8, 4), (12, 32)]


@settings(max_examples=300)
@given(corruptions(FRAME, FRAME_FIELDS))
def test_corrupt_frames_are_refused(frame):
    try:
        hdr, raw = decode_frame(frame, name="p", at=32)
    except CorruptPack as e:
        assert str(e).startswith("corrupt frame in pack p at 32: ")
        return
    except ValueError:
        assert frame[0] == ENC_DELTA  # a caller looks the base up by the id in the header
        return
    assert raw == CSV[:2000] and hdr.chunk_id == blake3_256(raw)


# --- manifests ----------------------------------------------------------------------------


def manifest_structures(data: bytes) -> st.SearchStrategy[bytes]:
    """Tables out of order or with an entry repeated or dropped (counts adjusted)."""
    m = decode_manifest(data)
    header = bytearray(data[:32])
    units = []  # (start, size, header count offset)
    pos = 32
    for n, size, at in ((len(m.packs), 32, 12), (len(m.wholes), 16, 16)):
        units += [(pos + i * size, size, at) for i in range(n)]
        pos += n * size
    for r in m.records:
        size = RECORD_HEAD.size + TERM.size * len(r.terms)
        units.append((pos, size, 20))
        pos += size
    units += [(pos + i * 48, 48, 24) for i in range(len(m.key_chunks))]

    def apply(t: tuple[str, int]) -> bytes:
        what, i = t
        start, size, at = units[i % len(units)]
        unit = data[start : start + size]
        h = bytearray(header)
        count = int.from_bytes(h[at : at + 4], "little")
        if what == "swap" and i % len(units) + 1 < len(units):
            nxt = units[i % len(units) + 1]
            if nxt[2] == at:
                other = data[nxt[0] : nxt[0] + nxt[1]]
                return data[:start] + other + unit + data[nxt[0] + nxt[1] :]
        if what == "repeat":
            h[at : at + 4] = (count + 1).to_bytes(4, "little")
            return bytes(h) + data[32:start] + unit + data[start:]
        h[at : at + 4] = (count - 1).to_bytes(4, "little")
        return bytes(h) + data[32:start] + data[start + size :]

    return st.tuples(st.sampled_from(["swap", "repeat", "drop"]), st.integers(0, 100)).map(apply)


def check_manifest(data: bytes) -> None:
    try:
        m = decode_manifest(data)
    except CorruptManifest as e:
        assert str(e).startswith("corrupt manifest: ")
    else:  # whatever is accepted is canonical: exactly what its contents encode to
        again = encode_manifest(
            m.records, packs=m.packs, wholes=m.wholes, key_chunks=m.key_chunks, gc=m.gc
        )
        assert again == data
    if data != MANIFEST:
        try:
            decode_manifest(data, name=MANIFEST_NAME)
        except CorruptManifest as e:
            assert MANIFEST_NAME in str(e)
        else:
            raise AssertionError("a manifest that does not hash to its name was accepted")


def test_the_manifest_specimen_is_valid():
    assert decode_manifest(MANIFEST, name=MANIFEST_NAME).records == tuple(sorted(RECORDS))


@settings(max_examples=800)
@given(
    st.one_of(
        corruptions(MANIFEST, manifest_fields()),
        manifest_structures(MANIFEST),
        st.binary(max_size=300).map(lambda b: MANIFEST[:32] + b),
    )
)
@example(MANIFEST[:12] + b"\xff\xff\xff\xff" + MANIFEST[16:])
@example(MANIFEST[:28] + b"\1\0\0\0" + MANIFEST[32:])
def test_corrupt_manifests_are_refused(data):
    check_manifest(data)


def test_foreign_magic():
    for data in (b"GDPACK\r\n" + MANIFEST[8:], b"", b"GDMANIF\n", MANIFEST[:31]):
        check_manifest(data)
