"""The write path of the chunked store through real git (docs/chunked-store.md, 4 and 8.2 step
6): pushes with `chunked = true` write packs and one manifest, clones and fetches read them back
byte-exact, on a directory store, the embedded default and S3 (moto)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from conftest import Env, random_file, write

from gitdata.storage import key_for

CHUNKED = "chunked/v1"


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def packs(root: Path) -> list[Path]:
    return sorted((root / CHUNKED / "packs").rglob("*.pack"))


def manifests(root: Path) -> list[Path]:
    return sorted((root / CHUNKED / "manifests").glob("*.manifest"))


def dir_repo(env: Env, store: Path, chunked: str = "true") -> tuple[Path, Path]:
    repo = env.new_repo()
    write(
        repo / ".gitdata.toml",
        f'[remote.origin]\nurl = "{store}"\nchunked = {chunked}\n'.encode(),
    )
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    return repo, bare


def test_push_clone_and_fetch_round_trip_on_a_directory_store(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    files = {
        "a.bin": os.urandom(300_000),
        "csv.bin": b"".join(b"%d;%d;hello\n" % (i, i * 7) for i in range(100_000)),
        "small.bin": b"tiny",
    }
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert (store / CHUNKED / "FORMAT").is_file()
    assert len(packs(store)) == 1 and len(manifests(store)) == 1
    assert not [p for p in store.rglob("*") if p.is_file() and len(p.name) == 32]  # no wholes
    # compression where it pays: the CSV's frames are zstd
    assert tree_bytes(store / CHUNKED / "packs") < 300_000 + len(files["csv.bin"]) // 2
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    env.data("fsck", cwd=clone)
    # a second version, fetched into the clone
    write(repo / "a.bin", files["a.bin"] + b"more")
    env.commit_all(repo, "v2")
    env.git("push", "-q", cwd=repo)
    assert len(manifests(store)) == 2
    env.git("pull", "-q", cwd=clone)
    assert (clone / "a.bin").read_bytes() == files["a.bin"] + b"more"
    env.data("fsck", cwd=repo)


def test_chunked_false_writes_whole_objects_as_before(env):
    store = env.root / "store"
    repo, _ = dir_repo(env, store, "false")
    data = os.urandom(100_000)
    write(repo / "a.bin", data)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert not packs(store) and not (store / CHUNKED / "FORMAT").exists()
    from gitdata.hashing import hash_bytes

    assert (store / key_for(hash_bytes(data))).is_file()


def test_env_shows_the_setting_per_remote(env):
    repo, _ = dir_repo(env, env.root / "store")
    out = env.data("env", cwd=repo).stdout.decode()
    assert "chunked: true (remote.origin.chunked)" in out
    env.git("config", "data.remote.origin.chunked", "false", cwd=repo)
    assert "chunked: false (remote.origin.chunked)" in env.data("env", cwd=repo).stdout.decode()
    env.git("config", "--unset", "data.remote.origin.chunked", cwd=repo)
    write(repo / ".gitdata.toml", f'[remote.origin]\nurl = "{env.root / "s"}"\n'.encode())
    env.git("config", "data.chunked", "auto", cwd=repo)
    assert "chunked: auto (data.chunked)" in env.data("env", cwd=repo).stdout.decode()
    env.git("config", "data.chunked", "maybe", cwd=repo)
    bad = env.data("env", cwd=repo, check=False)
    assert bad.returncode != 0 and b"data.chunked must be true, false or auto" in bad.stderr


@pytest.mark.parametrize("size_mib", [64])
def test_w3_second_version_adds_under_2_mib(env, other_fs, size_mib):
    """1 MiB overwritten in the middle of a big file: v2 stores and fetches under 2 MiB (a store
    on another file system: on the cache's own, big files are hard-linked whole, 4.1)."""
    store = other_fs / "store"
    repo, bare = dir_repo(env, store)
    path = random_file(repo / "big.bin", size_mib << 20, seed=3)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    before = tree_bytes(store)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + (1 << 20)] = os.urandom(1 << 20)
    write(path, bytes(data))
    env.commit_all(repo, "v2")
    env.git("push", "-q", cwd=repo)
    grown = tree_bytes(store) - before
    print(f"W3 {size_mib} MiB: store grew by {grown} bytes")
    assert grown < 2 << 20
    env.git("pull", "-q", cwd=clone)
    assert (clone / "big.bin").read_bytes() == bytes(data)


