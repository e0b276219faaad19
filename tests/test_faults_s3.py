"""S3 transfers through a fault-injecting proxy (tests/faultproxy.py) between boto3 and the moto
server: dropped connections, 500, 503 SlowDown, stalls and cut bodies, on uploads and downloads,
directly through transfer.upload/download and through real git push, clone and fetch.

Bounded faults: the transfers retry and finish, byte for byte. Faults that never stop: one
clear error, the Git remote untouched. Either way the store (listed through the real server, not
the proxy) and the cache hold only whole objects that hash to their names, and no multipart
upload is left behind. The module ends by printing how many faults of each kind were injected.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from chunked_helper import files_in
from conftest import Env, random_file, same_file, write
from faultproxy import DROP, DROP_MID, HTTP_500, KINDS, SLOWDOWN, STALL, TRUNCATE, FaultProxy, Rule
from s3_fixtures import S3, s3_project

from gitdata import transfer
from gitdata.cache import Cache
from gitdata.errors import StoreError
from gitdata.hashing import hash_bytes, hash_file
from gitdata.output import Progress
from gitdata.pointer import is_oid, parse
from gitdata.storage import StoreSpec, key_for, open_store
from gitdata.storage import s3 as s3_store
from gitdata.storage.s3 import READ_TIMEOUT_ENV, S3Store

#: boto3's read timeout in these tests (seconds); a stall lasts longer.
READ_TIMEOUT = 1
STALL_FOR = 2.5
#: Faults per test when they are bounded: one more than botocore's 3 attempts, so that an object
#: hit every time needs gitdata's own retry too.
BOUND = 4
PREFIX = "p"


# -- the count the closing note needs ---------------------------------------------------------


class Tally:
    """Faults injected, by kind: survived (the transfer finished, byte-identical) or met by a
    clean failure (the faults never stopped; one error, nothing partial left)."""

    def __init__(self) -> None:
        self.survived: Counter[tuple[str, str]] = Counter()
        self.failed_cleanly: Counter[tuple[str, str]] = Counter()

    def add(self, proxy: FaultProxy, survived: bool = True) -> None:
        (self.survived if survived else self.failed_cleanly).update(proxy.injected)

    def lines(self) -> list[str]:
        kinds = {k for k, _ in self.survived} | {k for k, _ in self.failed_cleanly}
        out = ["S3 faults injected (kind: survived + met by a clean failure = total; by operation)"]
        for kind in [k for k in KINDS if k in kinds]:
            ok = sum(n for (k, _), n in self.survived.items() if k == kind)
            bad = sum(n for (k, _), n in self.failed_cleanly.items() if k == kind)
            ops = Counter[str]()
            for counter in (self.survived, self.failed_cleanly):
                for (k, op), n in counter.items():
                    if k == kind:
                        ops[op] += n
            by_op = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))
            out.append(f"  {kind:13} {ok:4} + {bad:4} = {ok + bad:4}   ({by_op})")
        ok, bad = sum(self.survived.values()), sum(self.failed_cleanly.values())
        out.append(f"  {'all':13} {ok:4} + {bad:4} = {ok + bad:4}")
        return out


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def fault_report(request: pytest.FixtureRequest):
    """Print the tally once the module's tests have run, past pytest's output capture."""
    yield
    if not (TALLY.survived or TALLY.failed_cleanly):
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(TALLY.lines()))


# -- fixtures and checks -----------------------------------------------------------------------


@pytest.fixture
def proxy(s3: S3, monkeypatch: pytest.MonkeyPatch):
    """A fault proxy in front of the test's moto server; boto3 in this process and in every
    git-data the test starts gives up on a silent server after READ_TIMEOUT."""
    monkeypatch.setenv(READ_TIMEOUT_ENV, str(READ_TIMEOUT))
    with FaultProxy(s3.endpoint) as p:
        yield p


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart from 8 MiB in 5 MiB parts (S3's smallest), both ways: 12 MiB is 3 parts."""
    monkeypatch.setattr(s3_store, "MULTIPART_THRESHOLD", 8 << 20)
    monkeypatch.setattr(s3_store, "PART_SIZE", 5 << 20)


BIG = 12 << 20


