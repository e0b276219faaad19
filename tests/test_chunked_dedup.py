"""Dedup across clones in the chunked store (docs/chunked-store.md, 4.6, 5.2, 8.2 step 8):
a clone reads the pack indexes of packs it never read to place frames of the bases it holds,
and a push finds, through key chunks, packs another clone wrote that hold its chunks. Bytes
and requests are counted through the fault proxy in pass-through mode in front of moto."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Env, random_file, write
from faultproxy import FaultProxy
from s3_fixtures import s3_project

MIB = 1 << 20


def s3_repo(env: Env, url: str, endpoint: str, bare: Path | None = None) -> tuple[Path, Path]:
    """A repository whose data remote is `url` (chunked), with a bare Git remote."""
    return s3_project(env, url, endpoint, "true", bare=bare)


def fetched(proxy: FaultProxy) -> int:
    """Bytes of the ranged GETs the proxy saw (pack frames and indexes)."""
    ranges = [h["range"] for op, h, _ in proxy.received if "range" in h]
    return sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))


def uploaded(proxy: FaultProxy) -> int:
    return sum(int(h.get("content-length", 0)) for op, h, _ in proxy.received if op == "PutObject")


def ops(proxy: FaultProxy) -> dict[str, int]:
    out: dict[str, int] = {}
    for op, _ in proxy.requests:
        out[op] = out.get(op, 0) + 1
    return out


def test_a_clone_with_v1_from_its_own_add_fetches_v2_in_few_bytes(env, s3):
    """Clone A has v1 (64 MiB) from its own `git add`, never having read the packs another clone
    wrote it to; v2 (1 MiB overwritten) arrives: A chunks its v1, reads the indexes of v1's
    packs (ranged GETs of their tails) and copies every unchanged frame from its cache."""
    with FaultProxy(s3.endpoint) as proxy:
        repo, bare = s3_repo(env, s3.url("xc"), proxy.endpoint)
        v1 = random_file(repo / "big.bin", 64 * MIB, seed=21).read_bytes()
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        a = env.root / "a"
        env.git("clone", "-q", str(bare), str(a), env={"GIT_DATA_SKIP_SMUDGE": "1"})
        write(a / "big.bin", v1)  # the same bytes, from elsewhere
        env.git("add", "big.bin", cwd=a)
        assert env.out("status", "--porcelain", cwd=a) == ""
        v2 = v1[: 20 * MIB] + os.urandom(MIB) + v1[21 * MIB :]
        write(repo / "big.bin", v2)
        env.commit_all(repo, "v2")
        env.git("push", "-q", cwd=repo)
        proxy.received.clear()
        proxy.requests.clear()
        env.git("pull", "-q", cwd=a)
        assert (a / "big.bin").read_bytes() == v2
        got = fetched(proxy)
        print(f"v2 into a clone with v1 from its own add: {got} bytes in ranged GETs, {ops(proxy)}")
        assert not [k for k in s3.keys("xc/") if "/chunked/" not in k]  # no whole objects
        assert got < 2 * MIB  # the target is 8 MiB; before step 8 it was the 64 MiB
        env.data("fsck", cwd=a)


def test_key_chunks_let_another_clone_dedup_a_file_it_never_saw(env, s3):
    """Clone A pushes a 64 MiB file (3 packs); clone B, which never read A's packs, pushes a copy
    with 1 MiB overwritten at another path: the key chunks in A's manifest (the first chunk of
    the file, the first frame of each pack, 1 chunk in 256) point B at A's packs, B reads their
    indexes and uploads only the changed region."""
    from gitdata.storage.chunked.format.manifest import decode_manifest

    with FaultProxy(s3.endpoint) as proxy:
        repo, bare = s3_repo(env, s3.url("kc"), proxy.endpoint)
        data = random_file(repo / "big.bin", 64 * MIB, seed=33).read_bytes()
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        (mkey,) = [k for k in s3.keys("kc/") if k.endswith(".manifest")]
        body = s3.client.get_object(Bucket=s3.bucket, Key=mkey)["Body"].read()
        m = decode_manifest(body)
        assert len(m.packs) == 3 and len(m.key_chunks) >= 3
        b = env.root / "b"
        env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
        copy = data[: 40 * MIB] + os.urandom(MIB) + data[41 * MIB :]
        write(b / "copy.bin", copy)
        env.commit_all(b, "an edited copy")
        proxy.received.clear()
        proxy.requests.clear()
        env.git("push", "-q", "origin", "main", cwd=b)
        put = uploaded(proxy)
        print(
            f"edited copy of a 64 MiB file from another clone: push uploaded {put} bytes, read "
            f"{fetched(proxy)} bytes of pack indexes, {ops(proxy)}; A's manifest: "
            f"{len(body)} bytes, {len(m.key_chunks)} key chunks"
        )
        assert put < 2 * MIB
        # a HEAD and a ranged GET of its last 64 KiB per pack (and the HEAD asking whether
        # the store has the big file whole)
        assert ops(proxy).get("HeadObject", 0) <= 4 and fetched(proxy) <= 3 * 64 << 10
        c = env.root / "c"
        env.git("clone", "-q", str(bare), str(c))
        assert (c / "copy.bin").read_bytes() == copy and (c / "big.bin").read_bytes() == data


def sqlite_db(path: Path, rows: int, seed: int) -> None:
    import random
    import sqlite3

    rnd = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, x REAL)")
    db.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        ((i, f"row-{rnd.getrandbits(64):016x}-{i}", rnd.getrandbits(31), rnd.random())
         for i in range(rows)),
    )  # fmt: skip
    db.commit()
    db.close()


def update_rows(path: Path, share: float, seed: int) -> None:
    """Update `share` of the rows at random, in place (same sizes: pages change, not move)."""
    import random
    import sqlite3

    rnd = random.Random(seed)
    db = sqlite3.connect(path)
    (rows,) = db.execute("SELECT count(*) FROM t").fetchone()
    ids = rnd.sample(range(rows), int(rows * share))
    db.executemany("UPDATE t SET n = ?, x = ? WHERE id = ?",
                   ((rnd.getrandbits(31), rnd.random(), i) for i in ids))  # fmt: skip
    db.commit()
    db.close()


def test_delta_frames_store_a_sqlite_update_in_less_than_plain_chunks(env):
    """SQLite, 1% of the rows updated at random (nearly every 64 KiB chunk changes a little):
    v2's new frames are deltas against v1's chunks and take less than half of what its changed
    chunks take compressed one by one. A clone that has v1 rebuilds v2 from its cache and the
    deltas; a clone that never had v1 rebuilds it from the base-only terms of v2's record."""
    import io

    from test_chunked_write import dir_repo, packs, tree_bytes

    from gitdata.storage.chunked.chunker import iter_chunks
    from gitdata.storage.chunked.format.common import ENC_DELTA
    from gitdata.storage.chunked.format.pack import parse_pack, zstd_compress

    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    db = repo / "t.bin"  # an SQLite database
    sqlite_db(db, 100_000, seed=5)  # under LINK_MIN: v1 goes into packs
    v1 = db.read_bytes()
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    have = env.root / "have"
    env.git("clone", "-q", str(bare), str(have))
    before, old_packs = tree_bytes(store), set(packs(store))
    update_rows(db, 0.01, seed=6)
    v2 = db.read_bytes()
    env.commit_all(repo, "1% of the rows")
    env.git("push", "-q", cwd=repo)
    grown = tree_bytes(store) - before
    old = {c.id for c, _ in iter_chunks(io.BytesIO(v1))}
    changed = [bytes(d) for c, d in iter_chunks(io.BytesIO(v2)) if c.id not in old]
    plain = sum(min(len(d), len(zstd_compress(d))) for d in changed)
    (new_pack,) = set(packs(store)) - old_packs
    _, entries = parse_pack(new_pack.read_bytes())
    deltas = sum(e.encoding == ENC_DELTA for e in entries)
    print(
        f"SQLite {len(v1)} bytes, 1% rows updated: {len(changed)} chunks changed, "
        f"{sum(map(len, changed))} bytes, {plain} bytes as zstd-1 frames; the store grew by "
        f"{grown} bytes ({deltas} delta frames of {len(entries)})"
    )
    assert deltas > len(entries) // 2 and grown < plain // 2
    env.git("pull", "-q", cwd=have)
    assert (have / "t.bin").read_bytes() == v2
    fresh = env.root / "fresh"
    env.git("clone", "-q", str(bare), str(fresh), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("pull", cwd=fresh)
    assert (fresh / "t.bin").read_bytes() == v2
    env.data("fsck", cwd=fresh)
    # v3: one more row; it reuses the delta frames v2's push wrote, naming their bases (learnt
    # from the frames' headers) in base-only terms, so a clone that never had v1 or v2 reads it
    update_rows(db, 0.00001, seed=7)
    v3 = db.read_bytes()
    env.commit_all(repo, "one row")
    before = tree_bytes(store)
    env.git("push", "-q", cwd=repo)
    grown = tree_bytes(store) - before
    print(f"v3, one more row updated: the store grew by {grown} bytes")
    assert grown < 512 << 10
    later = env.root / "later"
    env.git("clone", "-q", str(bare), str(later), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("pull", cwd=later)
    assert (later / "t.bin").read_bytes() == v3