def test_s3_push_clone_and_w3_fetch(env, s3):
    """On S3 (moto, through the counting proxy): a chunked first push, a clone, then a second
    version with 1 MiB overwritten in 64 MiB (W3): the push uploads and the pull downloads
    under 2 MiB."""
    from faultproxy import FaultProxy

    with FaultProxy(s3.endpoint) as proxy:
        repo = env.new_repo()
        toml = f'[remote.origin]\nurl = "{s3.url("cw")}"\nendpoint_url = "{proxy.endpoint}"\n'
        write(repo / ".gitdata.toml", (toml + "chunked = true\n").encode())
        v1 = random_file(repo / "big.bin", 64 << 20, seed=9).read_bytes()
        smalls = {f"s/{i}.bin": os.urandom(1000 + i) for i in range(20)}
        for name, data in smalls.items():
            write(repo / name, data)
        env.commit_all(repo)
        bare = env.bare()
        env.git("remote", "add", "origin", str(bare), cwd=repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        keys = s3.keys("cw/")
        assert not [k for k in keys if "/chunked/" not in k], keys  # nothing whole
        assert len([k for k in keys if k.endswith(".manifest")]) == 1
        clone = env.root / "clone"
        env.git("clone", "-q", str(bare), str(clone))
        assert (clone / "big.bin").read_bytes() == v1
        for name, data in smalls.items():
            assert (clone / name).read_bytes() == data
        v2 = v1[: 32 << 20] + os.urandom(1 << 20) + v1[33 << 20 :]
        write(repo / "big.bin", v2)
        env.commit_all(repo, "v2")
        proxy.received.clear()
        env.git("push", "-q", "origin", "main", cwd=repo)
        put = sum(
            int(h.get("content-length", 0)) for op, h, _ in proxy.received if op == "PutObject"
        )
        proxy.received.clear()
        env.git("pull", "-q", cwd=clone)
        assert (clone / "big.bin").read_bytes() == v2
        ranges = [h["range"] for op, h, _ in proxy.received if "range" in h]
        fetched = sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))
        print(f"W3 64 MiB on S3: push uploaded {put} bytes; pull fetched {fetched} bytes")
        assert put < 2 << 20 and fetched < 2 << 20
        env.data("fsck", cwd=clone)


def test_embedded_default_round_trip(env):
    """No data remote: the bare repository's data/objects, chunked by `data.chunked`."""
    repo = env.new_repo()
    env.git("config", "data.chunked", "true", cwd=repo)
    files = {f"f{i}.bin": os.urandom(5000 + i) for i in range(30)}
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    store = bare / "data" / "objects"
    assert len(packs(store)) == 1 and len(manifests(store)) == 1
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name