def through(proxy: FaultProxy, s3: S3) -> S3Store:
    st = open_store(StoreSpec(url=s3.url(PREFIX), endpoint_url=proxy.endpoint, name="origin"))
    assert isinstance(st, S3Store)
    return st


def cached(tmp_path: Path, sizes: list[int]) -> tuple[Cache, dict[str, int]]:
    """A cache holding objects of `sizes` (deterministic bytes); returns it and {oid: size}."""
    cache = Cache(str(tmp_path / "cache"))
    objects = {}
    for i, size in enumerate(sizes):
        src = random_file(tmp_path / "src" / str(i), size, seed=i)
        with open(src, "rb") as f:
            oid, n = cache.store_stream(f)
        objects[oid] = n
    return cache, objects


def quiet_progress(objects: dict[str, int]) -> Progress:
    return Progress("test", len(objects), sum(objects.values()), io.StringIO(), tty=False)


def seed_store(s3: S3, cache: Cache, objects: dict[str, int]) -> None:
    """Put the objects in the bucket directly (not through the proxy)."""
    for oid in objects:
        s3.client.upload_file(cache.path(oid), s3.bucket, f"{PREFIX}/{key_for(oid)}")


def store_oids(s3: S3, prefix: str = PREFIX) -> set[str]:
    """The files the bucket holds, listed and read through the real server: every key is in the
    store layout (docs/formats.md, chunked-store.md 3.1) and its bytes hash to its name (no
    partial object is ever visible): whole objects, and the files a manifest has a record of
    whose packs and whole objects are all there (chunked_helper.files_in)."""
    objects = []
    for key in s3.keys():
        assert key.startswith(f"{prefix}/"), key
        body = s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        objects.append((key[len(prefix) + 1 :], body))
    return files_in(objects)


def assert_no_upload_left(s3: S3, proxy: FaultProxy) -> None:
    """No incomplete multipart upload is left, but for two cases that no client can avoid
    (docs/s3.md, "Safety"): a CreateMultipartUpload that the server carried out but whose answer was
    lost leaves an empty upload whose id gitdata never learnt; an AbortMultipartUpload that
    failed botocore's three attempts leaves its parts (gitdata warns: test_s3_client.py)."""
    uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    empty = with_parts = 0
    for up in uploads:
        parts = s3.client.list_parts(Bucket=s3.bucket, Key=up["Key"], UploadId=up["UploadId"])
        if parts.get("Parts"):
            with_parts += 1
        else:
            empty += 1
    aborts_failed = (
        sum(n for (_, op), n in proxy.injected.items() if op == "AbortMultipartUpload")
        - proxy.unheard["AbortMultipartUpload"]
    )
    assert empty <= proxy.unheard["CreateMultipartUpload"], uploads
    assert with_parts <= aborts_failed // 3, uploads


def cache_oids(cache: Cache) -> set[str]:
    """The objects in the cache: each hashes to its name; no temporary is left behind."""
    root = Path(cache.root)
    oids = set()
    for p in root.rglob("*"):
        if p.is_dir():
            continue
        rel = p.relative_to(root)
        assert rel.parts[0] != "tmp", f"temporary left behind: {rel}"
        assert is_oid(p.name) and rel.as_posix() == key_for(p.name), rel
        assert hash_file(p)[0] == p.name, rel
        oids.add(p.name)
    return oids


# -- bounded faults: every transfer finishes -------------------------------------------------

UPLOAD_OPS = ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", UPLOAD_OPS)
def test_upload_survives_bounded_faults(s3, proxy, small_parts, tmp_path, op, kind):
    cache, objects = cached(tmp_path, [200_000, 70_000, 1] if op == "PutObject" else [BIG])
    proxy.add(Rule(kind, ops={op}, limit=BOUND, stall=STALL_FOR))
    progress = quiet_progress(objects)
    result = transfer.upload(through(proxy, s3), cache, objects, workers=4, progress=progress)
    assert result.ok, result.failed
    assert proxy.count() >= 1
    assert progress.bytes == sum(objects.values())  # retried bytes are not counted twice
    assert store_oids(s3) == set(objects)
    assert_no_upload_left(s3, proxy)
    TALLY.add(proxy)


