"""The chunker (docs/chunked-store.md 2.2, 2.4, 4.4, 4.5): format 1's cut points, streaming in
constant memory, boundaries that survive edits, and the per-group compression rule."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitdata.storage.chunked import chunker
from gitdata.storage.chunked.chunker import (
    GROUP,
    Chunk,
    ChunkerUnavailable,
    FrameEncoder,
    chunk_file,
    iter_chunks,
    shrinks,
)
from gitdata.storage.chunked.format.common import (
    CHUNK_MAX,
    CHUNK_MIN,
    ENC_RAW,
    ENC_ZSTD,
    blake3_256,
)

KiB, MiB = 1 << 10, 1 << 20


def stream(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


def chunks_of(data: bytes) -> list[Chunk]:
    return [c for c, _ in iter_chunks(io.BytesIO(data))]


def test_chunks_cover_the_file(tmp_path):
    data = stream("cover", 3 * MiB + 1234)
    path = tmp_path / "f"
    path.write_bytes(data)
    chunks = chunk_file(path)
    assert chunks == chunks_of(data)
    pos = 0
    for i, c in enumerate(chunks):
        assert c.offset == pos and c.id == blake3_256(data[pos : pos + c.length])
        assert c.length <= CHUNK_MAX
        assert c.length >= CHUNK_MIN or i == len(chunks) - 1
        pos += c.length
    assert pos == len(data)
    # the mean is avg + min (cut-point skipping); 3 MiB make about 43 chunks
    assert 30 <= len(chunks) <= 60


def test_small_and_empty_files(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    assert chunk_file(tmp_path / "empty") == []
    (tmp_path / "one").write_bytes(b"x")
    assert chunk_file(tmp_path / "one") == [Chunk(blake3_256(b"x"), 0, 1)]
    zeros = bytes(3 * CHUNK_MAX + 5)  # no content cut point: chunks at the maximum
    assert [c.length for c in chunks_of(zeros)] == [CHUNK_MAX] * 3 + [5]


def test_the_compiled_chunker_cuts_like_the_reference():
    """pyfastcdc's pure-Python implementation with format 1's parameters, as a second opinion
    on the arguments we pass (the doc says they agree: checked again here)."""
    from pyfastcdc.py import FastCDC

    data = stream("reference", 600 * KiB) + bytes(300 * KiB) + stream("tail", 100 * KiB)
    ref = FastCDC(65536, min_size=8192, max_size=131072, normalized_chunking=1, seed=0)
    assert [(c.offset, c.length) for c in ref.cut_buf(data)] == [
        (c.offset, c.length) for c in chunks_of(data)
    ]


def test_without_the_compiled_chunker(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyfastcdc.cy", None)  # import fails
    assert "pyfastcdc" in chunker.unavailable()
    (tmp_path / "f").write_bytes(b"data")
    with pytest.raises(ChunkerUnavailable, match="pyfastcdc"):
        chunk_file(tmp_path / "f")


# --- boundary stability ------------------------------------------------------------------
#
# FastCDC decides a cut from the bytes since the previous cut plus one byte of look-ahead, so:
# - a chunk that ends before an edit is unchanged (exactly);
# - after the edit, once a cut point is shared by both versions, every later chunk is too
#   (exactly: the chunker has no other state);
# - how soon the cut points meet again is a matter of chance. Over 30,000 random edits of 1 B to
#   200 KiB (`benchmarks/chunk_params.py --only resync`): median: no chunk after the edit
#   changes; p90 67 KiB, p99 252 KiB, p99.9 470 KiB, max 898 KiB, from the edit to the start of
#   the last changed chunk. So "chunks more than 256 KiB after the edit are unchanged" fails for
#   0.95% of edits; 1 MiB held for all 30,000, and is what the property asserts (with fixed
#   examples, so that the rare edit that needs more cannot make the test flaky); the share
#   within 256 KiB is checked over a fixed sample.

RESYNC_MAX = 1 * MiB


def edit(data: bytes, kind: str, pos: int, k: int, seed: int) -> tuple[bytes, int, int]:
    """(new data, end of the edit in the old data, shift of the bytes after it)."""
    new = stream(f"edit{seed}", k)
    if kind == "insert":
        return data[:pos] + new + data[pos:], pos, k
    if kind == "delete":
        k = min(k, len(data) - pos)
        return data[:pos] + data[pos + k :], pos + k, -k
    k = min(k, len(data) - pos)
    return data[:pos] + new[:k] + data[pos + k :], pos + k, 0


def changed_after(old: list[Chunk], new: list[Chunk], pos: int, end: int, shift: int) -> int:
    """Check the exact properties; return how far after the edit the last changed chunk
    starts (-1: none)."""
    new_set = set(new)
    for c in old:
        if c.offset + c.length < pos:  # ends before the edit, look-ahead byte included
            assert c in new_set
    after = [c for c in old if c.offset >= end]
    same = [Chunk(c.id, c.offset + shift, c.length) in new_set for c in after]
    if True in same:  # once resynchronized, always
        assert all(same[same.index(True) :])
    return max((c.offset - end for c, ok in zip(after, same) if not ok), default=-1)


# Ranges kept small (KiB, per mille): hypothesis draws wide integer ranges mostly near their ends.
@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size_kib=st.integers(128, 2048),
    permille=st.integers(0, 1000),
    k=st.one_of(st.integers(1, 64), st.integers(1, 256).map(lambda n: n * KiB - 7)),
    kind=st.sampled_from(["insert", "delete", "overwrite"]),
)
def test_edits_change_only_nearby_chunks(seed, size_kib, permille, k, kind):
    size = size_kib * KiB + seed % KiB
    data = stream(f"file{seed}", size)
    pos = size * permille // 1000
    new, end, shift = edit(data, kind, pos, k, seed)
    assert changed_after(chunks_of(data), chunks_of(new), pos, end, shift) < RESYNC_MAX


def test_most_edits_resynchronize_within_256_kib():
    """A fixed sample of 300 edits, in the first third of 1.5 MiB files."""
    rnd = random.Random(12)
    far = []
    for i in range(300):
        data = stream(f"sample{i}", 3 * MiB // 2)
        pos = rnd.randrange(MiB // 2)
        kind = ("insert", "delete", "overwrite")[i % 3]
        k = rnd.choice([1, 100, 4096, rnd.randrange(1, 128 * KiB)])
        new, end, shift = edit(data, kind, pos, k, i)
        far.append(changed_after(chunks_of(data), chunks_of(new), pos, end, shift))
    assert sum(d > 256 * KiB for d in far) <= 6  # 2%; about 1% measured
    assert max(far) < RESYNC_MAX
    assert sorted(far)[len(far) // 2] <= 0  # the median edit changes nothing after itself


# --- memory -------------------------------------------------------------------------------

# Peak RSS of the child's own memory: VmHWM. Its ru_maxrss would not do: Linux carries the
# high-water mark across fork and exec, so a child of this pytest process starts with the RSS of
# pytest itself (about 70 MiB after the hypothesis tests).
MEASURE = textwrap.dedent(
    """
    import sys
    from gitdata.storage.chunked.chunker import chunk_file, FrameEncoder
    import blake3, zstandard, pyfastcdc.cy

    def peak_kib():
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])

    before = peak_kib()
    chunks = chunk_file(sys.argv[1])
    after = peak_kib()
    print(len(chunks), sum(c.length for c in chunks), before, after)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_memory_stays_constant_on_a_large_file(tmp_path):
    """256 MiB, random in 1 MiB pieces every 4 MiB and sparse between, read as a stream:
    the peak RSS stays under 60 MiB, and chunking adds under 8 MiB to what the imports take."""
    path = tmp_path / "big"
    size = 256 * MiB
    with open(path, "wb") as f:
        for i in range(0, size, 4 * MiB):
            f.seek(i)
            f.write(stream(f"big{i}", MiB))
        f.truncate(size)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    n, total, before, after = map(int, out.stdout.split())
    assert total == size and n > size // CHUNK_MAX
    assert after < 60 * 1024, f"peak RSS {after} KiB"
    assert after - before < 8 * 1024, f"chunking took {after - before} KiB"


