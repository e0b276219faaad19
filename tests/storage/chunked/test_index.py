"""The local index (docs/chunked-store.md 4.3): one SQLite file, several writers at once, a newer
schema refused with one clear line, rebuilt after deletion, and small per chunk."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest

from gitdata.storage.chunked.format.manifest import Record, Term
from gitdata.storage.chunked.index import LocalIndex, LocalIndexError, index_path, prune_index


def cid(i: int, tag: str = "c") -> bytes:
    return hashlib.blake2b(f"{tag}{i}".encode(), digest_size=32).digest()


def oid(i: int) -> bytes:
    return hashlib.blake2b(f"o{i}".encode(), digest_size=16).digest()


def _writer(path: str, tag: str, n: int) -> None:
    index = LocalIndex(path)
    for i in range(n):
        chunks = [(cid(j, f"{tag}{i}"), 1000) for j in range(50)]
        index.put_file(oid(hash((tag, i)) % 10**9), 50_000, chunks)
    index.close()


def test_two_processes_write_at_once(tmp_path):
    path = index_path(str(tmp_path / "data"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, tag, 60)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    index = LocalIndex(path)
    assert len(index.file_oids()) == 120
    assert len(index.local_chunks([cid(j, "a7") for j in range(50)])) == 50
    index.close()


def _opener(paths: list[str], barrier) -> None:  # type: ignore[no-untyped-def]
    for path in paths:
        barrier.wait(20)
        LocalIndex(path).close()


def test_processes_open_a_new_index_at_once(tmp_path):
    """Switching a new file to WAL answers "database is locked" at once, without the busy
    timeout, while another process opens it too (the CI run of stop 18 failed on it): each
    of six processes opens the same ten new files together, and all succeed."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    paths = [index_path(str(tmp_path / f"data{i}")) for i in range(10)]
    procs = [ctx.Process(target=_opener, args=(paths, barrier)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


def test_chunk_lists_and_local_chunks(tmp_path):
    index = LocalIndex(str(tmp_path / "i.sqlite"))
    chunks = [(cid(0), 100), (cid(1), 50), (cid(0), 100)]
    index.put_file(oid(1), 250, chunks)
    assert index.file_chunks(oid(1)) == chunks
    found = index.local_chunks([cid(0), cid(1), cid(2)])
    assert found == {cid(0)[:16]: (oid(1), 0, 100), cid(1)[:16]: (oid(1), 100, 50)}
    with pytest.raises(ValueError):
        index.put_file(oid(2), 10, chunks)
    assert index.drop_files([oid(1)]) == 1
    assert index.file_chunks(oid(1)) is None and index.local_chunks([cid(0)]) == {}


def test_records_newest_manifest_first_and_a_gone_pack_drops_them(tmp_path):
    index = LocalIndex(str(tmp_path / "i.sqlite"))
    s = index.store_id("/some/store")
    assert index.store_id("/some/store") == s and index.store_id("/other") != s
    pid = cid(9, "pack")
    older = Record(oid(1), 10, (Term(True, oid(5), 0, 10, 10),))
    newer = Record(oid(1), 10, (Term(False, pid, 32, 54, 10),))
    index.add_manifest(s, b"m1" * 16, 100.0, [older])
    index.add_manifest(s, b"m2" * 16, 200.0, [newer])
    assert [r.record for r in index.records(s, oid(1))] == [newer, older]
    assert index.manifests(s) == {b"m1" * 16, b"m2" * 16}
    p = index.pack_row(s, pid, 1000, 1.0)
    index.put_stored_chunks(s, p, [(cid(1), 32, 54, 0)])
    assert index.stored_chunks_at(p, 32, 86) == [(cid(1)[:16], 32, 54, 0)]
    index.drop_pack(s, pid)
    assert [r.record for r in index.records(s, oid(1))] == [older]
    assert index.stored_chunks_at(p, 0, 1000) == []


def test_a_newer_schema_is_refused_with_one_line(tmp_path):
    path = str(tmp_path / "i.sqlite")
    LocalIndex(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(LocalIndexError) as e:
        LocalIndex(path)
    assert "written by a newer gitdata" in e.value.message and "\n" not in e.value.message


def test_not_a_database_is_one_clear_error(tmp_path):
    path = tmp_path / "i.sqlite"
    path.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(LocalIndexError) as e:
        LocalIndex(str(path))
    assert "delete it" in (e.value.hint or "")


def test_deleted_index_is_rebuilt_empty_and_usable(tmp_path):
    path = index_path(str(tmp_path / "data"))
    index = LocalIndex(path)
    index.put_file(oid(1), 100, [(cid(0), 100)])
    index.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    index = LocalIndex(path)
    assert index.file_chunks(oid(1)) is None
    index.put_file(oid(1), 100, [(cid(0), 100)])
    assert index.file_chunks(oid(1)) == [(cid(0), 100)]


def test_prune_drops_files_no_longer_cached(tmp_path):
    data = str(tmp_path / "data")
    assert prune_index(data, lambda o: True) == 0  # no index: nothing made
    assert not os.path.exists(index_path(data))
    index = LocalIndex(index_path(data))
    index.put_file(oid(1), 100, [(cid(0), 100)])
    index.put_file(oid(2), 100, [(cid(1), 100)])
    index.close()
    assert prune_index(data, lambda o: o == oid(2).hex()) == 1
    index = LocalIndex(index_path(data))
    assert index.file_oids() == {oid(2)}


def test_bytes_per_chunk_stay_under_200(tmp_path):
    """A regression guard on the 162 bytes per chunk measured (2.6): a chunk list entry, a
    local_chunk row and a stored_chunk row, for 1.3 GiB worth of 64 KiB chunks."""
    path = str(tmp_path / "i.sqlite")
    code = f"""
import hashlib
from gitdata.storage.chunked.index import LocalIndex
index = LocalIndex({path!r})
s = index.store_id("s3://bucket")
n, per_file = 20000, 1000
for f in range(n // per_file):
    ids = [hashlib.blake2b(b"%d-%d" % (f, i), digest_size=32).digest() for i in range(per_file)]
    o = hashlib.blake2b(b"%d" % f, digest_size=16).digest()
    index.put_file(o, per_file * 65536, [(c, 65536) for c in ids])
    p = index.pack_row(s, hashlib.blake2b(o, digest_size=32).digest(), 1 << 25, 0.0)
    index.put_stored_chunks(s, p, [(c, 32 + i * 65580, 65580, 0) for i, c in enumerate(ids)])
index._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
index.close()
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    per_chunk = os.path.getsize(path) / 20000
    print(f"local index: {per_chunk:.0f} bytes per chunk")
    assert per_chunk < 200, per_chunk


def test_a_batch_shares_transactions_and_keeps_each_write_atomic(tmp_path):
    """Inside batch(): writes from several threads land in shared transactions that other
    connections see once committed (at the end at the latest); a write that fails rolls back
    alone."""
    import threading

    path = index_path(str(tmp_path / "data"))
    index = LocalIndex(path)
    other = sqlite3.connect(path)
    with index.batch():
        threads = [
            threading.Thread(
                target=lambda t=t: [
                    index.put_file(oid(100 * t + i), 1000, [(cid(100 * t + i), 1000)])
                    for i in range(50)
                ]
            )
            for t in range(4)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with pytest.raises(ValueError):
            with index._write() as db:
                db.execute("INSERT INTO file (oid, size, chunks) VALUES (?, 1, x'')", (oid(999),))
                raise ValueError("this write fails after its insert")
        assert index.file_chunks(oid(999)) is None  # rolled back alone
        assert index.file_chunks(oid(0)) == [(cid(0), 1000)]  # the rest stays, this connection
    assert other.execute("SELECT count(*) FROM file").fetchone()[0] == 200  # committed
    assert not index._db.in_transaction
    index.close()


def test_key_chunks_of_manifests_point_at_packs_whose_index_is_unknown(tmp_path):
    """Key chunks read from a manifest name their pack until its whole index is known (its
    size), and go with their manifest or their pack; an index of schema 1 written before the
    table existed gains it on open."""
    from gitdata.storage.chunked.format.manifest import KeyChunk
    from gitdata.storage.chunked.indexdb import SCHEMA

    path = str(tmp_path / "index.sqlite")
    old = sqlite3.connect(path)
    old.executescript(SCHEMA + "; PRAGMA user_version = 1;")  # from before key chunks
    old.close()
    index = LocalIndex(path)
    sid = index.store_id("s")
    p1, p2 = cid(1, "p"), cid(2, "p")
    keys = [KeyChunk(cid(1), p1, 32), KeyChunk(cid(2), p1, 9000), KeyChunk(cid(3), p2, 32)]
    assert not index.holds(sid, "key_chunk")
    index.add_manifest(sid, b"m" * 32, 1.0, [], keys)
    assert index.holds(sid, "key_chunk")
    assert index.key_chunk_packs(sid, [cid(1), cid(2), cid(3), cid(4)]) == {p1: 2, p2: 1}
    index.pack_row(sid, p1, 0, 1.0)  # frames read from it: its index is still unknown
    assert index.key_chunk_packs(sid, [cid(1)]) == {p1: 1}
    index.pack_row(sid, p1, 5000, 2.0)  # its index was read
    assert index.pack_size(sid, p1) == 5000
    assert index.key_chunk_packs(sid, [cid(1), cid(3)]) == {p2: 1}
    index.drop_pack(sid, p2)
    assert index.key_chunk_packs(sid, [cid(3)]) == {}
    index.drop_manifests(sid, [b"m" * 32])
    assert not index.holds(sid, "key_chunk")
    index.close()
