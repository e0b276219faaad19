"""Frames and packs (docs/chunked-store.md, section 3.3): `Header Frame* Index Trailer`.

A frame is a 44-byte header, the base id of a delta frame, then the payload; frames are
self-delimiting. The index (56 bytes per frame) and the 64-byte trailer end the pack; a reader
of the index fetches the pack's last TAIL_FETCH bytes first (index_from_tail)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from .common import (
    CHUNK_MAX,
    ENC_DELTA,
    ENC_RAW,
    ENC_ZSTD,
    FRAME_HEADER,
    ID_SIZE,
    INDEX_ENTRY,
    NONCE_SIZE,
    PACK_END_MAGIC,
    PACK_HEADER,
    PACK_MAGIC,
    PACK_MAX,
    PACK_VERSION,
    TRAILER,
    ZSTD_LEVEL,
    Buffer,
    CorruptPack,
    blake3_256,
    compress_bound,
    zstd_module,
)


def _pack_error(name: str, why: str) -> CorruptPack:
    return CorruptPack(
        f"corrupt pack {name}: {why}" if name else f"corrupt pack: {why}",
        "nothing from it was used; push the files that need it again from a clone that has them",
    )


def _frame_error(name: str, at: int, why: str) -> CorruptPack:
    """Section 5.2's "corrupt frame in pack <p> at <offset>"."""
    return CorruptPack(
        f"corrupt frame in pack {name} at {at}: {why}" if name else f"corrupt frame at {at}: {why}",
        "nothing from it was used; push the files that need it again from a clone that has them",
    )


# --- frames ---------------------------------------------------------------------------------


class FrameHeader(NamedTuple):
    encoding: int
    raw_length: int
    payload_length: int
    chunk_id: bytes
    base_id: bytes | None  # encoding 2 only

    @property
    def head_size(self) -> int:
        """Bytes before the payload: the header, and the base id of a delta frame."""
        return FRAME_HEADER.size + (ID_SIZE if self.encoding == ENC_DELTA else 0)

    @property
    def size(self) -> int:
        return self.head_size + self.payload_length


def encode_frame(
    chunk_id: bytes, raw_length: int, encoding: int, payload: Buffer, base_id: bytes | None = None
) -> bytes:
    """A frame from its parts (the payload already encoded); see make_frame."""
    if (base_id is not None) != (encoding == ENC_DELTA):
        raise ValueError("a base id goes with encoding 2, and only there")
    hdr = FrameHeader(encoding, raw_length, len(payload), bytes(chunk_id), base_id)
    _check_frame_header(hdr, ValueError)
    head = FRAME_HEADER.pack(encoding, bytes(3), raw_length, len(payload), chunk_id)
    return head + (base_id or b"") + bytes(payload)


def zstd_compress(raw: Buffer, base_raw: Buffer | None = None) -> bytes:
    """One zstd-1 frame with its content size set; with a raw-content dictionary for deltas."""
    z = zstd_module()
    if base_raw is None:
        return bytes(z.ZstdCompressor(level=ZSTD_LEVEL).compress(raw))
    d = z.ZstdCompressionDict(bytes(base_raw), dict_type=z.DICT_TYPE_RAWCONTENT)
    return bytes(z.ZstdCompressor(level=ZSTD_LEVEL, dict_data=d).compress(raw))


def make_frame(
    raw: Buffer,
    encoding: int = ENC_RAW,
    *,
    chunk_id: bytes | None = None,
    payload: Buffer | None = None,
    base_raw: Buffer | None = None,
) -> bytes:
    """The frame of the chunk `raw`: hashed unless `chunk_id` is given, encoded unless
    `payload` is (encoding 2 needs `base_raw`, whose id goes into the frame)."""
    cid = blake3_256(raw) if chunk_id is None else chunk_id
    base_id = None
    if encoding == ENC_DELTA:
        if base_raw is None:
            raise ValueError("a delta frame needs its base's raw bytes")
        base_id = blake3_256(base_raw)
    if payload is None:
        payload = raw if encoding == ENC_RAW else zstd_compress(raw, base_raw)
    return encode_frame(cid, len(raw), encoding, payload, base_id)


