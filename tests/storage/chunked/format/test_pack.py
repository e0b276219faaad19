"""Frames and packs (docs/chunked-store.md 3.3): round trips of every encoding, of the index
and trailer, of a reader that starts from the pack's tail; encoders refuse invalid values."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitdata.storage.chunked.format.common import (
    CHUNK_MAX,
    ENC_DELTA,
    ENC_RAW,
    ENC_ZSTD,
    INDEX_ENTRY,
    PACK_HEADER,
    TRAILER,
    blake3_256,
    compress_bound,
)
from gitdata.storage.chunked.format.pack import (
    IndexEntry,
    decode_frame,
    encode_frame,
    encode_pack_header,
    encode_pack_tail,
    index_from_tail,
    iter_frames,
    make_frame,
    pack_id,
    parse_frame_header,
    parse_index,
    parse_pack,
    parse_pack_header,
    parse_trailer,
)

NONCE = bytes(range(16))


def stream(seed: str, n: int) -> bytes:
    """Bytes that look random and never change (unlike random.randbytes across versions)."""
    return hashlib.shake_256(seed.encode()).digest(n)


def text(n: int) -> bytes:
    return b"".join(b"%d,row,%d\n" % (i, i * 7) for i in range(n // 8 + 1))[:n]


raws = st.one_of(st.binary(min_size=1, max_size=3000), st.integers(1, 3000).map(text))


@settings(max_examples=150)
@given(raws, st.sampled_from([ENC_RAW, ENC_ZSTD, ENC_DELTA]), raws)
@example(stream("max", CHUNK_MAX), ENC_ZSTD, b"x")  # incompressible: the payload grows
@example(text(CHUNK_MAX), ENC_DELTA, text(CHUNK_MAX))
@example(b"\0", ENC_ZSTD, b"\0")
def test_frame_round_trip(raw, encoding, base):
    base_raw = base if encoding == ENC_DELTA else None
    frame = make_frame(raw, encoding, base_raw=base_raw)
    hdr, out = decode_frame(frame, base_raw=base_raw)
    assert out == raw
    assert (hdr.encoding, hdr.raw_length, hdr.chunk_id) == (encoding, len(raw), blake3_256(raw))
    assert hdr.base_id == (blake3_256(base) if encoding == ENC_DELTA else None)
    assert hdr.size == len(frame) and hdr.payload_length <= compress_bound(len(raw))
    assert parse_frame_header(b"junk" + frame, 4) == hdr


def test_frame_layout():
    raw = b"hello, frame"
    frame = make_frame(raw)
    assert frame[0] == 0 and frame[1:4] == bytes(3)
    assert frame[4:8] == len(raw).to_bytes(4, "little") == frame[8:12]
    assert frame[12:44] == blake3_256(raw) and frame[44:] == raw
    base = b"the base chunk"
    delta = make_frame(raw, ENC_DELTA, base_raw=base)
    assert delta[0] == 2 and delta[44:76] == blake3_256(base)


@pytest.mark.parametrize(
    "args",
    [
        (bytes(32), 0, ENC_RAW, b""),  # empty chunk
        (bytes(32), CHUNK_MAX + 1, ENC_RAW, bytes(CHUNK_MAX + 1)),
        (bytes(32), 3, ENC_RAW, b"ab"),  # raw payload != raw length
        (bytes(32), 3, 3, b"abc"),  # unknown encoding
        (bytes(31), 3, ENC_RAW, b"abc"),
        (bytes(32), 3, ENC_ZSTD, b""),
        (bytes(32), 10, ENC_ZSTD, bytes(compress_bound(10) + 1)),
    ],
)
def test_encode_frame_refuses_invalid_values(args):
    with pytest.raises(ValueError):
        encode_frame(*args)


def test_a_base_id_goes_with_delta_frames_only():
    with pytest.raises(ValueError):
        encode_frame(bytes(32), 3, ENC_RAW, b"abc", base_id=bytes(32))
    with pytest.raises(ValueError):
        encode_frame(bytes(32), 3, ENC_DELTA, b"abc")


def test_a_base_given_for_another_encoding_is_not_used():
    raw = text(2000)
    assert decode_frame(make_frame(raw, ENC_ZSTD), base_raw=text(900))[1] == raw
    assert decode_frame(make_frame(raw, ENC_RAW), base_raw=text(900))[1] == raw


def test_a_delta_frame_needs_its_base():
    frame = make_frame(text(500), ENC_DELTA, base_raw=text(400))
    with pytest.raises(ValueError):
        decode_frame(frame)
    with pytest.raises(ValueError):
        decode_frame(frame, base_raw=text(401))


def build_pack(chunks: list[tuple[bytes, int, bytes | None]], nonce: bytes = NONCE) -> bytes:
    """A pack from (raw, encoding, base raw) with the layout functions alone."""
    frames, entries, pos = [], [], PACK_HEADER.size
    for raw, enc, base in chunks:
        f = make_frame(raw, enc, base_raw=base)
        entries.append(IndexEntry(blake3_256(raw), pos, len(f), len(raw), enc))
        frames.append(f)
        pos += len(f)
    return encode_pack_header(nonce) + b"".join(frames) + encode_pack_tail(entries)


chunk_lists = st.lists(
    st.tuples(raws, st.sampled_from([ENC_RAW, ENC_ZSTD, ENC_DELTA]), raws).map(
        lambda t: (t[0], t[1], t[2] if t[1] == ENC_DELTA else None)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=100)
@given(chunk_lists, st.integers(TRAILER.size, 1 << 16))
def test_pack_round_trip(chunks, tail_size):
    data = build_pack(chunks)
    name = pack_id(data).hex()
    nonce, entries = parse_pack(data, name=name)
    assert nonce == NONCE and len(entries) == len(chunks)
    for e, (raw, enc, base) in zip(entries, chunks):
        hdr, out = decode_frame(data[e.offset : e.offset + e.length], base_raw=base, at=e.offset)
        assert out == raw and e.encoding == enc == hdr.encoding and e.chunk_id == hdr.chunk_id
    # a reader that only has the frames of a term parses them without the index
    first, last = entries[0], entries[-1]
    run = data[first.offset : last.offset + last.length]
    assert [(at, h.chunk_id) for at, h, _ in iter_frames(run, first.offset)] == [
        (e.offset, e.chunk_id) for e in entries
    ]
    # a reader that fetched the pack's last bytes first
    tail = data[-min(tail_size, len(data)) :]
    trailer, got = index_from_tail(tail, len(data), name=name)
    assert trailer.pack_size == len(data) and trailer.frame_count == len(chunks)
    assert trailer.raw_total == sum(len(raw) for raw, _, _ in chunks)
    if got is None:
        assert len(tail) < len(data) - trailer.index_offset
        got = parse_index(data[trailer.index_offset : -TRAILER.size], trailer, name=name)
    assert got == entries


def test_pack_layout():
    raw = b"one chunk"
    data = build_pack([(raw, ENC_RAW, None)])
    assert data[:8] == b"GDPACK\r\n" and data[8:10] == b"\1\0" and data[10:16] == bytes(6)
    assert data[16:32] == NONCE and parse_pack_header(data) == NONCE
    frame_end = 32 + 44 + len(raw)
    index = data[frame_end : frame_end + INDEX_ENTRY.size]
    assert index[:32] == blake3_256(raw)
    assert int.from_bytes(index[32:40], "little") == 32
    assert int.from_bytes(index[40:44], "little") == 44 + len(raw)
    assert int.from_bytes(index[44:48], "little") == len(raw)
    assert index[48:56] == bytes(8)
    trailer = data[-64:]
    assert int.from_bytes(trailer[0:8], "little") == frame_end
    assert int.from_bytes(trailer[8:12], "little") == 1 and trailer[12:16] == bytes(4)
    assert trailer[16:48] == blake3_256(index)
    assert int.from_bytes(trailer[48:56], "little") == len(raw)
    assert trailer[56:] == b"GDPKEND\n"
    assert len(data) == frame_end + 56 + 64
    assert parse_trailer(trailer, len(data)).index_offset == frame_end


def test_encode_pack_tail_refuses_invalid_entries():
    good = IndexEntry(bytes(32), 32, 44 + 5, 5, ENC_RAW)
    for entries in (
        [],
        [good._replace(offset=33)],
        [good, good],  # the second frame is not where the first ends
        [good._replace(length=44 + 6)],
        [good._replace(encoding=7)],
    ):
        with pytest.raises(ValueError):
            encode_pack_tail(entries)
    with pytest.raises(ValueError):
        encode_pack_header(bytes(15))
