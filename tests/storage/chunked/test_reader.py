"""The read path (docs/chunked-store.md, 5): files rebuilt byte-exact from every mix of cached
chunks, frames (raw, zstd) and whole-object ranges; remote pieces coalesced into few ranged
GETs; a missing pack falls back to another record, then to the whole object; a corrupt frame
fails its file and leaves the cache untouched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from chunked_helper import ChunkedWriter

from gitdata.cache import Cache
from gitdata.hashing import hash_bytes
from gitdata.storage import StoreSpec, key_for, open_store
from gitdata.storage.chunked import ChunkedStore
from gitdata.storage.chunked.format.common import ENC_RAW, ENC_ZSTD, format_text
from gitdata.storage.chunked.index import LocalIndex, LocalIndexError
from gitdata.storage.chunked.reader import GET_MAX, Piece, coalesce, pack_key, split_whole
from gitdata.storage.keys import FORMAT_KEY


def stream(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


def csv(n: int, seed: int = 0) -> bytes:
    return b"".join(b"%d,%d,%d\n" % (i, i * seed, i * i) for i in range(n))[: n * 12]


class Counting:
    """A store that counts what the reader asks of it."""

    def __init__(self, store):
        self.inner = store
        self.ranges: list[tuple[str, int, int]] = []
        self.lists = 0
        self.gets: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_range(self, key, offset, length):
        self.ranges.append((key, offset, length))
        return self.inner.get_range(key, offset, length)

    def list_keys(self, prefix):
        self.lists += 1
        return self.inner.list_keys(prefix)

    def get_bytes(self, key):
        self.gets.append(key)
        return self.inner.get_bytes(key)

    @property
    def fetched(self) -> int:
        return sum(n for _, _, n in self.ranges)


class Clone:
    """A cache and a local index, as one clone has them."""

    def __init__(self, tmp: Path, store, name: str = "clone") -> None:
        self.cache = Cache(str(tmp / name / "objects"))
        self.index_path = str(tmp / name / "chunked" / "index.sqlite")
        self.store = Counting(store)

    def rebuild(self, *datas: bytes):
        cs = ChunkedStore(self.store, self.index_path)
        try:
            return cs.rebuild(
                {hash_bytes(d): len(d) for d in datas}, self.cache, self.cache.adopt, 2
            )
        finally:
            cs.close()

    def has(self, data: bytes) -> bool:
        oid = hash_bytes(data)
        return self.cache.has(oid) and Path(self.cache.path(oid)).read_bytes() == data


@pytest.fixture
def store(tmp_path):
    return open_store(StoreSpec(str(tmp_path / "store")))


def test_raw_and_zstd_frames_rebuild_byte_exact(tmp_path, store):
    w = ChunkedWriter(store, tmp_path)
    a, b = stream("a", 3_000_000), csv(200_000, 3)
    w.manifest([w.push(a, ENC_RAW), w.push(b, ENC_ZSTD)])
    c = Clone(tmp_path, store)
    r = c.rebuild(a, b)
    assert sorted(r.done) == sorted([hash_bytes(a), hash_bytes(b)]) and not r.failed and not r.rest
    assert c.has(a) and c.has(b)
    assert len(c.store.ranges) == 2  # one pack each, one GET each
    assert c.store.lists == 1 and len(c.store.gets) == 2  # the manifest, FORMAT
    assert os.listdir(c.cache.tmp_dir) == []


def test_a_new_version_is_rebuilt_from_the_cached_old_one(tmp_path, store):
    """The old version's chunks, learnt when it was rebuilt, are copied from the cache: only
    the changed region is downloaded."""
    w = ChunkedWriter(store, tmp_path)
    v1 = stream("v1", 4 << 20)
    v2 = v1[: 2 << 20] + stream("edit", 10_000) + v1[(2 << 20) + 10_000 :]
    r1, r2 = w.push(v1), w.push(v2)
    w.manifest([r1])
    w.manifest([r2])
    c = Clone(tmp_path, store)
    assert c.rebuild(v1).done
    before = c.store.fetched
    assert c.rebuild(v2).done and c.has(v2)
    assert c.store.fetched - before < 600_000, c.store.fetched - before
    # and v2's own chunk list is recorded: a v3 dedups against it as well
    index = LocalIndex(c.index_path)
    assert sum(n for _, n in index.file_chunks(bytes.fromhex(hash_bytes(v2)))) == len(v2)


def test_whole_object_ranges_from_the_store_and_from_the_cache(tmp_path, store):
    v1 = stream("w1", 3 << 20)
    v2 = v1[:1_000_000] + stream("w-edit", 5000) + v1[1_005_000:]
    (tmp_path / "v1").write_bytes(v1)
    store.upload(hash_bytes(v1), str(tmp_path / "v1"), len(v1))
    w = ChunkedWriter(store, tmp_path)
    rec = w.push(v2, whole_of=(v1, bytes.fromhex(hash_bytes(v1))))
    assert sum(t.whole for t in rec.terms) == 2 and sum(not t.whole for t in rec.terms) == 1
    w.manifest([rec])
    fresh = Clone(tmp_path, store, "fresh")  # v1 not cached: ranges of its whole object
    assert fresh.rebuild(v2).done and fresh.has(v2)
    assert {k for k, _, _ in fresh.store.ranges} == {key_for(hash_bytes(v1)), pack_key(w.packs[0])}
    warm = Clone(tmp_path, store, "warm")  # v1 cached: only the pack's frames travel
    (tmp_path / "v1b").write_bytes(v1)
    warm.cache.adopt(str(tmp_path / "v1b"), hash_bytes(v1), len(v1))
    assert warm.rebuild(v2).done and warm.has(v2)
    assert [k for k, _, _ in warm.store.ranges] == [pack_key(w.packs[0])]
    assert warm.store.fetched < 200_000


def test_every_mix_in_one_file(tmp_path, store):
    """Local chunks, raw frames, zstd frames and a whole-object range in one record."""
    w = ChunkedWriter(store, tmp_path)
    base = stream("base", 1 << 20)
    (tmp_path / "base").write_bytes(base)
    store.upload(hash_bytes(base), str(tmp_path / "base"), len(base))
    known = stream("known", 1 << 20)
    w.manifest([w.push(known)])
    text = csv(100_000, 7)
    w.push(text, ENC_ZSTD)  # its chunks go into a zstd pack
    mixed = base + known + text + stream("tail", 300_000)
    rec = w.push(
        mixed, whole_of=(base + bytes(len(mixed) - len(base)), bytes.fromhex(hash_bytes(base)))
    )
    w.manifest([rec])
    c = Clone(tmp_path, store)
    assert c.rebuild(known).done  # the clone now holds known's chunks
    r = c.rebuild(mixed)
    assert r.done and c.has(mixed), r
    assert not any(k == pack_key(w.packs[0]) for k, _, _ in c.store.ranges[1:])


def test_coalescing_arithmetic():
    def p(off, n, key="k", pack=b"p"):
        return Piece(key, off, n, n, pack, [("o", off)])

    far = 111 + (1 << 20)
    spans = coalesce([p(100, 10), p(0, 50), p(far, 10), p(far + 11, 5), p(far + 16 + (1 << 20), 1)])
    assert [(s.offset, s.end, len(s.pieces)) for s in spans] == [
        (0, 110, 2),  # a gap of 50 bytes: merged
        (far, far + 17 + (1 << 20), 3),  # 1 MiB + 1 from 110: a new span; exactly 1 MiB: merged
    ]
    # identical pieces of two files are fetched once, for both
    a, b = p(0, 10), Piece("k", 0, 10, 10, b"p", [("other", 500)])
    (only,) = coalesce([a, b])
    assert only.pieces[0].dests == [("o", 0), ("other", 500)]
    # overlapping pieces are never in one span; no span is over GET_MAX unless one piece is
    spans = coalesce([p(0, 100), p(50, 100), p(200, GET_MAX - 200), p(GET_MAX + 50, 1)])
    assert [(s.offset, s.end) for s in spans] == [
        (0, 100),
        (50, GET_MAX),
        (GET_MAX + 50, GET_MAX + 51),
    ]
    assert len(coalesce([p(0, 2 * GET_MAX)])) == 1  # a pack term is not split
    # another key is another span
    assert len(coalesce([p(0, 10), p(10, 10, key="j")])) == 2
    whole = Piece("w", 7, 2 * GET_MAX + 3, 2 * GET_MAX + 3, None, [("o", 100)])
    parts = split_whole(whole)
    assert [(q.offset, q.length, q.dests) for q in parts] == [
        (7, GET_MAX, [("o", 100)]),
        (7 + GET_MAX, GET_MAX, [("o", 100 + GET_MAX)]),
        (7 + 2 * GET_MAX, 3, [("o", 100 + 2 * GET_MAX)]),
    ]


def test_a_missing_pack_falls_back_to_another_record_then_the_whole_object(tmp_path, store):
    data = stream("m", 500_000)
    w = ChunkedWriter(store, tmp_path)
    old = w.push(data)
    w.manifest([old])
    w.where.clear()  # the second push stores every chunk again, in a second pack
    new = w.push(data)
    w.manifest([new])
    assert old.terms[0].source != new.terms[0].source
    c = Clone(tmp_path, store)
    ChunkedStore(c.store, c.index_path).view().sync()  # the clone knows both records
    store.delete_keys([pack_key(new.terms[0].source)])
    r = c.rebuild(data)
    assert r.done == [hash_bytes(data)] and c.has(data)
    # neither pack left: no usable record, the caller reads the whole object
    store.delete_keys([pack_key(old.terms[0].source)])
    c2 = Clone(tmp_path, store, "c2")
    ChunkedStore(c2.store, c2.index_path).view().sync()
    r = c2.rebuild(data)
    assert r.rest == [hash_bytes(data)] and not r.done and not r.failed
    assert not c2.cache.has(hash_bytes(data))


@pytest.mark.parametrize("encoding", [ENC_RAW, ENC_ZSTD])
def test_a_corrupt_frame_fails_the_file_and_leaves_the_cache_untouched(tmp_path, store, encoding):
    good, bad = csv(50_000, 1), csv(80_000, 2)
    w = ChunkedWriter(store, tmp_path)
    w.manifest([w.push(good, encoding)])
    w.manifest([w.push(bad, encoding)])
    path = Path(store.root) / pack_key(w.packs[1])
    blob = bytearray(path.read_bytes())
    blob[32 + 44 + 10] ^= 0xFF  # inside the first frame's payload
    os.chmod(path, 0o644)
    path.write_bytes(bytes(blob))
    c = Clone(tmp_path, store)
    r = c.rebuild(good, bad)
    assert r.done == [hash_bytes(good)] and c.has(good)
    err = r.failed[hash_bytes(bad)]
    assert err.message.startswith(f"corrupt frame in pack {w.packs[1].hex()} at 32: ")
    assert "\n" not in err.message
    assert not c.cache.has(hash_bytes(bad)) and os.listdir(c.cache.tmp_dir) == []


def test_a_store_without_format_costs_one_get_and_no_manifest_is_read(tmp_path, store):
    data = b"x" * 1000
    (tmp_path / "f").write_bytes(data)
    store.upload(hash_bytes(data), str(tmp_path / "f"), len(data))
    for i in range(3):  # what pushes write (what each relied on): not records to read
        store.put_bytes(f"chunked/v1/manifests/{i:064x}.manifest", b"not read")
    c = Clone(tmp_path, store)
    r = c.rebuild(data)
    assert r.rest == [hash_bytes(data)]
    assert (c.store.lists, c.store.gets, c.store.ranges) == (0, ["chunked/v1/FORMAT"], [])


def test_an_index_that_cannot_be_written_reads_all_the_same(tmp_path, store):
    w = ChunkedWriter(store, tmp_path)
    data = stream("ro", 200_000)
    w.manifest([w.push(data)])
    c = Clone(tmp_path, store)
    (tmp_path / "a-file").write_bytes(b"")
    c.index_path = str(tmp_path / "a-file" / "chunked" / "index.sqlite")  # cannot be made
    assert c.rebuild(data).done and c.has(data)


def test_a_damaged_index_is_one_clear_error(tmp_path, store):
    c = Clone(tmp_path, store)
    os.makedirs(os.path.dirname(c.index_path))
    Path(c.index_path).write_bytes(b"not sqlite at all" * 500)
    with pytest.raises(LocalIndexError, match="local index"):
        c.rebuild(b"x")


def test_a_corrupt_frame_fails_only_the_files_that_need_it_in_a_shared_span(tmp_path, store):
    a, b, c = stream("s-a", 100_000), stream("s-b", 100_000), stream("s-c", 100_000)
    w = ChunkedWriter(store, tmp_path)
    w.manifest(w.push_many([a, b, c]))  # one pack, one span, b's frames in the middle
    path = Path(store.root) / pack_key(w.packs[0])
    blob = bytearray(path.read_bytes())
    _, off, flen, _ = w.where[next(cid for cid, pos in w.where.items() if pos[1] > 32 + 100_000)]
    blob[off + 100] ^= 1
    os.chmod(path, 0o644)
    path.write_bytes(bytes(blob))
    cl = Clone(tmp_path, store)
    r = cl.rebuild(a, b, c)
    assert sorted(r.done) == sorted([hash_bytes(a), hash_bytes(c)]) and cl.has(a) and cl.has(c)
    assert "corrupt frame in pack" in r.failed[hash_bytes(b)].message
    assert len(cl.store.ranges) == 1


def test_format_decides_whether_records_are_read(tmp_path, store):
    data = stream("fmt", 100_000)
    w = ChunkedWriter(store, tmp_path)
    w.manifest([w.push(data)])
    newer = format_text(True).replace(b"readers-need 1", b"readers-need 2")
    store.put_bytes(FORMAT_KEY, newer)
    r = Clone(tmp_path, store, "a").rebuild(data)
    assert "needs a newer gitdata" in r.failed[hash_bytes(data)].message and not r.rest
    store.delete_keys([FORMAT_KEY])  # no FORMAT: no writer made the records
    r = Clone(tmp_path, store, "b").rebuild(data)
    assert r.rest == [hash_bytes(data)] and not r.failed


def test_delta_frames_read_before_their_base_and_from_base_only_terms(tmp_path, store):
    """A delta frame whose base comes later in the same file waits for it; a file that holds
    only the delta reads its base from a base-only term (kept on disk, not in the file); a
    record with neither fails its file with one clear error and leaves the cache untouched."""
    from gitdata.storage.chunked.format.common import ENC_DELTA, blake3_256
    from gitdata.storage.chunked.format.manifest import Record, Term
    from gitdata.storage.chunked.format.pack import zstd_compress
    from gitdata.storage.chunked.packer import PackWriter

    y = stream("base", 60_000)
    x = y[:30_000] + b"changed" + y[30_007:]
    w = ChunkedWriter(store, tmp_path)
    with PackWriter(str(w.tmp)) as pw:
        d = pw.add(blake3_256(x), len(x), ENC_DELTA, zstd_compress(x, y), blake3_256(y))
        b = pw.add(blake3_256(y), len(y), ENC_RAW, y)
        closed = pw.close()
    store.put_file(pack_key(closed.pid), closed.path)
    assert d.length < 1000  # the delta pays

    def rec(data: bytes, *terms: Term) -> Record:
        return Record(bytes.fromhex(hash_bytes(data)), len(data), terms)

    pid = closed.pid
    both = rec(x + y, Term(False, pid, d.offset, d.length + b.length, len(x) + len(y)))
    alone = rec(x, Term(False, pid, d.offset, d.length, len(x)),
                Term(False, pid, b.offset, b.length, 0, True))  # fmt: skip
    w.manifest([both, alone])
    c = Clone(tmp_path, store)
    r = c.rebuild(x + y, x)
    assert not r.failed and sorted(r.done) == sorted([hash_bytes(x + y), hash_bytes(x)])
    assert c.has(x + y) and c.has(x)
    assert os.listdir(c.cache.tmp_dir) == []  # the spill file is gone too
    orphan = x[:-1] + b"!"
    ow = PackWriter(str(w.tmp))
    o = ow.add(blake3_256(orphan), len(orphan), ENC_DELTA, zstd_compress(orphan, y), blake3_256(y))
    oc = ow.close()
    store.put_file(pack_key(oc.pid), oc.path)
    w.manifest([rec(orphan, Term(False, oc.pid, o.offset, o.length, len(orphan)))])
    fresh = Clone(tmp_path, store, "fresh")
    r = fresh.rebuild(orphan)
    err = r.failed[hash_bytes(orphan)]
    assert "its delta base is not in the cache" in err.message
    assert not fresh.cache.has(hash_bytes(orphan))


def test_many_manifests_are_read_several_at_once(tmp_path, store):
    """A clone of a store that many pushes wrote to reads one manifest per push: READERS at a
    time (a store that answers each GET late shows more than one in flight, never more than
    READERS); a damaged one is a problem said, one gone since the listing is skipped, and every
    other file rebuilds."""
    import threading
    import time

    from gitdata.errors import ObjectMissing
    from gitdata.storage.chunked.manifests import READERS, manifest_key

    w = ChunkedWriter(store, tmp_path)
    datas = [stream(f"p{i}", 20_000 + i) for i in range(20)]
    mids = [w.manifest([w.push(d)]) for d in datas]
    store.put_bytes(manifest_key(b"\x01" * 32), b"damaged")
    gone = mids[5]

    class Late(Counting):
        def __init__(self, inner):
            super().__init__(inner)
            self.now = self.most = 0
            self.lock = threading.Lock()

        def get_bytes(self, key):
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.02)
                if key == manifest_key(gone):
                    raise ObjectMissing(f"{key} is gone")
                return super().get_bytes(key)
            finally:
                with self.lock:
                    self.now -= 1

    c = Clone(tmp_path, store)
    c.store = Late(store)
    view = ChunkedStore(c.store, c.index_path).view()
    synced = view.sync()
    assert (synced.listed, synced.read) == (21, 19)
    assert 1 < c.store.most <= READERS
    assert len(view.problems) == 1 and "01" * 32 in view.problems[0].message
    r = c.rebuild(*datas)
    assert sorted(r.done) == sorted(hash_bytes(d) for i, d in enumerate(datas) if i != 5)
    assert r.rest == [hash_bytes(datas[5])]