def _check_frame_header(h: FrameHeader, err: Any) -> None:
    if h.encoding not in (ENC_RAW, ENC_ZSTD, ENC_DELTA):
        raise err(f"unknown frame encoding {h.encoding}")
    if not 1 <= h.raw_length <= CHUNK_MAX:
        raise err(f"raw length {h.raw_length} is outside 1..{CHUNK_MAX}")
    if h.encoding == ENC_RAW and h.payload_length != h.raw_length:
        raise err("a raw frame's payload length differs from its raw length")
    if not 1 <= h.payload_length <= compress_bound(h.raw_length):
        raise err(f"payload length {h.payload_length} for {h.raw_length} raw bytes")
    if len(h.chunk_id) != ID_SIZE or (h.base_id is not None and len(h.base_id) != ID_SIZE):
        raise err("chunk ids are 32 bytes")


def parse_frame_header(buf: Buffer, pos: int = 0, *, name: str = "", at: int = 0) -> FrameHeader:
    """The header of the frame at `buf[pos:]` (`at`: its offset in the pack, for messages).
    Needs the header (and base id) bytes only, not the payload."""
    mv = memoryview(buf)
    if len(mv) - pos < FRAME_HEADER.size:
        raise _frame_error(name, at, "cut short")
    enc, zero, raw_len, pay_len, cid = FRAME_HEADER.unpack_from(mv, pos)
    if zero != bytes(3):
        raise _frame_error(name, at, "nonzero reserved bytes")
    base_id = None
    if enc == ENC_DELTA:
        if len(mv) - pos < FRAME_HEADER.size + ID_SIZE:
            raise _frame_error(name, at, "cut short")
        start = pos + FRAME_HEADER.size
        base_id = bytes(mv[start : start + ID_SIZE])
    hdr = FrameHeader(enc, raw_len, pay_len, cid, base_id)
    _check_frame_header(hdr, lambda why: _frame_error(name, at, why))
    return hdr


def decode_frame(
    frame: Buffer, *, base_raw: Buffer | None = None, name: str = "", at: int = 0
) -> tuple[FrameHeader, bytes]:
    """Check and decode exactly one frame: its header, its payload, and the BLAKE3 of the raw
    bytes against the id in its header. A delta frame needs `base_raw`, its base's raw bytes."""
    mv = memoryview(frame)
    hdr = parse_frame_header(mv, name=name, at=at)
    if len(mv) != hdr.size:
        raise _frame_error(name, at, f"{len(mv)} bytes, its header says {hdr.size}")
    payload = mv[hdr.head_size :]
    if hdr.encoding == ENC_RAW:
        raw = bytes(payload)
    else:
        if hdr.encoding != ENC_DELTA:
            base_raw = None
        elif base_raw is None or blake3_256(base_raw) != hdr.base_id:
            raise ValueError("decode_frame needs the raw bytes of the frame's base")
        raw = _zstd_decode(payload, hdr, base_raw, lambda why: _frame_error(name, at, why))
    if blake3_256(raw) != hdr.chunk_id:
        raise _frame_error(name, at, "its bytes do not hash to its id")
    return hdr, raw


def _zstd_decode(payload: memoryview, hdr: FrameHeader, base_raw: Buffer | None, err: Any) -> bytes:
    z = zstd_module()
    try:
        # The content size bounds what zstd allocates (it ignores max_output_size when set).
        if z.frame_content_size(payload) != hdr.raw_length:
            raise err("zstd content size differs from the raw length")
        if base_raw is None:
            dctx = z.ZstdDecompressor()
        else:
            d = z.ZstdCompressionDict(bytes(base_raw), dict_type=z.DICT_TYPE_RAWCONTENT)
            dctx = z.ZstdDecompressor(dict_data=d)
        raw = dctx.decompress(payload, max_output_size=hdr.raw_length, allow_extra_data=False)
    except z.ZstdError as e:
        raise err(f"zstd: {e}") from None
    if len(raw) != hdr.raw_length:
        raise err("zstd output differs from the raw length")
    return bytes(raw)