def test_small_objects_go_up_without_waiting_for_100_continue(s3, proxy, small_parts, tmp_path):
    # botocore asks for `Expect: 100-continue` on every file body: a round trip more per small
    # object (twice the latency of a push of many small files). Parts of a big one still ask.
    cache, objects = cached(tmp_path, [200_000, 1, BIG])
    result = transfer.upload(through(proxy, s3), cache, objects, workers=2)
    assert result.ok, result.failed
    expect = {(op, headers.get("expect")) for op, headers, _ in proxy.received}
    assert ("PutObject", None) in expect and ("PutObject", "100-continue") not in expect
    assert ("UploadPart", "100-continue") in expect and ("UploadPart", None) not in expect
    assert store_oids(s3) == set(objects)


DOWNLOAD_FAULTS = [(k, False) for k in KINDS] + [(STALL, True)]


@pytest.mark.parametrize("kind, mid_body", DOWNLOAD_FAULTS, ids=[*KINDS, "stall-mid-body"])
@pytest.mark.parametrize("op", ["GetObject", "GetObjectRange"])
def test_download_survives_bounded_faults(s3, proxy, small_parts, tmp_path, op, kind, mid_body):
    # the sizes are known (as from pointers): one GetObject each for the small objects,
    # ranged GETs only for the big one
    sizes = [200_000, 70_000, 1, BIG] if op == "GetObject" else [BIG]
    cache, objects = cached(tmp_path, sizes)
    seed_store(s3, cache, objects)
    fresh = Cache(str(tmp_path / "fresh"))
    proxy.add(Rule(kind, ops={op}, limit=BOUND, stall=STALL_FOR, mid_body=mid_body))
    progress = quiet_progress(objects)
    result = transfer.download(through(proxy, s3), fresh, objects, workers=4, progress=progress)
    assert result.ok, result.failed
    assert proxy.count() >= 1
    assert progress.bytes == sum(objects.values())
    assert cache_oids(fresh) == set(objects)
    for oid in objects:
        assert same_file(Path(cache.path(oid)), Path(fresh.path(oid)))
    TALLY.add(proxy)


# -- faults that never stop: one clear failure, nothing partial anywhere ----------------------

#: A transfer that never gets through ends within this many seconds (botocore's 3 attempts
#: times gitdata's 5, with both backoffs).
GIVE_UP_WITHIN = 45


@pytest.mark.parametrize(
    "op, kind",
    [("PutObject", SLOWDOWN), ("UploadPart", TRUNCATE), ("CompleteMultipartUpload", DROP)],
)
def test_upload_fails_cleanly_when_faults_never_stop(s3, proxy, small_parts, tmp_path, op, kind):
    cache, objects = cached(tmp_path, [200_000] if op == "PutObject" else [BIG])
    proxy.add(Rule(kind, ops={op}, stall=STALL_FOR))
    start = time.monotonic()
    result = transfer.upload(through(proxy, s3), cache, objects, workers=4)
    assert time.monotonic() - start < GIVE_UP_WITHIN
    [err] = result.failed.values()
    assert isinstance(err, StoreError) and err.transient and err.hint, err
    assert err.message.startswith(f"store {s3.url(PREFIX)} at {proxy.endpoint}: "), err.message
    assert store_oids(s3) == set()
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    TALLY.add(proxy, survived=False)


@pytest.mark.parametrize(
    "op, kind",
    [("GetObject", TRUNCATE), ("GetObjectRange", DROP)],
)
def test_download_fails_cleanly_when_faults_never_stop(s3, proxy, small_parts, tmp_path, op, kind):
    cache, objects = cached(tmp_path, [200_000] if op == "GetObject" else [BIG])
    seed_store(s3, cache, objects)
    fresh = Cache(str(tmp_path / "fresh"))
    proxy.add(Rule(kind, ops={op}, stall=STALL_FOR))
    start = time.monotonic()
    result = transfer.download(through(proxy, s3), fresh, objects, workers=4)
    assert time.monotonic() - start < GIVE_UP_WITHIN
    [err] = result.failed.values()
    assert isinstance(err, StoreError) and err.transient and err.hint, err
    assert cache_oids(fresh) == set()  # nothing under a final name, no temporary left
    TALLY.add(proxy, survived=False)


# -- through git -------------------------------------------------------------------------------


def s3_repo(env: Env, s3: S3, endpoint: str, chunked: bool = False) -> tuple[Path, Path]:
    """A repository whose committed .gitdata.toml sends origin's bytes to the bucket through
    `endpoint` (in packs of the chunked store with `chunked`), and an empty bare repository on
    disk as origin."""
    return s3_project(env, s3.url(PREFIX), endpoint, "true" if chunked else "false")


