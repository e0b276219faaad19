"""Store gc of the chunked store (docs/chunked-store.md, 7.1): dead packs and manifests go, live
ones stay, every live file reads back byte-exact from a fresh clone afterwards; young packs
survive; old manifests are compacted; mostly dead packs are repacked. Pushes through real git
with `chunked = true`, gc from a fresh clone (whose reflogs name nothing the remote lost)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Env, write
from test_chunked_write import dir_repo, manifests, packs, tree_bytes
from test_store_gc_race import TIMES, Race, X, configure, setup_race

from gitdata.storage.chunked import gc as chunked_gc


def clone(env: Env, bare: Path, name: str) -> Path:
    path = env.root / name
    env.git("clone", "-q", str(bare), str(path))
    return path


def gc(env: Env, cwd: Path, *args: str) -> dict:
    r = env.data("gc", "--remote", "origin", "--json", *args, cwd=cwd)
    return json.loads(r.stdout)


def check_clone(env: Env, bare: Path, files: dict[str, bytes], name: str) -> Path:
    """A fresh clone reads every file byte-exact, and the store passes fsck for them."""
    c = clone(env, bare, name)
    for path, data in files.items():
        assert (c / path).read_bytes() == data, path
    env.data("fsck", "--remote", "origin", cwd=c)
    return c


def push_dead_branch(env: Env, repo: Path, name: str, data: bytes) -> None:
    """Push `data` on a branch, then delete the branch from the remote: its pack is dead."""
    env.git("checkout", "-q", "-b", name, cwd=repo)
    write(repo / f"{name}.bin", data)
    env.commit_all(repo, name)
    env.git("push", "-q", "origin", name, cwd=repo)
    env.git("checkout", "-q", "main", cwd=repo)
    env.git("push", "-q", "origin", "--delete", name, cwd=repo)


def test_dead_packs_and_manifests_go_live_ones_stay(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    files = {"a.bin": os.urandom(200_000), "small.bin": b"tiny"}
    for path, data in files.items():
        write(repo / path, data)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    live_packs = packs(store)
    push_dead_branch(env, repo, "gone", os.urandom(150_000))
    assert len(packs(store)) == 2 and len(manifests(store)) == 2
    gcer = clone(env, bare, "gcer")
    dry = gc(env, gcer, "--dry-run", "--grace", "0")
    assert len(dry["chunked"]["packs_removed"]) == 1 and dry["chunked"]["manifests_removed"] == 1
    assert len(packs(store)) == 2  # a dry run deletes nothing
    young = gc(env, gcer, "--yes")  # the default grace: everything is young
    assert young["chunked"]["packs_removed"] == [] and len(packs(store)) == 2
    done = gc(env, gcer, "--yes", "--grace", "0")
    assert len(done["chunked"]["packs_removed"]) == 1 and done["chunked"]["manifests_removed"] == 1
    assert packs(store) == live_packs and len(manifests(store)) == 1
    check_clone(env, bare, files, "fresh")
    again = gc(env, gcer, "--yes", "--grace", "0")  # nothing more to do
    assert again["chunked"]["packs_removed"] == [] and again["chunked"]["manifests_removed"] == 0


def test_a_push_does_not_rely_on_a_pack_gc_deleted(env):
    """The pushing clone's index still places X's chunks in the pack a store gc deleted: the
    push checks the packs it relies on (4.8), finds it gone and packs X again."""
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    write(repo / "a.bin", b"base")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    x = os.urandom(120_000)
    push_dead_branch(env, repo, "gone", x)
    gc(env, clone(env, bare, "gcer"), "--yes", "--grace", "0")
    assert len(packs(store)) == 1
    write(repo / "a.bin", x)
    env.commit_all(repo, "x again")
    r = env.git("push", "-q", "origin", "main", cwd=repo)
    assert b"packing again 1 file(s)" in r.stderr
    check_clone(env, bare, {"a.bin": x}, "fresh")


@pytest.fixture
def race(env, request, tmp_path, monkeypatch) -> Race:
    """test_store_gc_race's set-up with chunked pushes: X sits in a pack of a deleted branch,
    and the pushing clone's index places X's chunks there."""
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    env.git("config", "--global", "data.chunked", "true")
    return setup_race(env, "directory", request, tmp_path)


def check_race(race: Race) -> None:
    """The pushed main reads back X from a fresh clone, and fsck of the store is clean."""
    c = race.env.root / f"fresh-{len(list(race.env.root.glob('fresh-*')))}"
    race.env.git("clone", "-q", str(race.bare), str(c), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    configure(race.env, c, race.store.spec)
    race.env.data("pull", cwd=c)
    assert (c / "a.bin").read_bytes() == X
    race.env.data("fsck", "--remote", "origin", cwd=c)


@pytest.mark.parametrize("point", ["gc-planned", "gc-deleting", "gc-fenced", "gc-deleted"])
def test_chunked_push_while_gc_is_paused(race, point):
    gc_proc = race.gc([point])
    race.reached(point, gc_proc)
    push = race.push()
    race.waiting_or_done(push)
    race.go(point)
    race.finish(gc_proc)
    race.finish(push)
    check_race(race)


@pytest.mark.parametrize("point", ["push-P1", "push-P3", "push-P4", "push-P6"])
def test_gc_while_chunked_push_is_paused(race, point):
    push = race.push([point])
    race.reached(point, push)
    race.finish(race.gc())
    race.go(point)
    text = race.finish(push)
    if point in ("push-P3", "push-P4"):  # gc deleted X's pack before the manifest: P6 repairs
        assert "waiting for store gc" in text and "packing again 1 file(s)" in text, text
    check_race(race)


def test_old_manifests_are_compacted(env):
    """More than 16 old manifests with chosen records: one compacted manifest holds them all,
    and a fresh clone reads every file through it."""
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    files = {}
    for i in range(chunked_gc.COMPACT_ABOVE + 2):
        files[f"f{i}.bin"] = os.urandom(3000 + i)
        write(repo / f"f{i}.bin", files[f"f{i}.bin"])
        env.commit_all(repo, f"f{i}")
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert len(manifests(store)) == len(files)
    done = gc(env, clone(env, bare, "gcer"), "--yes", "--grace", "0")
    assert done["chunked"]["compacted"] == len(files)
    assert done["chunked"]["manifests_removed"] == len(files)
    assert [m.name for m in manifests(store)] == [done["chunked"]["compacted_into"].split("/")[-1]]
    assert done["chunked"]["packs_removed"] == []
    check_clone(env, bare, files, "fresh")
    again = gc(env, clone(env, bare, "gcer2"), "--yes", "--grace", "0")
    assert again["chunked"]["compacted"] == 0 and len(manifests(store)) == 1


def mostly_dead_pack(env: Env) -> tuple[Path, Path, Path, dict[str, bytes]]:
    """One pack of ten files, of which main keeps two (its push copied their records): the
    pack is 20% live once the branch that pushed it is deleted. A directory store."""
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    keep = push_mostly_dead(env, repo)
    assert len(packs(store)) == 1
    return store, repo, bare, keep


def push_mostly_dead(env: Env, repo: Path) -> dict[str, bytes]:
    write(repo / "base.txt", b"base")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    datas = {f"f{i}.bin": os.urandom(100_000) for i in range(10)}
    env.git("checkout", "-q", "-b", "big", cwd=repo)
    for name, data in datas.items():
        write(repo / name, data)
    env.commit_all(repo, "big")
    env.git("push", "-q", "origin", "big", cwd=repo)
    env.git("checkout", "-q", "main", cwd=repo)
    keep = {"f0.bin": datas["f0.bin"], "f7.bin": datas["f7.bin"]}
    for name, data in keep.items():
        write(repo / name, data)
    env.commit_all(repo, "two of them")
    env.git("push", "-q", "origin", "main", cwd=repo)
    env.git("push", "-q", "origin", "--delete", "big", cwd=repo)
    return keep


def test_a_mostly_dead_pack_is_repacked(env):
    store, repo, bare, keep = mostly_dead_pack(env)
    old = packs(store)
    before = tree_bytes(store / "chunked" / "v1" / "packs")
    gcer = clone(env, bare, "gcer")
    dry = gc(env, gcer, "--dry-run", "--grace", "0")
    assert dry["chunked"]["repacked"] == [old[0].stem] and packs(store) == old
    done = gc(env, gcer, "--yes", "--grace", "0")
    assert done["chunked"]["repacked"] == [old[0].stem] and len(done["chunked"]["new_packs"]) == 1
    assert [c["pack"] for c in done["chunked"]["packs_removed"]] == [old[0].stem]
    assert [p.stem for p in packs(store)] == done["chunked"]["new_packs"]
    after = tree_bytes(store / "chunked" / "v1" / "packs")
    print(f"repack: packs {before} -> {after} bytes")
    assert after < before * 0.3
    assert len(manifests(store)) == 1  # the compacted one, with the rewritten records
    check_clone(env, bare, {**keep, "base.txt": b"base"}, "fresh")
    # the pushing clone's index still knows the old pack: its next push packs again
    write(repo / "f3.bin", os.urandom(50_000) + keep["f0.bin"])
    env.commit_all(repo, "more")
    env.git("push", "-q", "origin", "main", cwd=repo)
    c = check_clone(env, bare, keep, "fresh2")
    assert (c / "f3.bin").read_bytes() == (repo / "f3.bin").read_bytes()


KILL_POINTS = [
    "gc-repacked",
    "gc-compacted",
    "gc-deleting",
    "gc-manifests-deleted",
    "gc-packs-deleted",
    "gc-deleted",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_gc_killed_at_each_point_then_gc_again(env, monkeypatch, point):
    """SIGKILL of a store gc at each named point; once the killed run counts as over, a second
    gc finishes the work, fsck is clean and every live file reads back."""
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    store, repo, bare, keep = mostly_dead_pack(env)
    push_dead_branch(env, repo, "gone", os.urandom(70_000))
    gcer = clone(env, bare, "gcer")
    r = env.data(
        "gc", "--remote", "origin", "--yes", "--grace", "0", cwd=gcer, check=False,
        env={"GIT_DATA_TEST_KILL": point},
    )  # fmt: skip
    assert r.returncode == -9, r.stderr
    check_clone(env, bare, {**keep, "base.txt": b"base"}, "between")
    time.sleep(4.5)  # the killed run is over by its time limits (TIMES: stale=4)
    gc(env, gcer, "--yes", "--grace", "0")
    final = gc(env, gcer, "--yes", "--grace", "0")
    assert final["chunked"]["packs_removed"] == [] and final["chunked"]["repacked"] == []
    assert len(packs(store)) == 1
    check_clone(env, bare, {**keep, "base.txt": b"base"}, "after")


def test_gc_on_s3_removes_dead_packs_and_repacks(env, s3):
    """On S3 (moto): a dead branch's pack goes, the mostly dead pack is repacked, a fresh clone
    reads every live file and fsck is clean."""
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{s3.url("cg")}"\nendpoint_url = "{s3.endpoint}"\n'
    write(repo / ".gitdata.toml", (toml + "chunked = true\n").encode())
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    keep = push_mostly_dead(env, repo)
    push_dead_branch(env, repo, "gone", os.urandom(70_000))

    def s3_packs() -> list[str]:
        return sorted(k for k in s3.keys("cg/") if k.endswith(".pack"))

    assert len(s3_packs()) == 2
    time.sleep(1.1)  # LastModified has whole seconds: the packs must be older than gc's `now`
    done = gc(env, clone(env, bare, "gcer"), "--yes", "--grace", "0")
    assert len(done["chunked"]["packs_removed"]) == 2 and len(done["chunked"]["repacked"]) == 1
    assert [k.split("/")[-1][:-5] for k in s3_packs()] == done["chunked"]["new_packs"]
    check_clone(env, bare, {**keep, "base.txt": b"base"}, "fresh")