def iter_frames(
    buf: Buffer, at: int, *, name: str = ""
) -> Iterator[tuple[int, FrameHeader, memoryview]]:
    """The frames of a run that starts at pack offset `at` and fills `buf` exactly:
    (offset, header, the whole frame), unverified until decode_frame."""
    mv = memoryview(buf)
    pos = 0
    while pos < len(mv):
        hdr = parse_frame_header(mv, pos, name=name, at=at + pos)
        if pos + hdr.size > len(mv):
            raise _frame_error(name, at + pos, "cut short")
        yield at + pos, hdr, mv[pos : pos + hdr.size]
        pos += hdr.size


# --- pack header, index, trailer ------------------------------------------------------------


class IndexEntry(NamedTuple):
    chunk_id: bytes
    offset: int  # of the frame, from the start of the pack
    length: int  # of the frame: header, base id and payload
    raw_length: int
    encoding: int


class Trailer(NamedTuple):
    index_offset: int
    frame_count: int
    index_hash: bytes
    raw_total: int

    @property
    def pack_size(self) -> int:
        return self.index_offset + INDEX_ENTRY.size * self.frame_count + TRAILER.size


def encode_pack_header(nonce: bytes) -> bytes:
    if len(nonce) != NONCE_SIZE:
        raise ValueError("a pack nonce is 16 bytes")
    return PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION, bytes(6), nonce)


def parse_pack_header(buf: Buffer, *, name: str = "") -> bytes:
    """Check the 32-byte header at the start of `buf`; return the nonce."""
    if len(buf) < PACK_HEADER.size:
        raise _pack_error(name, "shorter than its header")
    magic, version, zero, nonce = PACK_HEADER.unpack_from(buf, 0)
    if magic != PACK_MAGIC:
        raise _pack_error(name, "not a pack (wrong magic)")
    if version != PACK_VERSION:
        raise _pack_error(name, f"pack format version {version} (this gitdata reads 1)")
    if zero != bytes(6):
        raise _pack_error(name, "nonzero reserved bytes in the header")
    return bytes(nonce)


def _entry_error(e: IndexEntry) -> str | None:
    """Why this index entry cannot describe a frame, or None."""
    if e.encoding not in (ENC_RAW, ENC_ZSTD, ENC_DELTA):
        return f"unknown encoding {e.encoding}"
    if not 1 <= e.raw_length <= CHUNK_MAX:
        return f"raw length {e.raw_length} is outside 1..{CHUNK_MAX}"
    head = FRAME_HEADER.size + (ID_SIZE if e.encoding == ENC_DELTA else 0)
    if e.encoding == ENC_RAW and e.length != head + e.raw_length:
        return "a raw frame's length differs from its raw length"
    if not head < e.length <= head + compress_bound(e.raw_length):
        return f"frame length {e.length} for {e.raw_length} raw bytes"
    return None


def encode_pack_tail(entries: Sequence[IndexEntry]) -> bytes:
    """The index and trailer of a pack whose frames `entries` describe, in pack order."""
    trailer = _check_entries(entries, PACK_HEADER.size, ValueError)
    if any(len(e.chunk_id) != ID_SIZE for e in entries):
        raise ValueError("chunk ids are 32 bytes")  # struct would pad them
    index = b"".join(INDEX_ENTRY.pack(*e, bytes(7)) for e in entries)
    return index + TRAILER.pack(
        trailer.index_offset, trailer.frame_count, bytes(4), blake3_256(index), trailer.raw_total,
        PACK_END_MAGIC,
    )  # fmt: skip


def _check_entries(entries: Sequence[IndexEntry], start: int, err: Any) -> Trailer:
    """Frames contiguous from the header on; return the trailer they make (hash left empty)."""
    if not entries:
        raise err("a pack holds at least one frame")
    pos, raw_total = start, 0
    for i, e in enumerate(entries):
        if e.offset != pos:
            raise err(f"index entry {i}: frame at {e.offset}, expected {pos}")
        why = _entry_error(e)
        if why:
            raise err(f"index entry {i}: {why}")
        pos += e.length
        raw_total += e.raw_length
    return Trailer(pos, len(entries), b"", raw_total)


