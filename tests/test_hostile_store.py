"""Every entry point that takes an oid (layout, Cache, LocalStore, store listings) refuses anything
but 32 lowercase hex digits, so no oid from a blob, a pointer, a listing or a command line becomes
a path outside the cache or the store; and what a hostile directory store holds (wrong bytes,
symlinks, FIFOs, stray names) never enters the cache."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
import xxhash

from gitdata.cache import Cache
from gitdata.errors import GitDataError, IntegrityError, StoreError
from gitdata.layout import iter_object_paths, object_path
from gitdata.storage import StoreSpec, key_for
from gitdata.storage.local import LocalStore
from gitdata.transfer import download_one

HOSTILE = [
    "../../../../etc/passwd",
    "..",
    "/etc/passwd",
    "/" + "a" * 31,
    "a" * 31,
    "a" * 33,
    "A" * 32,
    "aB" * 16,
    "a" * 16 + "\0" + "a" * 15,
    "a" * 32 + "\n",
    "a" * 30 + "/b",
    "xxh128:" + "a" * 32,
    " " + "a" * 31,
    "",
    "ａ" * 32,  # fullwidth letters: not ASCII hex
    "٠" * 32,  # Arabic-Indic digits: \d would take them, [0-9] does not
]
GOOD = "0123456789abcdef" * 2


def put(root: Path, oid: str, data: bytes) -> Path:
    p = root / oid[:2] / oid[2:4] / oid
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def oid_of(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@pytest.mark.parametrize("oid", HOSTILE)
def test_every_entry_point_refuses_a_hostile_oid(tmp_path, oid):
    cache = Cache(str(tmp_path / "cache"))
    store = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    src = tmp_path / "src"
    src.write_bytes(b"x")
    calls = {
        "object_path": lambda: object_path(str(tmp_path), oid),
        "Cache.path": lambda: cache.path(oid),
        "Cache.has": lambda: cache.has(oid),
        "Cache.size": lambda: cache.size(oid),
        "Cache.open": lambda: cache.open(oid),
        "Cache.remove": lambda: cache.remove(oid),
        "LocalStore.path": lambda: store.path(oid),
        "LocalStore.exists_many": lambda: store.exists_many([oid]),
        "LocalStore.upload": lambda: store.upload(oid, str(src), 1),
        "LocalStore.download": lambda: store.download(oid, str(tmp_path / "dest")),
        "LocalStore.delete_many": lambda: store.delete_many([oid]),
        "key_for": lambda: key_for(oid),
        "download_one": lambda: download_one(store, cache, oid, 1),
    }
    took = []
    for name, call in calls.items():
        try:
            call()
        except ValueError:
            continue
        took.append(name)
    assert took == []
    # and nothing was created but, at most, the cache's empty temporary directory
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert set(made) - {"cache", "cache/tmp"} == {"src"}


def test_adopt_refuses_a_hostile_oid_and_removes_the_file(tmp_path):
    cache = Cache(str(tmp_path / "cache"))
    tmp = tmp_path / "incoming"
    tmp.write_bytes(b"x")
    with pytest.raises((ValueError, IntegrityError)):
        cache.adopt(str(tmp), "../../" + oid_of(b"x")[6:])
    assert list(iter_object_paths(cache.root)) == []


def test_listing_skips_planted_names(tmp_path):
    """A store or cache listing yields only `<h[0:2]>/<h[2:4]>/<h>` with a 32-hex name."""
    root = tmp_path / "store"
    good = put(root, GOOD, b"good")
    planted = [
        root / GOOD,  # at the top
        root / GOOD[:2] / GOOD,  # one level short
        root / "ff" / "ee" / GOOD,  # wrong shard
        root / GOOD[:2] / GOOD[2:4] / GOOD.upper(),
        root / GOOD[:2] / GOOD[2:4] / (GOOD[:31]),
        root / GOOD[:2] / GOOD[2:4] / (GOOD + "0"),
        root / GOOD[:2] / GOOD[2:4] / (GOOD + ".tmp"),
        root / GOOD[:2] / GOOD[2:4] / ".." / "x",
        root / "tmp" / GOOD,
        root / "..." / GOOD[2:4] / GOOD,
        root / GOOD[:2] / "tmp" / GOOD,
    ]
    for p in planted:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"planted")
    (root / GOOD[:2] / GOOD[2:4] / "nested").mkdir()
    assert list(iter_object_paths(str(root))) == [(GOOD, str(good))]
    store = LocalStore(StoreSpec(url=f"file://{root}"))
    assert [o.oid for o in store.iter_objects()] == [GOOD]
    assert list(Cache(str(root)).iter_oids()) == [GOOD]


def store_and_cache(tmp_path: Path) -> tuple[LocalStore, Cache]:
    return LocalStore(StoreSpec(url=str(tmp_path / "store"))), Cache(str(tmp_path / "cache"))


def test_wrong_bytes_under_the_right_name_never_enter_the_cache(tmp_path):
    store, cache = store_and_cache(tmp_path)
    data = b"the real bytes"
    oid = oid_of(data)
    for wrong in (b"the fake bytes", data[:-1], data + b"!", b""):
        put(Path(store.root), oid, wrong).chmod(0o644)
        with pytest.raises(IntegrityError) as e:
            download_one(store, cache, oid, len(data))
        assert oid in e.value.message
        assert not cache.has(oid)
        assert os.listdir(cache.tmp_dir) == []
        os.unlink(store.path(oid))
    # the right size is checked too, not only the hash
    put(Path(store.root), oid, data)
    with pytest.raises(IntegrityError):
        download_one(store, cache, oid, len(data) + 1)
    download_one(store, cache, oid, len(data))
    assert Path(cache.path(oid)).read_bytes() == data


def test_a_fifo_in_the_store_is_refused_not_waited_on(tmp_path):
    store, cache = store_and_cache(tmp_path)
    oid = GOOD
    p = Path(store.path(oid))
    p.parent.mkdir(parents=True)
    os.mkfifo(p)
    failure: list[BaseException] = []

    def run():
        try:
            download_one(store, cache, oid, 4)
        except BaseException as e:  # noqa: BLE001
            failure.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so that the test process can end
        fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("download_one blocked on a FIFO in the store")
    assert failure and isinstance(failure[0], GitDataError)
    assert "regular file" in failure[0].message
    assert not cache.has(oid) and os.listdir(cache.tmp_dir) == []


def test_a_symlink_in_the_store_neither_enters_the_cache_nor_touches_its_target(tmp_path):
    """os.link() links a symlink itself and chmod() follows it: a planted link named by the hash
    of a file the attacker knows (say ~/.bashrc) would have made that file read-only and put a
    link into the cache."""
    store, cache = store_and_cache(tmp_path)
    target = tmp_path / "victim"
    target.write_bytes(b"known content")
    target.chmod(0o644)
    oid = oid_of(b"known content")
    p = Path(store.path(oid))
    p.parent.mkdir(parents=True)
    p.symlink_to(target)
    with pytest.raises(GitDataError) as e:
        download_one(store, cache, oid, 13)
    assert "regular file" in e.value.message
    assert target.stat().st_mode & 0o777 == 0o644
    assert not cache.has(oid) and not os.path.lexists(cache.path(oid))
    # a directory under an object's name, likewise
    os.unlink(p)
    p.mkdir()
    with pytest.raises(GitDataError):
        download_one(store, cache, oid, 13)
    assert not os.path.lexists(cache.path(oid))


def test_adopt_takes_only_a_regular_file(tmp_path):
    """Whatever a store backend leaves at the temporary path, only a regular file is adopted."""
    cache = Cache(str(tmp_path / "cache"))
    target = tmp_path / "victim"
    target.write_bytes(b"known content")
    target.chmod(0o644)
    oid = oid_of(b"known content")
    with cache.temp_path() as tmp:
        os.symlink(target, tmp)
        with pytest.raises(IntegrityError):
            cache.adopt(tmp, oid, 13)
    assert target.stat().st_mode & 0o777 == 0o644
    assert not os.path.lexists(cache.path(oid))
    with cache.temp_path() as tmp:
        os.mkfifo(tmp)
        with pytest.raises(IntegrityError):
            cache.adopt(tmp, oid, 13)  # does not block
    assert os.listdir(cache.tmp_dir) == []


# -- the chunked store's keys (storage/keys.py): no link below the root is followed -----------

FORMAT_KEY = "chunked/v1/FORMAT"
PACK_KEY = f"chunked/v1/packs/ab/{'ab' * 32}.pack"


def outside(tmp_path: Path) -> Path:
    """A directory outside the store that looks like the store's chunked/ tree."""
    out = tmp_path / "outside"
    (out / "v1" / "packs" / "ab").mkdir(parents=True)
    (out / "v1" / "FORMAT").write_bytes(b"outside")
    (out / "v1" / "packs" / "ab" / PACK_KEY.rpartition("/")[2]).write_bytes(b"outside")
    return out