def same_shard_contents(n: int) -> list[bytes]:
    """`n` small contents whose oids share their first two hex digits: a push of them asks the
    store with one ListObjectsV2 of that shard instead of a HEAD per object."""
    shards: dict[str, list[bytes]] = {}
    i = 0
    while True:
        data = b"shard %d\n" % i
        group = shards.setdefault(hash_bytes(data)[:2], [])
        group.append(data)
        if len(group) == n:
            return group
        i += 1


def fresh_clone_has_every_byte(env: Env, proxy: FaultProxy, bare: Path, repo: Path) -> None:
    """With the faults gone, a fresh clone (through the proxy) checks out every file of the
    repository's HEAD byte for byte, and `git data fsck --remote origin --full` passes there."""
    proxy.clear()
    clone = env.root / f"fresh-{len(list(env.root.glob('fresh-*')))}"
    env.git("clone", "-q", str(bare), str(clone))
    names = env.out("ls-files", cwd=repo).split()
    for name in names:
        assert same_file(repo / name, clone / name), name
    assert env.out("status", "--porcelain", cwd=clone) == ""
    env.data("fsck", "--remote", "origin", "--all", "--full", cwd=clone)


#: Whole objects: a push asks with HEADs and shard listings. Chunked (`chunked = true`): it
#: lists the run log and the manifests and GETs FORMAT (docs/chunked-store.md, 4.7).
ASKING = [
    (False, "HeadObject", HTTP_500), (False, "HeadObject", STALL),
    (False, "ListObjectsV2", DROP_MID), (False, "ListObjectsV2", SLOWDOWN),
    (True, "ListObjectsV2", DROP_MID), (True, "ListObjectsV2", SLOWDOWN),
    (True, "GetObject", STALL), (True, "GetObject", HTTP_500),
]  # fmt: skip


def ids(params: list[tuple[object, ...]]) -> list[str]:
    return ["-".join(("chunked" if p else "whole") if p is True or p is False else str(p)
                     for p in ps if p != "") for ps in params]  # fmt: skip


@pytest.mark.parametrize("chunked, op, kind", ASKING, ids=ids(ASKING))
def test_push_survives_faults_while_asking_what_the_store_has(env, s3, proxy, chunked, op, kind):
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked)
    contents = same_shard_contents(3) if op == "ListObjectsV2" else [b"alpha" * 1000]
    for i, data in enumerate(contents):
        write(repo / f"{i}.bin", data)
    env.commit_all(repo)
    proxy.add(Rule(kind, ops={op}, limit=BOUND, stall=STALL_FOR))
    env.git("push", "-q", "origin", "main", cwd=repo)
    assert proxy.count() == BOUND
    assert env.head(bare, "main") == env.head(repo)
    assert store_oids(s3) == {hash_bytes(data) for data in contents}
    TALLY.add(proxy)
    if chunked:
        fresh_clone_has_every_byte(env, proxy, bare, repo)


def one_error(proc: subprocess.CompletedProcess[bytes], s3: S3) -> str:
    """The one `git-data: error:` line of a failed command, checked for its hint and for what
    must never be there (a traceback, the secret key)."""
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    errors = [ln for ln in err.splitlines() if ln.startswith("git-data: error:")]
    assert len(errors) == 1, err
    after = err.split(errors[0], 1)[1]
    assert "\nhint: " in after, err
    assert "Traceback" not in err and "error: internal error" not in err, err  # a bug
    assert s3.secret_key not in err + proc.stdout.decode()
    return errors[0]


#: (chunked, operation, fault, size of the second file, the keys that fail)
KEEPS_FAILING = [
    (False, "PutObject", DROP, 300_000, ""),
    (False, "CompleteMultipartUpload", HTTP_500, 33 << 20, ""),
    (True, "PutObject", DROP, 300_000, "/packs/"),
    (True, "PutObject", HTTP_500, 33 << 20, "/packs/"),  # two packs
    (True, "PutObject", SLOWDOWN, 300_000, "/manifests/"),
]


