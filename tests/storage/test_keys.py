"""The key-level store calls of the chunked store (docs/chunked-store.md, 8.1), each on a real
directory store and on S3 (a moto server over HTTP through boto3): round trips, ranges at the
edges, listings (past 1,000 keys) and their store time, deletes that partly fail, and keys
refused before any I/O."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import random_file
from s3_fixtures import S3

from gitdata.errors import ObjectMissing, StoreError
from gitdata.hashing import hash_bytes
from gitdata.storage import Store, StoreSpec, key_for, open_store
from gitdata.storage.keys import FORMAT_KEY, is_key
from gitdata.storage.local import LocalStore

PREFIX = "pre"
PACK = "ab" + "0123456789abcdef" * 3 + "0123456789abcd"
PACK_KEY = f"chunked/v1/packs/ab/{PACK}.pack"
MANIFEST_KEY = f"chunked/v1/manifests/{'cd' * 32}.manifest"
RUN_KEY = "chunked/v1/gc/20260101T000000Z-0123abcd.deleting"
GOOD = [FORMAT_KEY, PACK_KEY, MANIFEST_KEY, RUN_KEY, "chunked/v1/gc/20991231T235959Z-ffffffff.done"]
WHOLE_KEY = key_for("0123456789abcdef" * 2)
HOSTILE = [
    "../x",
    "chunked/v1/packs/ab/../../x",
    f"chunked/v1/packs/ab/../ab/{PACK}.pack",
    f"chunked/v1/packs/AB/{PACK.upper()}.pack",  # upper-case hex
    f"chunked/v1/manifests/{'CD' * 32}.manifest",
    f"/chunked/v1/packs/ab/{PACK}.pack",  # absolute
    "/etc/passwd",
    f"/tmp/{FORMAT_KEY}",
    WHOLE_KEY,  # a whole object's key (get_range only reads one)
    f"chunked/v1/packs/cd/{PACK}.pack",  # the wrong shard
    f"chunked/v1/packs/{PACK}.pack",  # no shard
    f"chunked/v1/packs/ab/{PACK[:-1]}.pack",  # 63 digits
    f"chunked/v1/packs/ab/{PACK}0.pack",
    f"chunked/v1/packs/ab/{PACK}.pack\n",
    f"chunked/v1/packs/ab/{PACK}.pack/",
    f"chunked/v1/packs/ab/{PACK}.manifest",
    f"chunked/v1/packs/ab/{PACK[:10]}\0{PACK[11:]}.pack",
    f"chunked/v1/packs/ab/{'٠' * 64}.pack",  # Arabic-Indic digits
    "chunked/v1/FORMAT/",
    "chunked/v1//FORMAT",
    "./chunked/v1/FORMAT",
    "chunked/v2/FORMAT",
    "chunked/v1/format",
    "chunked/v1/gc/20260101T000000Z-0123abcd.deleted",
    "chunked/v1/gc/20260101T000000-0123abcd.done",
    "chunked/v1/tmp/x",
    "tmp/x",
    "chunked/",
    "",
]


def test_the_key_pattern_is_the_layout():
    assert all(is_key(k) for k in GOOD)
    assert not [k for k in HOSTILE if is_key(k)]


# -- the two stores ---------------------------------------------------------------------------


class Where:
    """A store under test, and a look at it from outside its own calls."""

    def __init__(self, store: Store, tmp_path: Path, s3: S3 | None = None) -> None:
        self.store = store
        self.tmp_path = tmp_path
        self.s3 = s3

    def keys(self) -> list[str]:
        """Every key in the store (temporaries included), relative to its root."""
        if self.s3 is not None:
            return [k[len(PREFIX) + 1 :] for k in self.s3.keys(PREFIX + "/")]
        root = Path(self.store.root)  # type: ignore[attr-defined]
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())

    def plant(self, key: str, data: bytes) -> None:
        """Put `data` under `key` (any key) directly, not through the store."""
        if self.s3 is not None:
            self.s3.client.put_object(Bucket=self.s3.bucket, Key=f"{PREFIX}/{key}", Body=data)
        else:
            p = Path(self.store.root) / key  # type: ignore[attr-defined]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    def requests(self) -> int:
        """Requests the store has made so far (S3), or the entries under the root (directory)."""
        if self.s3 is not None:
            return len(self.s3.requests)
        root = Path(self.store.root)  # type: ignore[attr-defined]
        return len(list(root.rglob("*"))) if root.exists() else -1


@pytest.fixture(params=["dir", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "dir":
        return Where(LocalStore(StoreSpec(url=str(tmp_path / "store"))), tmp_path)
    s3: S3 = request.getfixturevalue("s3")
    st = open_store(StoreSpec(url=s3.url(PREFIX), endpoint_url=s3.endpoint, name="origin"))
    return Where(st, tmp_path, s3)


def fresh(when: float | None, slack: float = 5.0) -> bool:
    return when is not None and abs(when - time.time()) < slack


# -- round trips --------------------------------------------------------------------------------


def test_put_get_head_and_delete(where: Where):
    st = where.store
    src = random_file(where.tmp_path / "src", 300_000, seed=1)
    assert st.head(PACK_KEY) is None
    st.put_file(PACK_KEY, str(src))
    st.put_bytes(MANIFEST_KEY, b"records")
    st.put_bytes(RUN_KEY, b"")  # the run log's keys are empty
    assert where.keys() == sorted([PACK_KEY, MANIFEST_KEY, RUN_KEY])  # no temporary left
    assert st.get_bytes(PACK_KEY) == src.read_bytes()
    assert st.get_bytes(MANIFEST_KEY) == b"records" and st.get_bytes(RUN_KEY) == b""
    found = st.head(PACK_KEY)
    assert found is not None and found[:2] == (PACK_KEY, 300_000) and fresh(found.store_time)
    st.put_bytes(MANIFEST_KEY, b"records")  # again: content-addressed, so the same bytes
    assert st.delete_keys([PACK_KEY, RUN_KEY, FORMAT_KEY]) == {}  # FORMAT was never there
    assert where.keys() == [MANIFEST_KEY]
    assert st.head(PACK_KEY) is None


def test_a_missing_key_is_missing(where: Where):
    st = where.store
    st.put_bytes(FORMAT_KEY, b"x")  # the store exists
    assert st.head(MANIFEST_KEY) is None
    with pytest.raises(ObjectMissing, match=f"does not have {MANIFEST_KEY}"):
        st.get_bytes(MANIFEST_KEY)
    with pytest.raises(ObjectMissing, match=f"does not have {PACK_KEY}"):
        st.get_range(PACK_KEY, 0, 1)


def test_a_file_is_put_in_one_request(s3: S3, tmp_path: Path):
    """Packs are at most 32 MiB and their index: one PutObject, never a multipart upload (a
    single PUT is visible only once whole), even at the whole objects' multipart threshold."""
    st = open_store(StoreSpec(url=s3.url(PREFIX), endpoint_url=s3.endpoint))
    src = random_file(tmp_path / "pack", (32 << 20) + 100_000, seed=2)
    st.head(FORMAT_KEY)  # the client is made
    s3.clear_requests()
    st.put_file(PACK_KEY, str(src))
    assert [(m, p) for m, p, _ in s3.requests] == [("PUT", f"/{s3.bucket}/{PREFIX}/{PACK_KEY}")]
    assert st.get_bytes(PACK_KEY) == src.read_bytes()