@pytest.mark.parametrize("kind", ["embedded", "directory"])
def test_the_default_keeps_new_big_files_hard_linked_on_the_same_file_system(env, kind):
    """With no `chunked` setting anywhere (built in: auto), a first push to a new store on the
    cache's file system (the bare repository's embedded store, or a directory store) writes
    FORMAT, packs the small files and hard-links a new big file whole (4.1 step 3, W1)."""
    store = env.root / "store"
    if kind == "directory":
        repo, bare = dir_repo(env, store)
        (repo / ".gitdata.toml").write_bytes(f'[remote.origin]\nurl = "{store}"\n'.encode())
    else:
        repo = env.new_repo()
        bare = env.bare()
        env.git("remote", "add", "origin", str(bare), cwd=repo)
        store = bare / "data" / "objects"
    assert "chunked: auto (built-in default)" in env.data("env", cwd=repo).stdout.decode()
    random_file(repo / "big.bin", 17 << 20, seed=9)  # LINK_MIN is 16 MiB
    small = {f"s{i}.bin": os.urandom(3000 + i) for i in range(5)}
    for name, data in small.items():
        write(repo / name, data)
    env.commit_all(repo)
    pushed = env.git("push", "-q", "-u", "origin", "main", cwd=repo).stderr.decode()
    # the progress line counts the big file's bytes too, though it goes whole, not cut
    assert "Packing for " in pushed and "6/6 objects, 17.0 MiB/17.0 MiB" in pushed, pushed
    assert (store / CHUNKED / "FORMAT").read_bytes().endswith(b"legacy-objects no\n")
    assert len(packs(store)) == 1 and len(manifests(store)) == 1
    big = env.git("cat-file", "blob", "HEAD:big.bin", cwd=repo).stdout
    oid = big.split(b"xxh128:")[1].split()[0].decode()
    whole = store / key_for(oid)
    cached = repo / ".git" / "data" / "objects" / key_for(oid)
    assert whole.stat().st_ino == cached.stat().st_ino  # a hard link, not a copy
    assert [p.name for p in store.rglob("*") if p.is_file() and len(p.name) == 32] == [oid]
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert (clone / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    for name, data in small.items():
        assert (clone / name).read_bytes() == data, name


@pytest.mark.parametrize("chunked", ['"auto"', "true"])
def test_a_new_version_of_a_big_file_is_hard_linked_on_the_same_file_system(env, chunked):
    """Two clones and a directory store on the cache's file system: clone A pushes v1 of a big
    file, clone B changes 1 MiB of it and pushes v2, which has a base and is still hard-linked
    whole (4.1 step 3, for `auto` and `true`: instant, and no disk while the cache holds it);
    a fresh clone reads both versions byte-exact and `fsck --remote` is clean."""
    store = env.root / "store"
    a, bare = dir_repo(env, store, chunked)
    v1 = random_file(a / "big.bin", 17 << 20, seed=5).read_bytes()  # LINK_MIN is 16 MiB
    write(a / "small.bin", os.urandom(3000))
    env.commit_all(a)
    env.git("push", "-q", "-u", "origin", "main", cwd=a)
    b = env.root / "b"
    env.git("clone", "-q", str(bare), str(b))
    v2 = v1[: 8 << 20] + os.urandom(1 << 20) + v1[9 << 20 :]
    write(b / "big.bin", v2)
    env.commit_all(b, "v2")
    env.git("push", "-q", "origin", "main", cwd=b)
    from gitdata.hashing import hash_bytes

    for repo, data in ((a, v1), (b, v2)):
        oid = hash_bytes(data)
        cached = repo / ".git" / "data" / "objects" / key_for(oid)
        assert (store / key_for(oid)).stat().st_ino == cached.stat().st_ino  # a hard link
    assert len(packs(store)) == 1  # small.bin's; nothing of big.bin is packed
    c = env.root / "c"
    env.git("clone", "-q", str(bare), str(c))
    assert (c / "big.bin").read_bytes() == v2
    env.git("checkout", "-q", "HEAD~1", cwd=c)
    assert (c / "big.bin").read_bytes() == v1
    env.git("checkout", "-q", "main", cwd=c)
    env.data("fsck", "--remote", "origin", cwd=c)
    env.data("fsck", "--remote", "origin", "--all", cwd=c)


def test_a_push_relies_on_a_small_file_the_store_keeps_only_whole(env, other_fs):
    """A clone that never had the bytes of a small file the store keeps whole only (pushed with
    chunked = false, as an older gitdata does; no record names it) pushes, chunked, a commit
    that has its pointer at a new path: the store has it, the push relies on it (it was told it
    was in neither the cache nor the store, since a chunked push looked for small files as
    records only), and a fresh clone reads it."""
    from gitdata.hashing import hash_bytes

    store = other_fs / "store"
    repo, bare = dir_repo(env, store, "false")
    small = os.urandom(3000)
    write(repo / "small.bin", small)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert (store / key_for(hash_bytes(small))).is_file() and not packs(store)
    b = env.root / "b"
    env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.git("config", "data.remote.origin.chunked", "true", cwd=b)
    write(b / "again.bin", (b / "small.bin").read_bytes())  # the pointer, at a new path
    write(b / "new.bin", os.urandom(2000))
    env.commit_all(b, "a copy and a new file")
    env.git("push", "-q", "origin", "HEAD:refs/heads/copy", cwd=b)
    fresh = env.root / "fresh"
    env.git("clone", "-q", "-b", "copy", str(bare), str(fresh))
    assert (fresh / "again.bin").read_bytes() == small
    assert (fresh / "new.bin").read_bytes() == (b / "new.bin").read_bytes()
    env.data("fsck", "--remote", "origin", cwd=fresh)


def test_mixed_store_old_whole_objects_and_new_records(env, other_fs):
    """Whole objects pushed with chunked = false stay readable; switched on, a new version of a
    big file names the old whole object's unchanged ranges (a store on another file system: on
    the cache's own it would go whole, 4.1); a small file pushed whole before and in a pack now
    has both, and reads from either."""
    from gitdata.hashing import hash_bytes

    store = other_fs / "store"
    repo, bare = dir_repo(env, store, "false")
    big = random_file(repo / "big.bin", 20 << 20, seed=4).read_bytes()
    small = os.urandom(3000)
    write(repo / "small.bin", small)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert (store / key_for(hash_bytes(big))).is_file()
    env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
    big2 = big[: 10 << 20] + os.urandom(100_000) + big[(10 << 20) + 100_000 :]
    write(repo / "big.bin", big2)
    write(repo / "other.bin", small)  # same bytes, new path: small files are packed again
    env.commit_all(repo, "v2")
    before = tree_bytes(store)
    env.git("push", "-q", cwd=repo)
    assert tree_bytes(store) - before < 1 << 20
    assert (store / key_for(hash_bytes(small))).is_file() and packs(store)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert (clone / "big.bin").read_bytes() == big2
    assert (clone / "other.bin").read_bytes() == small
    env.git("checkout", "-q", "HEAD~1", cwd=clone)
    assert (clone / "big.bin").read_bytes() == big
    env.data("fsck", cwd=clone)


def test_many_small_files_make_few_packs_and_one_manifest(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    n = 2000
    for i in range(n):
        write(repo / "d" / f"{i:04d}.bin", os.urandom(64 << 10))
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    print(f"{n} x 64 KiB: {len(packs(store))} packs, {len(manifests(store))} manifest(s)")
    assert len(packs(store)) <= 5 and len(manifests(store)) == 1
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert (clone / "d" / "1999.bin").read_bytes() == (repo / "d" / "1999.bin").read_bytes()
    # the checkout rebuilt them in two batches (1,000 each): the second one did not fetch the
    # indexes of the packs the first had rebuilt its files from, to match those files as bases
    db = sqlite3.connect(clone / ".git" / "data" / "chunked" / "index.sqlite")
    assert db.execute("SELECT count(*) FROM pack WHERE size > 0").fetchone() == (0,)
    db.close()


def test_small_files_are_packed_in_path_order_and_a_clone_reads_them_in_runs(env):
    """Frames follow the paths (4.5 step 5), not the oids: a checkout asks for files in path
    order, so each batch the filter rebuilds is one run of bytes of each pack."""
    from gitdata.pointer import parse
    from gitdata.storage.chunked.format.manifest import decode_manifest

    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    names = [f"d{i // 10}/{i:03d}.bin" for i in range(60)]
    for name in reversed(names):  # written, and added, in the reverse order
        write(repo / name, os.urandom(20_000))
    write(repo / "big.bin", os.urandom(3 << 20))  # a bigger one goes first, as before
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    (m,) = manifests(store)
    records = {r.oid.hex(): r for r in decode_manifest(m.read_bytes()).records}
    oids = [parse(env.out("show", f"HEAD:{n}", cwd=repo).encode()).oid for n in names]
    starts = [(records[o].terms[0].source, records[o].terms[0].offset) for o in oids]
    assert len(packs(store)) == 1 and starts == sorted(starts)
    big = records[parse(env.out("show", "HEAD:big.bin", cwd=repo).encode()).oid]
    assert big.terms[0].offset < starts[0][1]
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name in names:
        assert (clone / name).read_bytes() == (repo / name).read_bytes(), name


@pytest.mark.parametrize(
    "point",
    [
        "synced",
        "pack-closed",
        "pack-uploaded",
        "packs-uploaded",
        "before-manifest",
        "manifest-written",
    ],  # fmt: skip
)
def test_a_push_killed_at_each_step_is_finished_by_a_retry(env, point):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    files = {f"f{i}.bin": os.urandom(400_000) for i in range(4)}
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    killed = env.git(
        "push", "-q", "-u", "origin", "main", cwd=repo, check=False,
        env={"GIT_DATA_TEST_KILL": point},
    )  # fmt: skip
    assert killed.returncode != 0
    assert env.out("for-each-ref", cwd=bare) == ""  # the remote's refs did not move
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    env.data("fsck", cwd=clone)
    env.data("fsck", cwd=repo)


def test_many_small_files_on_s3_take_few_requests(env, s3):
    """500 files of 64 KiB pushed chunked to S3: a handful of requests (whole objects took one
    PUT per file, plus the listings). Measured: push 7 requests, clone 5."""
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{s3.url("many")}"\nendpoint_url = "{s3.endpoint}"\n'
    write(repo / ".gitdata.toml", (toml + "chunked = true\n").encode())
    n = 500
    for i in range(n):
        write(repo / "d" / f"{i:04d}.bin", os.urandom(64 << 10))
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    s3.clear_requests()
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    pushed = len(s3.requests)
    s3.clear_requests()
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    cloned = len(s3.requests)
    print(f"{n} x 64 KiB on S3: push {pushed} requests, clone {cloned} requests")
    assert pushed <= 20 and cloned <= 20
    assert (clone / "d" / "0499.bin").read_bytes() == (repo / "d" / "0499.bin").read_bytes()


def test_auto_keeps_a_store_of_whole_objects_whole_until_it_has_the_format(env):
    from gitdata.hashing import hash_bytes

    store = env.root / "store"
    repo, _ = dir_repo(env, store, "false")
    a = os.urandom(5000)
    write(repo / "a.bin", a)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)  # what an older version wrote
    env.git("config", "data.remote.origin.chunked", "auto", cwd=repo)
    write(repo / "a2.bin", os.urandom(5000))
    env.commit_all(repo, "a2")
    env.git("push", "-q", cwd=repo)
    assert (store / key_for(hash_bytes(a))).is_file() and not packs(store)  # no FORMAT: whole
    env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
    write(repo / "b.bin", os.urandom(5000))
    env.commit_all(repo, "b")
    env.git("push", "-q", cwd=repo)  # writes FORMAT and a pack
    assert b"legacy-objects yes\n" in (store / CHUNKED / "FORMAT").read_bytes()
    env.git("config", "data.remote.origin.chunked", "auto", cwd=repo)
    write(repo / "c.bin", os.urandom(5000))
    env.commit_all(repo, "c")
    env.git("push", "-q", cwd=repo)  # auto, and the store has FORMAT now: a pack
    assert len(packs(store)) == 2


def test_auto_starts_a_new_store_chunked(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store, '"auto"')
    data = {"a.bin": os.urandom(5000), "b.bin": os.urandom(300_000)}
    for name, content in data.items():
        write(repo / name, content)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert (store / CHUNKED / "FORMAT").read_bytes().endswith(b"legacy-objects no\n")
    assert len(packs(store)) == 1
    assert not [p for p in store.rglob("*") if p.is_file() and len(p.name) == 32]
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, content in data.items():
        assert (clone / name).read_bytes() == content


def test_auto_on_s3_looks_at_the_top_level_of_the_prefix(env, s3):
    def repo_for(prefix: str, chunked: str) -> Path:
        repo = env.new_repo(prefix)
        toml = f'[remote.origin]\nurl = "{s3.url(prefix)}"\nendpoint_url = "{s3.endpoint}"\n'
        write(repo / ".gitdata.toml", f"{toml}chunked = {chunked}\n".encode())
        env.git("remote", "add", "origin", str(env.bare(f"{prefix}.git")), cwd=repo)
        write(repo / "a.bin", os.urandom(5000))
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        return repo

    s3.clear_requests()
    repo_for("new", '"auto"')  # an empty prefix: chunked, and FORMAT says so
    gets = [p for m, p, _ in s3.requests if m == "GET"]
    # the auto decision's GET of FORMAT (404) and listing of the top level; FORMAT is written
    # on their answers, not asked again
    assert len([p for p in gets if p.endswith("/new/chunked/v1/FORMAT")]) == 1
    assert len([p for p in gets if "prefix=new/&delimiter=" in p]) == 1
    assert [k for k in s3.keys("new/") if "/chunked/v1/packs/" in k]
    assert not [k for k in s3.keys("new/") if "/chunked/" not in k]
    got = s3.client.get_object(Bucket=s3.bucket, Key="new/chunked/v1/FORMAT")["Body"].read()
    assert got.endswith(b"legacy-objects no\n")
    old = repo_for("old", "false")  # whole objects first, as an older version writes them
    env.git("config", "data.remote.origin.chunked", "auto", cwd=old)
    write(old / "b.bin", os.urandom(5000))
    env.commit_all(old, "b")
    env.git("push", "-q", cwd=old)
    assert not [k for k in s3.keys("old/") if "/chunked/v1/packs/" in k]


def test_fsck_remote_counts_files_kept_as_records(env):
    store = env.root / "store"
    repo, _ = dir_repo(env, store)
    write(repo / "a.bin", os.urandom(10_000))
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    env.data("fsck", "--remote", "origin", cwd=repo)
    for m in manifests(store):
        m.unlink()
    assert env.data("fsck", "--remote", "origin", cwd=repo, check=False).returncode != 0


def test_w3_two_versions_in_one_push_store_the_second_as_a_delta(env, other_fs):
    """v1 and v2 of a big file (1 MiB overwritten in 64 MiB) committed one after the other and
    pushed together to a store on another file system: v2's base is v1, packed in the same run,
    so the store holds v1 once and about 1 MiB for v2, not a second whole copy."""
    store = other_fs / "store"
    repo, bare = dir_repo(env, store)
    path = random_file(repo / "big.bin", 64 << 20, seed=3)
    v1 = path.read_bytes()
    env.commit_all(repo)
    v2 = v1[: 32 << 20] + os.urandom(1 << 20) + v1[33 << 20 :]
    write(path, v2)
    env.commit_all(repo, "v2")
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    grown = tree_bytes(store) - len(v1)
    print(f"W3 64 MiB, v1 and v2 in one push: the store holds v1 + {grown} bytes")
    assert grown < 2 << 20
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert (clone / "big.bin").read_bytes() == v2
    env.git("checkout", "-q", "HEAD~1", cwd=clone)
    assert (clone / "big.bin").read_bytes() == v1