@pytest.mark.parametrize("chunked, op, kind, size, key", KEEPS_FAILING, ids=ids(KEEPS_FAILING))
def test_push_fails_cleanly_when_the_store_keeps_failing(
    env, s3, proxy, chunked, op, kind, size, key
):
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked)
    write(repo / "first.bin", b"first")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    before, stored = env.head(bare, "main"), store_oids(s3)
    random_file(repo / "second.bin", size, seed=7)  # 33 MiB: multipart, 16 MiB parts
    env.commit_all(repo, "second")

    proxy.add(Rule(kind, ops={op}, key=key))
    start = time.monotonic()
    proc = env.git("push", "origin", "main", cwd=repo, check=False)
    assert time.monotonic() - start < GIVE_UP_WITHIN
    line = one_error(proc, s3)
    assert "push stopped" in line and s3.url(PREFIX) in line, line
    if "manifests" not in key:  # the manifest is written once every file is in the store
        assert "second.bin" in proc.stderr.decode()
    assert env.head(bare, "main") == before
    assert store_oids(s3) == stored
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert not (repo / ".git" / "data" / "objects" / "tmp").exists() or not list(
        (repo / ".git" / "data" / "objects" / "tmp").iterdir()
    )
    TALLY.add(proxy, survived=False)

    proxy.clear()  # the store is back: the same push goes through
    env.git("push", "-q", "origin", "main", cwd=repo)
    assert env.head(bare, "main") == env.head(repo)
    assert len(store_oids(s3)) == 2
    if chunked:
        fresh_clone_has_every_byte(env, proxy, bare, repo)


def test_chunked_first_push_fails_cleanly_when_format_cannot_be_written(env, s3, proxy):
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked=True)
    write(repo / "first.bin", b"first" * 1000)
    env.commit_all(repo)
    proxy.add(Rule(SLOWDOWN, ops={"PutObject"}, key="/FORMAT$"))
    proc = env.git("push", "origin", "main", cwd=repo, check=False)
    one_error(proc, s3)
    assert env.out("for-each-ref", cwd=bare) == ""
    assert [k for k in s3.keys() if "/packs/" in k or "/FORMAT" in k] == []
    TALLY.add(proxy, survived=False)
    proxy.clear()
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert store_oids(s3) == {hash_bytes(b"first" * 1000)}
    fresh_clone_has_every_byte(env, proxy, bare, repo)


PUT_FAULTS = [(key, kind) for key in ("/FORMAT$", "/packs/", "/manifests/")
              for kind in (DROP_MID, TRUNCATE, STALL)]  # fmt: skip


@pytest.mark.parametrize("key, kind", PUT_FAULTS)
def test_chunked_push_survives_bounded_faults_on_each_put(env, s3, proxy, key, kind):
    """FORMAT, packs and the manifest of a chunked push, each cut, stalled or its answer lost
    BOUND times: retried, the push goes through, and a fresh clone has every byte."""
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked=True)
    for i, size in enumerate((5, 70_000, 300_000)):
        random_file(repo / f"{i}.bin", size, seed=i)
    env.commit_all(repo)
    proxy.add(Rule(kind, ops={"PutObject"}, key=key, limit=BOUND, stall=STALL_FOR))
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert proxy.count() == BOUND
    assert env.head(bare, "main") == env.head(repo)
    assert store_oids(s3) == {oid_of(env, repo, f"{i}.bin") for i in range(3)}
    TALLY.add(proxy)
    fresh_clone_has_every_byte(env, proxy, bare, repo)


def chaos(proxy: FaultProxy, seed: int, probability: float, limit: int) -> None:
    """Every kind of fault (and a stall mid-body) on any request, each with `probability`
    drawn from its own seeded Random, at most `limit` of each."""
    for i, kind in enumerate(KINDS):
        proxy.add(Rule(kind, probability=probability, seed=seed + i, limit=limit, stall=STALL_FOR))
    proxy.add(Rule(STALL, probability=probability, seed=seed - 1, limit=limit, mid_body=True))