def test_put_file_shows_nothing_until_complete(tmp_path: Path):
    """A directory store writes a temporary in tmp/ and renames it: a reader looking all the
    while sees each key absent or whole, never part of it."""
    st = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    size = 24 << 20
    src = random_file(tmp_path / "src", size, seed=3)
    keys = [f"chunked/v1/packs/ab/{PACK[:-2]}{i:02x}.pack" for i in range(8)]
    seen: set[int] = set()
    temporaries: set[str] = set()
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            for key in keys:
                found = st.head(key)
                seen.add(found.size if found else -1)
            temporaries.update(os.listdir(tmp_path / "store" / "tmp"))

    st.put_bytes(FORMAT_KEY, b"x")
    looker = threading.Thread(target=look)
    looker.start()
    try:
        for key in keys:
            st.put_file(key, str(src))
    finally:
        done.set()
        looker.join()
    assert seen <= {-1, size} and size in seen
    assert all(t.startswith("incoming-") for t in temporaries)
    assert os.listdir(tmp_path / "store" / "tmp") == []
    # a write that fails leaves nothing: neither the key nor a temporary
    with pytest.raises(StoreError, match="cannot write to store"):
        st.put_file(MANIFEST_KEY, str(tmp_path))  # a directory: reading it fails
    assert st.head(MANIFEST_KEY) is None and os.listdir(tmp_path / "store" / "tmp") == []


def test_link_file_links_on_the_same_file_system(tmp_path: Path):
    st = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    src = random_file(tmp_path / "cache" / "tmp" / "pack", 100_000, seed=4)
    old = time.time() - 86400
    os.utime(src, (old, old))
    st.link_file(PACK_KEY, str(src))
    stored = tmp_path / "store" / PACK_KEY
    assert stored.stat().st_ino == src.stat().st_ino  # a hard link, no copy
    assert fresh(stored.stat().st_mtime)  # store gc measures age by mtime
    st.link_file(PACK_KEY, str(src))  # there already: fine
    os.unlink(src)
    assert st.get_bytes(PACK_KEY) == stored.read_bytes()
    assert not (tmp_path / "store" / "tmp").exists()  # nothing was copied