def snapshot(root: Path) -> dict[str, tuple[bytes, float]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("link", ["chunked", "chunked/v1", "chunked/v1/packs/ab", "tmp"])
def test_key_calls_follow_no_link_below_the_root(tmp_path, link):
    """Someone who can write the store plants a link to a directory elsewhere: every key-level
    call that would pass through it refuses, and nothing outside the store is read or written."""
    store = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    store.put_bytes("chunked/v1/manifests/" + "cd" * 32 + ".manifest", b"m")
    out = outside(tmp_path)
    planted = tmp_path / "store" / link
    shutil.rmtree(planted, ignore_errors=True)
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(out / "v1" / "packs" / "ab" if link.endswith("ab") else out, True)
    before = snapshot(out)
    src = tmp_path / "src"
    src.write_bytes(b"pack")
    refused = [
        lambda: store.put_file(PACK_KEY, str(src)),
        lambda: store.put_bytes(PACK_KEY, b"pack"),
        lambda: list(store.list_keys("chunked/v1/packs/ab/")[0]),
    ]
    if link != "tmp":  # these go nowhere near tmp/
        refused += [
            lambda: store.link_file(PACK_KEY, str(src)),
            lambda: store.get_bytes(PACK_KEY),
            lambda: store.get_range(PACK_KEY, 0, 1),
            lambda: store.head(PACK_KEY),
        ]
    for call in refused:
        with pytest.raises(StoreError, match="it was not followed"):
            call()
    if link != "tmp":
        assert store.delete_keys([PACK_KEY]) != {}
    if link == "chunked/v1/packs/ab":  # a listing above the link skips it, as any stray name
        assert [k.key for k in store.list_keys("chunked/v1/")[0]] == [
            "chunked/v1/manifests/" + "cd" * 32 + ".manifest"
        ]
    assert snapshot(out) == before


def test_a_link_or_fifo_under_a_key_is_never_used(tmp_path):
    store = LocalStore(StoreSpec(url=str(tmp_path / "store")))
    store.put_bytes(PACK_KEY, b"real")
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret")
    old = victim.stat().st_mtime - 1000
    os.utime(victim, (old, old))
    fmt = tmp_path / "store" / FORMAT_KEY
    fmt.symlink_to(victim)
    with pytest.raises(StoreError, match="it was not followed"):
        store.get_bytes(FORMAT_KEY)
    with pytest.raises(StoreError, match="not a regular file"):
        store.head(FORMAT_KEY)
    store.link_file(FORMAT_KEY, str(tmp_path / "store" / PACK_KEY))  # there already: kept
    assert [k.key for k in store.list_keys("chunked/v1/")[0]] == [PACK_KEY]
    assert store.delete_keys([FORMAT_KEY]) == {}  # the link goes, not its target
    assert victim.read_bytes() == b"secret" and victim.stat().st_mtime == old
    os.mkfifo(fmt)
    failure: list[BaseException] = []

    def run():
        reads = (lambda: store.get_bytes(FORMAT_KEY), lambda: store.get_range(FORMAT_KEY, 0, 1))
        for read in reads:
            try:
                read()
            except BaseException as e:  # noqa: BLE001
                failure.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():
        os.close(os.open(fmt, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("a read blocked on a FIFO in the store")
    assert len(failure) == 2 and all("not a regular file" in e.message for e in failure)
