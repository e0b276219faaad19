"""The read path of the chunked store through real git and real stores (docs/chunked-store.md,
5): a clone gets files whose bytes the store keeps only in packs, through checkout (the smudge
filter) and `git data pull`; request counts on S3 (moto, through the counting proxy); memory
stays bounded rebuilding a large file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from chunked_helper import ChunkedWriter
from conftest import Env, random_file, write
from faultproxy import FaultProxy

from gitdata.hashing import hash_bytes
from gitdata.storage import StoreSpec, key_for, open_store
from gitdata.storage.chunked.format.common import ENC_ZSTD


def pushed_repo(env: Env, files: dict[str, bytes]) -> tuple[Path, Path]:
    repo = env.new_repo()
    # whole objects, which into_packs turns into packs the test controls (packs a chunked push
    # wrote are read in test_chunked_write.py)
    env.git("config", "data.chunked", "false", cwd=repo)
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    return repo, bare


def into_packs(env: Env, bare: Path, files: dict[str, bytes]) -> None:
    """Move the pushed whole objects of `files` into packs + one manifest (as a chunked push
    would have stored them): afterwards the store has no whole object of them."""
    store = open_store(StoreSpec(str(bare / "data" / "objects")))
    w = ChunkedWriter(store, env.root)
    records = [w.push(data, ENC_ZSTD if i % 2 else 0) for i, data in enumerate(files.values())]
    w.manifest(records)
    for data in files.values():
        os.unlink(bare / "data" / "objects" / key_for(hash_bytes(data)))


def test_a_clone_checks_out_and_pulls_files_kept_only_in_packs(env):
    files = {
        "big.bin": random_file(env.root / "x", 3 << 20, seed=5).read_bytes(),
        "table.bin": b"".join(b"%d;%d\n" % (i, i * 7) for i in range(300_000)),
        "small.bin": b"tiny",
    }
    repo, bare = pushed_repo(env, files)
    into_packs(env, bare, files)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))  # checkout: the smudge filter rebuilds them
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert env.out("status", "--porcelain", cwd=clone) == ""
    lazy = env.root / "lazy"  # and `git data pull`, all files in one batch
    env.git("clone", "-q", str(bare), str(lazy), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    assert (lazy / "big.bin").read_bytes().startswith(b"version gitdata/1\n")
    env.data("pull", cwd=lazy, env={"GIT_DATA_SKIP_SMUDGE": "1"})
    for name, data in files.items():
        assert (lazy / name).read_bytes() == data, name
    assert (lazy / ".git" / "data" / "chunked" / "index.sqlite").is_file()
    env.data("fsck", cwd=lazy)
    env.data("gc", cwd=lazy)


def test_a_corrupt_pack_is_one_clear_error_and_nothing_enters_the_cache(env):
    files = {"a.bin": os.urandom(200_000)}
    _, bare = pushed_repo(env, files)
    into_packs(env, bare, files)
    (pack,) = (bare / "data" / "objects" / "chunked" / "v1" / "packs").rglob("*.pack")
    blob = bytearray(pack.read_bytes())
    blob[100] ^= 1
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(blob))
    lazy = env.root / "lazy"
    env.git("clone", "-q", str(bare), str(lazy), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    proc = env.data("pull", cwd=lazy, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "corrupt frame in pack" in err and "Traceback" not in err
    cache = lazy / ".git" / "data" / "objects"
    assert not any(p.is_file() for p in cache.rglob("*") if "tmp" not in p.parts)


def test_requests_of_a_fetch_on_s3(env, s3):
    """Two files in one pack: GET FORMAT, LIST + GET of the manifest, one ranged GET for both.
    A store without FORMAT: one GET more than before (its 404), and nothing else: not the
    manifests its pushes wrote (what each relied on), however many there are."""
    spec = StoreSpec(s3.url("p"), endpoint_url=s3.endpoint, region="us-east-1")
    w = ChunkedWriter(open_store(spec), env.root)
    datas = [os.urandom(300_000), os.urandom(200_000)]
    w.manifest(w.push_many(datas))
    whole = os.urandom(1000)
    (env.root / "w").write_bytes(whole)
    plain = open_store(StoreSpec(s3.url("q"), endpoint_url=s3.endpoint, region="us-east-1"))
    plain.upload(hash_bytes(whole), str(env.root / "w"), len(whole))
    for i in range(3):  # as pushes write them: never read from a store without FORMAT
        key = f"q/chunked/v1/manifests/{i:064x}.manifest"
        s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"not read")
    with FaultProxy(s3.endpoint) as proxy:
        code = f"""