def parse_trailer(buf: Buffer, pack_size: int, *, name: str = "") -> Trailer:
    """Check the trailer, the last 64 bytes of `buf`, against the pack's size."""
    if len(buf) < TRAILER.size:
        raise _pack_error(name, "shorter than its trailer")
    index_offset, count, zero, index_hash, raw_total, magic = TRAILER.unpack_from(
        buf, len(buf) - TRAILER.size
    )
    t = Trailer(index_offset, count, bytes(index_hash), raw_total)
    if magic != PACK_END_MAGIC:
        raise _pack_error(name, "no trailer (wrong end magic)")
    if zero != bytes(4):
        raise _pack_error(name, "nonzero reserved bytes in the trailer")
    if pack_size > PACK_MAX:
        raise _pack_error(name, f"{pack_size} bytes, over the {PACK_MAX} of a pack")
    if count < 1 or index_offset < PACK_HEADER.size + count * (FRAME_HEADER.size + 1):
        raise _pack_error(name, f"the trailer says {count} frames end at {index_offset}")
    if t.pack_size != pack_size:
        raise _pack_error(name, f"the trailer says {t.pack_size} bytes, the pack has {pack_size}")
    return t


def parse_index(index: Buffer, trailer: Trailer, *, name: str = "") -> list[IndexEntry]:
    """Check the index bytes against the trailer (hash, count, raw total) and every entry
    against the layout rules: frames contiguous from the header to the index."""
    mv = memoryview(index)
    if len(mv) != INDEX_ENTRY.size * trailer.frame_count:
        raise _pack_error(name, f"index of {len(mv)} bytes for {trailer.frame_count} frames")
    if blake3_256(mv) != trailer.index_hash:
        raise _pack_error(name, "the index does not hash to the trailer's hash")
    entries = []
    for i in range(trailer.frame_count):
        *fields, zero = INDEX_ENTRY.unpack_from(mv, i * INDEX_ENTRY.size)
        if zero != bytes(7):
            raise _pack_error(name, f"index entry {i}: nonzero reserved bytes")
        entries.append(IndexEntry(*fields))
    made = _check_entries(entries, PACK_HEADER.size, lambda why: _pack_error(name, why))
    if made.index_offset != trailer.index_offset:
        raise _pack_error(
            name, f"frames end at {made.index_offset}, index at {trailer.index_offset}"
        )
    if made.raw_total != trailer.raw_total:
        raise _pack_error(name, "raw lengths do not add up to the trailer's sum")
    return entries


def index_from_tail(
    tail: Buffer, pack_size: int, *, name: str = ""
) -> tuple[Trailer, list[IndexEntry] | None]:
    """The trailer from the last bytes of a pack (`tail`, at most `pack_size`), and its index
    when `tail` holds all of it; else None: fetch `[index_offset, pack_size - 64)` and
    parse_index that."""
    if len(tail) > pack_size:
        raise ValueError("the tail of a pack is not longer than the pack")
    trailer = parse_trailer(tail, pack_size, name=name)
    start = len(tail) - (pack_size - trailer.index_offset)
    if start < 0:
        return trailer, None
    return trailer, parse_index(
        memoryview(tail)[start : len(tail) - TRAILER.size], trailer, name=name
    )


def parse_pack(data: Buffer, *, name: str = "") -> tuple[bytes, list[IndexEntry]]:
    """Check a whole pack's layout: header, trailer, index, and each frame header against its
    index entry (frame payloads are checked by decode_frame). Return (nonce, entries).
    `name`, the pack's id in hex, is checked against the BLAKE3 of the bytes when given."""
    mv = memoryview(data)
    if name and pack_id(mv).hex() != name:
        raise _pack_error(name, "its bytes do not hash to its name")
    nonce = parse_pack_header(mv, name=name)
    trailer, entries = index_from_tail(mv, len(mv), name=name)
    assert entries is not None  # the tail is the whole pack
    for e in entries:
        hdr = parse_frame_header(mv, e.offset, name=name, at=e.offset)
        if (hdr.chunk_id, hdr.size, hdr.raw_length, hdr.encoding) != (
            e.chunk_id, e.length, e.raw_length, e.encoding,
        ):  # fmt: skip
            raise _frame_error(name, e.offset, "differs from its index entry")
    return nonce, entries


def pack_id(data: Buffer) -> bytes:
    """A pack's name is the BLAKE3-256 of the whole file (as 64 hex in keys)."""
    return blake3_256(data)