def test_seeded_chaos_round_trip(s3, proxy, small_parts, tmp_path, monkeypatch):
    # One request at a time, so that the seeds decide which request meets which fault: with
    # parallel transfers the order of requests, so the draws, changed from run to run, and once
    # in many runs they piled onto one multipart object until its attempts ran out. Parallel
    # transfers under faults: the bounded-fault tests above.
    monkeypatch.setattr(s3_store, "PART_WORKERS", 1)
    cache, objects = cached(tmp_path, [1, 5_000, 70_000, 300_000, 9 << 20, BIG])
    st = through(proxy, s3)
    chaos(proxy, seed=10, probability=0.1, limit=5)
    proxy.add(Rule(DROP, ops={"UploadPart"}, nth={2}))  # at least these two, whatever the draws
    result = transfer.upload(st, cache, objects, workers=1)
    assert result.ok, result.failed
    assert store_oids(s3) == set(objects)
    assert_no_upload_left(s3, proxy)

    proxy.clear()
    chaos(proxy, seed=20, probability=0.1, limit=5)
    proxy.add(Rule(TRUNCATE, ops={"GetObjectRange"}, nth={1}))
    fresh = Cache(str(tmp_path / "fresh"))
    result = transfer.download(st, fresh, objects, workers=1)
    assert result.ok, result.failed
    assert cache_oids(fresh) == set(objects)
    for oid in objects:
        assert same_file(Path(cache.path(oid)), Path(fresh.path(oid)))
    assert proxy.count() >= 2
    TALLY.add(proxy)


def oid_of(env: Env, repo: Path, path: str) -> str:
    p = parse(env.git("cat-file", "blob", f"HEAD:{path}", cwd=repo).stdout)
    assert p is not None, path
    return p.oid


def repo_cache(repo: Path) -> Cache:
    return Cache(str(repo / ".git" / "data" / "objects"))


FILES = {"a.bin": 5, "b.bin": 70_000, "c/d.bin": 300_000, "e.bin": 1 << 20, "big.bin": 33 << 20}


@pytest.mark.parametrize("kind, mid_body", DOWNLOAD_FAULTS, ids=[*KINDS, "stall-mid-body"])
def test_chunked_clone_survives_bounded_faults_on_ranged_gets(env, s3, proxy, kind, mid_body):
    """A clone of files kept in a pack reads them with one ranged GET: cut, reset, stalled or
    failed BOUND times, it is retried (the rest of a cut answer asked for again) and the clone
    checks out every byte."""
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked=True)
    for i, size in enumerate((5, 70_000, 300_000, 1 << 20)):
        random_file(repo / f"{i}.bin", size, seed=i)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    rule = Rule(kind, ops={"GetObjectRange"}, limit=BOUND, stall=STALL_FOR, mid_body=mid_body)
    proxy.add(rule)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for i in range(4):
        assert same_file(repo / f"{i}.bin", clone / f"{i}.bin"), i
    assert env.out("status", "--porcelain", cwd=clone) == ""
    assert proxy.count() == BOUND
    TALLY.add(proxy)


def test_chunked_fsck_remote_under_faults(env, s3, proxy):
    """`git data fsck --remote --full` over a chunked store: bounded faults on its LISTs and
    ranged GETs are retried; faults that never stop end it with one error line."""
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked=True)
    for i, size in enumerate((5, 300_000)):
        random_file(repo / f"{i}.bin", size, seed=i)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    proxy.add(Rule(DROP, ops={"ListObjectsV2"}, limit=2), Rule(TRUNCATE, ops={"GetObjectRange"},
              limit=BOUND))  # fmt: skip
    env.data("fsck", "--remote", "origin", "--full", cwd=repo)
    assert proxy.count() == 2 + BOUND
    TALLY.add(proxy)
    proxy.clear()
    proxy.injected.clear()  # counted above
    proxy.add(Rule(HTTP_500, ops={"GetObjectRange"}))
    proc = env.data("fsck", "--remote", "origin", cwd=repo, check=False)
    assert s3.url(PREFIX) in one_error(proc, s3)
    TALLY.add(proxy, survived=False)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_push_clone_and_fetch_survive_bounded_faults(env, s3, proxy, chunked):
    """Chunked: the clone and the fetch read packs with ranged GETs (GetObjectRange)."""
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked)
    for i, (name, size) in enumerate(FILES.items()):
        random_file(repo / name, size, seed=i)
    env.commit_all(repo)
    oids = {oid_of(env, repo, name) for name in FILES}

    # push: the pre-push hook uploads through the proxy (big.bin in three 16 MiB parts)
    chaos(proxy, seed=100, probability=0.06, limit=2)
    proxy.add(Rule(SLOWDOWN, ops={"PutObject"}, nth={1}), Rule(DROP, ops={"UploadPart"}, nth={2}))
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert env.head(bare, "main") == env.head(repo)
    assert store_oids(s3) == oids
    assert_no_upload_left(s3, proxy)
    pushed = proxy.count()
    assert pushed >= 2

    # clone: the filter process downloads every file through the proxy
    proxy.clear()
    chaos(proxy, seed=200, probability=0.06, limit=2)
    proxy.add(Rule(TRUNCATE, ops={"GetObject"}, nth={1}))
    proxy.add(Rule(HTTP_500, ops={"GetObjectRange"}, nth={1}))
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name in FILES:
        assert same_file(repo / name, clone / name), name
    assert env.out("status", "--porcelain", cwd=clone) == ""
    assert cache_oids(repo_cache(clone)) == oids
    cloned = proxy.count() - pushed
    assert cloned >= 2

    # fetch: `git data fetch` in a clone without a checkout
    proxy.clear()
    chaos(proxy, seed=300, probability=0.06, limit=2)
    proxy.add(Rule(STALL, ops={"GetObject"}, nth={2}, stall=STALL_FOR))
    other = env.root / "no-checkout"
    env.git("clone", "-q", "--no-checkout", str(bare), str(other))
    env.data("fetch", cwd=other)
    assert cache_oids(repo_cache(other)) == oids
    assert proxy.count() - pushed - cloned >= 1
    TALLY.add(proxy)