# -- ranges -------------------------------------------------------------------------------------


def test_ranges_at_the_edges(where: Where):
    st = where.store
    data = os.urandom(100_000)
    st.put_bytes(PACK_KEY, data)
    assert st.get_range(PACK_KEY, 0, 1).read() == data[:1]
    assert st.get_range(PACK_KEY, 99_999, 1).read() == data[-1:]
    assert st.get_range(PACK_KEY, 0, 100_000).read() == data
    with st.get_range(PACK_KEY, 12_345, 50_000) as stream:
        parts = []
        while chunk := stream.read(7_777):
            parts.append(chunk)
    assert b"".join(parts) == data[12_345:62_345]
    for offset, length in [(100_000, 1), (99_999, 2), (0, 100_001), (500_000, 10)]:
        with pytest.raises(StoreError, match="is (100000 bytes|shorter): it has no bytes") as e:
            st.get_range(PACK_KEY, offset, length)
        assert not isinstance(e.value, ObjectMissing) and not e.value.transient


@pytest.mark.parametrize("offset, length", [(-1, 10), (0, 0), (5, -1), (0, 1.5), ("0", 1)])
def test_a_range_that_is_no_range_is_refused_before_any_io(where: Where, offset, length):
    before = where.requests()
    with pytest.raises(StoreError, match="not a range"):
        where.store.get_range(PACK_KEY, offset, length)
    assert where.requests() == before


def test_a_range_is_read_in_bounded_memory(tmp_path: Path):
    import tracemalloc

    st = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    st.put_file(PACK_KEY, str(random_file(tmp_path / "src", 40 << 20, seed=5)))
    tracemalloc.start()
    try:
        with st.get_range(PACK_KEY, 1, (40 << 20) - 1) as stream:
            while stream.read(256 << 10):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


# -- listings -----------------------------------------------------------------------------------


def test_list_keys_lists_the_layout_only(where: Where):
    st = where.store
    for key in GOOD:
        st.put_bytes(key, key.encode())
    # names that are not keys are skipped, never turned into paths
    for stray in ["chunked/v1/packs/ab/junk", f"chunked/v1/packs/cd/{PACK}.pack",
                  f"chunked/v1/manifests/{'CD' * 32}.manifest", "chunked/v1/gc/x.done",
                  "chunked/v1/FORMAT.tmp", key_for("0123456789abcdef" * 2)]:  # fmt: skip
        where.plant(stray, b"stray")
    listed, when = st.list_keys("chunked/v1/")
    keys = list(listed)
    assert [k.key for k in keys] == sorted(GOOD)
    assert all(k.size == len(k.key) and fresh(k.store_time) for k in keys)
    assert fresh(when)
    assert [k.key for k in st.list_keys("chunked/v1/packs/")[0]] == [PACK_KEY]
    assert [k.key for k in st.list_keys("chunked/v1/packs/ab/")[0]] == [PACK_KEY]
    assert list(st.list_keys("chunked/v1/packs/00/")[0]) == []
    assert [k.key for k in st.list_keys("chunked/v1/gc/")[0]] == sorted(GOOD[3:])
    assert [k.key for k in st.list_keys("chunked/v1/manifests/")[0]] == [MANIFEST_KEY]
    if where.s3 is None:
        assert os.listdir(Path(st.root) / "tmp") == []  # type: ignore[attr-defined]


def test_the_listing_time_is_the_stores_clock(where: Where):
    """The time comes before the listing, on the clock that stamps the keys: a key written
    after a listing is never older than it (S3's Date and LastModified are in seconds)."""
    st = where.store
    st.put_bytes(FORMAT_KEY, b"x")
    _, when = st.list_keys("chunked/v1/gc/")
    st.put_bytes(RUN_KEY, b"")
    [run] = st.list_keys("chunked/v1/gc/")[0]
    assert when is not None and fresh(when) and run.store_time >= when - 1


def test_listing_an_empty_store(where: Where):
    if where.s3 is None:
        os.makedirs(where.store.root)  # type: ignore[attr-defined]
    listed, when = where.store.list_keys("chunked/v1/")
    assert list(listed) == [] and fresh(when)