import sys
from gitdata.cache import Cache
from gitdata.storage import StoreSpec, open_store
from gitdata import transfer
store = open_store(StoreSpec(sys.argv[1], endpoint_url={proxy.endpoint!r}, region="us-east-1"))
cache = Cache(sys.argv[2])
sizes = {{k: int(v) for k, v in (arg.split("=") for arg in sys.argv[3:])}}
res = transfer.download(store, cache, sizes, 4, None, transfer.chunked_reader(store, sys.argv[2]))
assert res.ok and sorted(res.done) == sorted(sizes), res
"""
        args = [f"{hash_bytes(d)}={len(d)}" for d in datas]
        run = [sys.executable, "-c", code]
        subprocess.run([*run, s3.url("p"), str(env.root / "c1"), *args], check=True)
        ops = Counter(op for op, _ in proxy.requests)
        assert ops == {"ListObjectsV2": 1, "GetObject": 2, "GetObjectRange": 1}, ops
        proxy.requests.clear()
        one = f"{hash_bytes(whole)}={len(whole)}"
        subprocess.run([*run, s3.url("q"), str(env.root / "c2"), one], check=True)
        ops = Counter(op for op, _ in proxy.requests)
        assert ops == {"GetObject": 2}, ops  # FORMAT (404), then the object


@pytest.mark.slow
def test_memory_stays_bounded_rebuilding_a_large_file(env, tmp_path):
    """A file of SIZE in packs of 32 MiB, rebuilt by a fresh process: its peak RSS stays under
    100 MiB (the design figure is 2 GiB: GITDATA_TEST_REBUILD_MIB=2048; 512 MiB by default
    keeps this test under half a minute here)."""
    size = int(os.environ.get("GITDATA_TEST_REBUILD_MIB", "512")) << 20
    store = open_store(StoreSpec(str(tmp_path / "store")))
    code = f"""
import os, resource, sys, xxhash
sys.path.insert(0, {str(Path(__file__).parent)!r})
from gitdata.storage import StoreSpec, open_store
from gitdata.storage.chunked.format.common import blake3_256
from gitdata.storage.chunked.format.manifest import Record, Term
from gitdata.storage.chunked.packer import PackWriter
from gitdata.storage.chunked.reader import pack_key
import pytest
from chunked_helper import ChunkedWriter
store = open_store(StoreSpec({str(tmp_path / "store")!r}))
w = ChunkedWriter(store, __import__("pathlib").Path({str(tmp_path)!r}))
h, terms, done, n = xxhash.xxh3_128(), [], 0, 0
while done < {size}:
    pw = PackWriter(str(w.tmp))
    start = pw.size - 64
    while done < {size} and pw.fits(44 + 65536):
        raw = n.to_bytes(8, "little") * 8192
        h.update(raw)
        pw.add(blake3_256(raw), len(raw), 0, raw)
        done += len(raw); n += 1
    c = pw.close()
    store.put_file(pack_key(c.pid), c.path); os.unlink(c.path)
    terms.append(Term(False, c.pid, 32, c.entries[-1].offset + c.entries[-1].length - 32,
                      sum(e.raw_length for e in c.entries)))
w.manifest([Record(h.digest(), done, tuple(terms))])
print(h.hexdigest())
"""
    oid = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    reader = f"""