@pytest.mark.parametrize(
    "chunked, op", [(False, "GetObject"), (True, "GetObjectRange")], ids=["whole", "chunked"]
)
def test_fetch_and_clone_fail_cleanly_when_the_store_keeps_failing(env, s3, proxy, chunked, op):
    repo, bare = s3_repo(env, s3, proxy.endpoint, chunked)
    write(repo / "a.bin", b"alpha" * 1000)
    random_file(repo / "b.bin", 200_000, seed=1)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    proxy.add(Rule(HTTP_500, ops={op}))

    other = env.root / "no-checkout"
    env.git("clone", "-q", "--no-checkout", str(bare), str(other))
    start = time.monotonic()
    proc = env.data("fetch", cwd=other, check=False)
    assert time.monotonic() - start < GIVE_UP_WITHIN
    line = one_error(proc, s3)
    assert "cannot get the bytes of 2 file(s)" in line and s3.url(PREFIX) in line, line
    assert "a.bin" in proc.stderr.decode() and "b.bin" in proc.stderr.decode()
    assert cache_oids(repo_cache(other)) == set()

    # git stops the checkout at the first file the filter fails: that file is named, with its
    # oid, the store and the way out
    clone = env.root / "clone"
    proc = env.git("clone", str(bare), str(clone), check=False)
    err = proc.stderr.decode()
    assert "Traceback" not in err and "error: internal error" not in err, err
    ours = [ln for ln in err.splitlines() if ln.startswith("git-data:")]
    assert ours and all(ln.startswith("git-data: error: ") for ln in ours), err
    assert any(oid_of(env, repo, ln.split()[2].rstrip(":")) in ln for ln in ours), err
    assert s3.url(PREFIX) in ours[0] and "GIT_DATA_SKIP_SMUDGE=1" in err, err
    assert cache_oids(repo_cache(clone)) == set()
    for name in ("a.bin", "b.bin"):  # absent, or the pointer: never other bytes
        got = clone / name
        assert not got.exists() or parse(got.read_bytes()) is not None
    TALLY.add(proxy, survived=False)


# -- the chunked store's key-level calls (storage/s3_keys.py) -----------------------------------

PACK_KEY = "chunked/v1/packs/ab/" + "ab" * 32 + ".pack"
RANGE = (1_000, (2 << 20) + 12_345)  # offset, length: three reads of the stream's 1 MiB buffer


def seeded_pack(s3: S3, tmp_path: Path) -> bytes:
    data = random_file(tmp_path / "pack", 3 << 20, seed=9).read_bytes()
    s3.client.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{PACK_KEY}", Body=data)
    return data