# --- compression rule ---------------------------------------------------------------------


def test_shrinks_is_seven_eighths():
    assert shrinks(7, 8) and shrinks(700, 800) and not shrinks(701, 800)
    assert shrinks(0, 1) and not shrinks(1, 1)


CSV = b"".join(b"%d,sensor-%d,%d.25\n" % (i, i % 13, i * 17) for i in range(5000))


def csv_chunk(i: int) -> bytes:
    return CSV[i * 100 : i * 100 + 20000]


def random_chunk(i: int) -> bytes:
    return stream(f"r{i}", 20000)


def test_a_group_follows_its_first_chunk():
    enc = FrameEncoder()
    # group 1: the first chunk compresses, so the group is tried chunk by chunk
    first = [csv_chunk(0)] + [random_chunk(i) if i % 2 else csv_chunk(i) for i in range(1, GROUP)]
    got = [enc.encode(raw)[0] for raw in first]
    assert got == [ENC_ZSTD] + [ENC_RAW if i % 2 else ENC_ZSTD for i in range(1, GROUP)]
    # group 2: the first chunk does not, so the whole group stays raw, compressible or not
    second = [random_chunk(100)] + [csv_chunk(i) for i in range(1, GROUP)]
    assert [enc.encode(raw)[0] for raw in second] == [ENC_RAW] * GROUP
    # group 3 decides again
    assert enc.encode(csv_chunk(3))[0] == ENC_ZSTD


def test_payloads_decode_to_the_chunk():
    import zstandard

    enc = FrameEncoder()
    raw = csv_chunk(7)
    encoding, payload = enc.encode(raw)
    assert encoding == ENC_ZSTD and len(payload) * 8 <= len(raw) * 7
    assert zstandard.ZstdDecompressor().decompress(payload) == raw
    assert zstandard.frame_content_size(payload) == len(raw)
    raw = random_chunk(1)
    assert FrameEncoder().encode(raw) == (ENC_RAW, raw)


def test_without_zstandard_every_frame_is_raw(monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    enc = FrameEncoder()
    assert all(enc.encode(csv_chunk(i))[0] == ENC_RAW for i in range(GROUP + 2))


def test_unavailable_is_none_here():
    assert chunker.unavailable() is None
    assert os.cpu_count()