import resource, sys
from gitdata.cache import Cache
from gitdata.storage import StoreSpec, open_store
from gitdata.storage.chunked import ChunkedStore
store = open_store(StoreSpec({str(tmp_path / "store")!r}))
cache = Cache({str(tmp_path / "cache")!r})
cs = ChunkedStore(store, {str(tmp_path / "index.sqlite")!r})
r = cs.rebuild({{{oid!r}: {size}}}, cache, cache.adopt, 4)
assert r.done == [{oid!r}], r
status = open("/proc/self/status").read() if sys.platform == "linux" else ""
hwm = [int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")]
print(hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    # The peak of the process's own memory (VmHWM). getrusage's ru_maxrss is not it on Linux:
    # execve carries the forking process's peak over (pytest with moto loaded: 135 MiB).
    peak_kib = int(
        subprocess.run(
            [sys.executable, "-c", reader], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    print(f"rebuild of {size >> 20} MiB: peak RSS {peak_kib >> 10} MiB")
    assert peak_kib < 100 * 1024, peak_kib
    assert (tmp_path / "cache").exists() and store


def test_a_checkout_of_many_small_files_in_packs_coalesces_on_s3(env, s3):
    """The smudge filter collects the files git delays and rebuilds them in one batch: 300
    files in one pack are read with one ranged GET (5.3), plus the listing, the manifests and
    FORMAT."""
    repo = env.new_repo()
    url = s3.url("many")
    write(
        repo / ".gitdata.toml",
        f'[remote.origin]\nurl = "{url}"\nendpoint_url = "{s3.endpoint}"\n'.encode(),
    )
    files = {f"d/{i:03d}.bin": b"%d " % i + os.urandom(20_000 + i) for i in range(300)}
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    store = open_store(StoreSpec(url, endpoint_url=s3.endpoint, region="us-east-1"))
    w = ChunkedWriter(store, env.root)
    w.manifest(w.push_many(list(files.values())))
    store.delete_many([hash_bytes(d) for d in files.values()])
    s3.clear_requests()
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    gets = [p for m, p, _ in s3.requests if m == "GET"]
    packs = [p for p in gets if "/chunked/v1/packs/" in p]
    assert len(packs) == 1, packs
    # LIST, the two manifests (the push's, of whole objects: docs/chunked-store.md 4.8; the
    # writer's, with the records), FORMAT, the pack
    assert len(gets) == 5, gets


def test_a_new_version_downloads_only_what_changed(env, s3):
    """A clone that read v1 from packs pulls v2 (1 MiB overwritten in 16 MiB), written by
    another clone: it downloads about the changed chunks, rebuilding the rest from v1's bytes
    in its cache (5.2), counted from the Range headers the store was sent."""
    with FaultProxy(s3.endpoint) as proxy:
        url = s3.url("w3")
        repo = env.new_repo()
        toml = f'[remote.origin]\nurl = "{url}"\nendpoint_url = "{proxy.endpoint}"\n'
        write(repo / ".gitdata.toml", toml.encode())
        v1 = random_file(repo / "big.bin", 16 << 20, seed=9).read_bytes()
        env.commit_all(repo)
        bare = env.bare()
        env.git("remote", "add", "origin", str(bare), cwd=repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        store = open_store(StoreSpec(url, endpoint_url=s3.endpoint, region="us-east-1"))
        w = ChunkedWriter(store, env.root)
        w.manifest([w.push(v1)])
        store.delete_many([hash_bytes(v1)])
        clone = env.root / "clone"
        env.git("clone", "-q", str(bare), str(clone))
        assert (clone / "big.bin").read_bytes() == v1
        v2 = v1[: 8 << 20] + os.urandom(1 << 20) + v1[9 << 20 :]
        write(repo / "big.bin", v2)
        env.commit_all(repo, "v2")
        env.git("push", "-q", "origin", "main", cwd=repo)
        w.manifest([w.push(v2)])  # a new pack with the changed chunks only
        store.delete_many([hash_bytes(v2)])
        proxy.received.clear()
        env.git("pull", "-q", cwd=clone)
        assert (clone / "big.bin").read_bytes() == v2
        ranges = [h["range"] for op, h, _ in proxy.received if "range" in h]
        fetched = sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))
        print(f"v2 of 16 MiB with 1 MiB changed: {fetched} bytes in {len(ranges)} ranged GET(s)")
        assert 1 << 20 <= fetched < 2 << 20, (fetched, ranges)
        assert not [op for op, h, _ in proxy.received if op == "GetObject"][2:]  # manifest, FORMAT


def test_files_are_adopted_verified_by_the_fetching_threads_as_they_complete(env):
    """A rebuild hands each file to `adopt` from the thread that wrote its last piece, while
    the span is still being read (the filter tells git at once); a file whose frame is corrupt
    is never adopted, and every file that entered the cache hashes to its name."""
    import threading

    from gitdata.cache import Cache
    from gitdata.storage.chunked import ChunkedStore
    from gitdata.storage.chunked.index import index_path

    store = open_store(StoreSpec(str(env.root / "store")))
    datas = [os.urandom(3000 + i) for i in range(40)]
    w = ChunkedWriter(store, env.root)
    w.manifest(w.push_many(datas))
    (pack,) = (env.root / "store" / "chunked" / "v1" / "packs").rglob("*.pack")
    blob = bytearray(pack.read_bytes())
    blob[100] ^= 1  # in the first frame: the first file's only chunk
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(blob))
    cache = Cache(str(env.root / "cache"))
    adopted: list[tuple[str, str]] = []

    def adopt(tmp: str, oid: str, size: int) -> None:
        adopted.append((oid, threading.current_thread().name))
        cache.adopt(tmp, oid, size)

    reader = ChunkedStore(store, index_path(str(env.root / "data")))
    oids = [hash_bytes(d) for d in datas]
    r = reader.rebuild({o: len(d) for o, d in zip(oids, datas)}, cache, adopt, 4)
    reader.close()
    assert list(r.failed) == [oids[0]] and "corrupt" in str(r.failed[oids[0]])
    assert sorted(r.done) == sorted(oids[1:]) and not r.rest
    assert sorted(o for o, _ in adopted) == sorted(oids[1:])  # each once, the bad one never
    assert all(name != threading.current_thread().name for _, name in adopted)
    assert sorted(cache.iter_oids()) == sorted(oids[1:])
    for oid in cache.iter_oids():
        assert hash_bytes(Path(cache.path(oid)).read_bytes()) == oid
    assert not list(Path(cache.tmp_dir).iterdir())