@pytest.mark.parametrize("kind, mid_body", DOWNLOAD_FAULTS, ids=[*KINDS, "stall-mid-body"])
def test_get_range_survives_bounded_faults(s3, proxy, tmp_path, kind, mid_body):
    """A cut answer is refused (never returned as bytes) and the rest of the range asked for
    again; 5xx and stalls are retried by botocore, then by gitdata."""
    data = seeded_pack(s3, tmp_path)
    proxy.add(Rule(kind, ops={"GetObjectRange"}, limit=BOUND, stall=STALL_FOR, mid_body=mid_body))
    offset, length = RANGE
    with through(proxy, s3).get_range(PACK_KEY, offset, length) as stream:
        got = stream.read()
    assert got == data[offset : offset + length]
    assert proxy.count() == BOUND
    TALLY.add(proxy)


@pytest.mark.parametrize("kind", [HTTP_500, TRUNCATE])
def test_get_range_fails_cleanly_when_faults_never_stop(s3, proxy, tmp_path, kind):
    """Every answer fails (500), or comes cut (each one half of what is left, until nothing):
    one transient StoreError, never a short read."""
    seeded_pack(s3, tmp_path)
    proxy.add(Rule(kind, ops={"GetObjectRange"}))
    start = time.monotonic()
    with pytest.raises(StoreError) as e:
        through(proxy, s3).get_range(PACK_KEY, *RANGE).read()
    assert time.monotonic() - start < GIVE_UP_WITHIN
    assert e.value.transient and e.value.hint
    assert e.value.message.startswith(f"store {s3.url(PREFIX)} at {proxy.endpoint}: "), e.value
    TALLY.add(proxy, survived=False)


def seeded_keys(s3: S3, monkeypatch: pytest.MonkeyPatch, n: int = 25) -> list[str]:
    """`n` manifest keys, listed 10 a page."""
    from gitdata.storage import s3_keys

    monkeypatch.setattr(s3_keys, "LIST_PAGE", 10)
    keys = sorted(f"chunked/v1/manifests/{i:064x}.manifest" for i in range(n))
    for key in keys:
        s3.client.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{key}", Body=b"m")
    return keys


@pytest.mark.parametrize("kind", KINDS)
def test_list_keys_survives_bounded_faults(s3, proxy, monkeypatch, kind):
    """Faults on the second page's requests, the first one already listed: that page is asked
    for again, and the listing goes on where it was."""
    keys = seeded_keys(s3, monkeypatch)
    proxy.add(Rule(kind, ops={"ListObjectsV2"}, nth={2, 3, 4, 5}, stall=STALL_FOR))
    listed, when = through(proxy, s3).list_keys("chunked/v1/manifests/")
    assert [k.key for k in listed] == keys
    assert when is not None and abs(when - time.time()) < 60
    assert proxy.count() == BOUND
    TALLY.add(proxy)


def test_list_keys_fails_cleanly_when_faults_never_stop(s3, proxy, monkeypatch):
    keys = seeded_keys(s3, monkeypatch)
    proxy.add(Rule(SLOWDOWN, ops={"ListObjectsV2"}, nth=set(range(2, 100))))
    listed, _ = through(proxy, s3).list_keys("chunked/v1/manifests/")
    got = []
    start = time.monotonic()
    with pytest.raises(StoreError) as e:
        for k in listed:
            got.append(k.key)
    assert time.monotonic() - start < GIVE_UP_WITHIN
    assert got == keys[:10]  # the first page, and nothing made up after it
    assert e.value.transient and "SlowDown" in e.value.message
    TALLY.add(proxy, survived=False)


@pytest.mark.parametrize("kind", [DROP, DROP_MID, SLOWDOWN, TRUNCATE])
def test_put_file_survives_bounded_faults(s3, proxy, tmp_path, kind):
    """One PutObject a try: a body cut on its way leaves no object; the retry puts it whole."""
    src = random_file(tmp_path / "pack", 1 << 20, seed=11)
    proxy.add(Rule(kind, ops={"PutObject"}, limit=BOUND))
    through(proxy, s3).put_file(PACK_KEY, str(src))
    assert s3.keys() == [f"{PREFIX}/{PACK_KEY}"]
    body = s3.client.get_object(Bucket=s3.bucket, Key=f"{PREFIX}/{PACK_KEY}")["Body"].read()
    assert body == src.read_bytes()
    assert proxy.count() == BOUND
    TALLY.add(proxy)
