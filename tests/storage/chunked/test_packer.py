"""PackWriter (docs/chunked-store.md 3.3, 4.5): a temporary file renamed to its id only when
complete; the id is the BLAKE3-256 of the whole file; a pack never exceeds 32 MiB."""

from __future__ import annotations

import hashlib
import os

import pytest

from gitdata.storage.chunked.chunker import FrameEncoder
from gitdata.storage.chunked.format.common import (
    CHUNK_MAX,
    ENC_DELTA,
    ENC_RAW,
    ENC_ZSTD,
    INDEX_ENTRY,
    PACK_MAX,
    blake3_256,
)
from gitdata.storage.chunked.format.pack import decode_frame, parse_pack, zstd_compress
from gitdata.storage.chunked.packer import MIN_LIMIT, PackFull, PackWriter

FRAME_MAX_RAW = 44 + CHUNK_MAX


def stream(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


def read_back(path: str, name: str) -> list[bytes]:
    data = open(path, "rb").read()
    _, entries = parse_pack(data, name=name)
    return [decode_frame(data[e.offset : e.offset + e.length])[1] for e in entries]


def test_write_close_read(tmp_path):
    csv = b"".join(b"%d,%d\n" % (i, i * i) for i in range(20000))
    chunks = [csv[:50000], stream("a", 3000), csv[50000:90000]]
    with PackWriter(str(tmp_path)) as w:
        entries = [w.add_chunk(raw, FrameEncoder()) for raw in chunks]
        assert w.size == entries[-1].offset + entries[-1].length + 3 * INDEX_ENTRY.size + 64
        closed = w.close()
    assert [e.encoding for e in entries] == [ENC_ZSTD, ENC_RAW, ENC_ZSTD]
    assert closed.entries == entries and closed.size == os.path.getsize(closed.path)
    data = open(closed.path, "rb").read()
    assert closed.pid == blake3_256(data)  # named by the BLAKE3 of the whole file
    assert closed.path == str(tmp_path / (closed.pid.hex() + ".pack"))
    assert os.listdir(tmp_path) == [closed.pid.hex() + ".pack"]
    assert read_back(closed.path, closed.pid.hex()) == chunks


def test_delta_and_precomputed_frames(tmp_path):
    base = b"base chunk " * 300
    raw = base.replace(b"chunk", b"block", 3)
    with PackWriter(str(tmp_path)) as w:
        w.add(blake3_256(base), len(base), ENC_RAW, base)
        w.add(blake3_256(raw), len(raw), ENC_DELTA, zstd_compress(raw, base), blake3_256(base))
        closed = w.close()
    data = open(closed.path, "rb").read()
    _, (e0, e1) = parse_pack(data, name=closed.pid.hex())
    assert e1.encoding == ENC_DELTA and e1.length < 200
    assert decode_frame(data[e1.offset : e1.offset + e1.length], base_raw=base)[1] == raw
    with PackWriter(str(tmp_path)) as w, pytest.raises(ValueError):
        w.add_chunk(raw, _Delta())


class _Delta(FrameEncoder):
    def encode(self, raw):
        return ENC_DELTA, raw


def test_nothing_has_a_packs_name_before_it_is_complete(tmp_path):
    w = PackWriter(str(tmp_path))
    for i in range(40):
        w.add_chunk(stream(f"c{i}", 50000))
    w._file.flush()  # even with every frame on disk
    names = os.listdir(tmp_path)
    assert len(names) == 1 and names[0].startswith("pack-") and names[0].endswith(".tmp")
    assert not any(n.endswith(".pack") for n in names)
    assert w.temp_path == str(tmp_path / names[0])
    closed = w.close()
    assert os.listdir(tmp_path) == [os.path.basename(closed.path)]
    with pytest.raises(ValueError):
        w.close()


def test_an_error_or_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), PackWriter(str(tmp_path)) as w:
        w.add_chunk(b"x" * 1000)
        raise RuntimeError("the push failed")
    assert os.listdir(tmp_path) == []
    w = PackWriter(str(tmp_path))
    w.add_chunk(b"y")
    w.abort()
    w.abort()
    assert os.listdir(tmp_path) == []
    with PackWriter(str(tmp_path)) as w, pytest.raises(ValueError):
        w.close()  # a pack holds at least one frame
    assert os.listdir(tmp_path) == []


def test_two_writers_and_the_nonce(tmp_path):
    """Two packs of the same chunks never share a name; a fixed nonce gives the same bytes."""
    ids = []
    for nonce in (None, None, bytes(16), bytes(16)):
        with PackWriter(str(tmp_path), nonce=nonce) as w:
            w.add_chunk(b"same chunk")
            ids.append(w.close().pid)
    assert ids[0] != ids[1] and ids[2] == ids[3] and len(set(ids)) == 3
    assert len(os.listdir(tmp_path)) == 3


@pytest.mark.parametrize("limit", [MIN_LIMIT, 300_000, 1 << 20])
def test_closes_before_the_limit(tmp_path, limit):
    w = PackWriter(str(tmp_path), limit=limit)
    n = 0
    while w.fits(FRAME_MAX_RAW):
        w.add_chunk(stream(f"f{n}", CHUNK_MAX))
        n += 1
    assert n >= 1
    with pytest.raises(PackFull):
        w.add_chunk(stream("one too many", CHUNK_MAX))
    small = 44 + 10
    if w.fits(small):  # smaller frames may still go in
        w.add_chunk(b"0123456789")
    closed = w.close()
    assert closed.size <= limit < closed.size + FRAME_MAX_RAW + INDEX_ENTRY.size
    assert len(read_back(closed.path, closed.pid.hex())) == len(closed.entries)


def test_a_full_pack_is_at_most_32_mib(tmp_path):
    """The real limit: 32 MiB (one PUT). Frames of the largest raw chunks fill it."""
    w = PackWriter(str(tmp_path))
    assert w.limit == PACK_MAX == 33_554_432
    chunk = stream("full", CHUNK_MAX)
    n = 0
    while w.fits(FRAME_MAX_RAW):
        w.add(blake3_256(chunk + n.to_bytes(4, "little")), CHUNK_MAX, ENC_RAW, chunk)
        n += 1
    closed = w.close()
    assert os.path.getsize(closed.path) == closed.size <= PACK_MAX
    assert closed.size + FRAME_MAX_RAW + INDEX_ENTRY.size > PACK_MAX
    assert n == 255
    # the index of a full pack fits in the tail a reader fetches first (64 KiB)
    assert n * INDEX_ENTRY.size + 64 < 64 * 1024


def test_limits_out_of_range(tmp_path):
    for limit in (MIN_LIMIT - 1, PACK_MAX + 1):
        with pytest.raises(ValueError):
            PackWriter(str(tmp_path), limit=limit)
    assert os.listdir(tmp_path) == []