def test_a_directory_store_that_does_not_exist_yet_holds_nothing(tmp_path: Path):
    """As exists_many: a directory store is made by its first write (a bare repository's
    embedded store by its first push); reads make nothing."""
    st = LocalStore(StoreSpec(url=str(tmp_path / "nowhere")))
    listed, when = st.list_keys("chunked/v1/")
    assert list(listed) == [] and when is None
    assert st.head(FORMAT_KEY) is None
    for read in (lambda: st.get_bytes(FORMAT_KEY), lambda: st.get_range(FORMAT_KEY, 0, 1)):
        with pytest.raises(ObjectMissing, match="does not exist") as e:
            read()
        assert "git data env" in e.value.hint
    assert st.delete_keys([FORMAT_KEY]) == {}
    assert not (tmp_path / "nowhere").exists()
    st.put_bytes(FORMAT_KEY, b"x")
    assert st.get_bytes(FORMAT_KEY) == b"x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_directory_store_lists_without_a_time(tmp_path: Path):
    st = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    st.put_bytes(FORMAT_KEY, b"x")
    os.rmdir(tmp_path / "store" / "tmp")
    os.chmod(tmp_path / "store", 0o555)
    try:
        listed, when = st.list_keys("chunked/v1/")
        assert [k.key for k in listed] == [FORMAT_KEY] and when is None
    finally:
        os.chmod(tmp_path / "store", 0o755)


def test_a_listing_goes_past_1000_keys(where: Where):
    keys = sorted(f"chunked/v1/manifests/{os.urandom(32).hex()}.manifest" for _ in range(1005))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: where.plant(k, b"m"), keys))
    if where.s3 is not None:
        where.s3.clear_requests()
    listed, when = where.store.list_keys("chunked/v1/manifests/")
    assert [k.key for k in listed] == keys and fresh(when)
    if where.s3 is not None:  # two pages: 1000 keys, then 5
        lists = [p for m, p, _ in where.s3.requests if m == "GET" and "list-type=2" in p]
        assert len(lists) == 2 and "continuation-token" in lists[1]


# -- deletes ------------------------------------------------------------------------------------


def test_delete_keys_reports_each_key_that_stays(where: Where):
    st = where.store
    for key in GOOD:
        st.put_bytes(key, b"x")
    stuck = RUN_KEY
    if where.s3 is not None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{where.s3.bucket}/{PREFIX}/{stuck}",
            }],
        }  # fmt: skip
        where.s3.client.put_bucket_policy(Bucket=where.s3.bucket, Policy=json.dumps(policy))
    else:  # a directory under the key's name: unlink() refuses it
        path = Path(st.root) / stuck  # type: ignore[attr-defined]
        path.unlink()
        path.mkdir()
    failed = st.delete_keys(GOOD)
    assert list(failed) == [stuck] and failed[stuck], failed
    if where.s3 is not None:
        assert failed[stuck].startswith("AccessDenied")
        assert where.keys() == [stuck]
    else:
        assert where.keys() == []  # the directory stays, holding nothing


# -- refused keys -------------------------------------------------------------------------------


def calls(st: Store, key: str, src: str) -> dict[str, object]:
    out = {
        "put_file": lambda: st.put_file(key, src),
        "put_bytes": lambda: st.put_bytes(key, b"x"),
        "link_file": lambda: st.link_file(key, src),
        "get_bytes": lambda: st.get_bytes(key),
        "get_range": lambda: st.get_range(key, 0, 1),
        "head": lambda: st.head(key),
        "delete_keys": lambda: st.delete_keys([MANIFEST_KEY, key]),
    }
    if key == WHOLE_KEY:
        del out["get_range"]  # a record's term reads a range of a whole object (5.2)
    return out


def test_get_range_reads_a_whole_object(where: Where, tmp_path: Path):
    data = os.urandom(5000)
    oid = hash_bytes(data)
    (tmp_path / "src").write_bytes(data)
    where.store.upload(oid, str(tmp_path / "src"), len(data))
    assert where.store.get_range(key_for(oid), 1000, 3000).read() == data[1000:4000]
    with pytest.raises(StoreError, match="refused the store key"):
        where.store.get_range(key_for(oid)[:-1] + "x", 0, 1)


@pytest.mark.parametrize("key", HOSTILE)
def test_every_call_refuses_a_key_outside_the_layout_before_any_io(where: Where, key: str):
    where.store.put_bytes(MANIFEST_KEY, b"m")
    if where.s3 is not None:
        where.s3.clear_requests()
    src = where.tmp_path / "src"
    src.write_bytes(b"x")
    before = where.requests()
    for name, call in calls(where.store, key, str(src)).items():
        with pytest.raises(StoreError, match="refused the store key") as e:
            call()  # type: ignore[operator]
        assert e.value.hint, name
    for prefix in [key, "chunked/v1/packs", "chunked/v1/packs/AB/", "chunked/v1/x/", "", "/"]:
        with pytest.raises(StoreError, match="refused the store prefix"):
            where.store.list_keys(prefix)
    assert where.requests() == before  # S3: no request; a directory: nothing made, or gone
    assert where.keys()[-1] == MANIFEST_KEY  # delete_keys checked every key first
    assert not (where.tmp_path / "x").exists() and not Path("/tmp/chunked").exists()
