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
from conftest import Env, age_for_gc, write
from s3_fixtures import s3_project
from test_chunked_write import dir_repo, manifests, packs, tree_bytes
from test_store_gc_race import DEADLINE, STALE, TIMES, Race, X, configure, setup_race

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
    age_for_gc(False)
    dry = gc(env, gcer, "--dry-run", "--grace", "0")
    assert len(dry["chunked"]["packs_removed"]) == 1 and dry["chunked"]["manifests_removed"] == 1
    assert len(packs(store)) == 2  # a dry run deletes nothing
    text = env.data("gc", "--remote", "origin", "--dry-run", "--grace", "0", cwd=gcer)
    gone_pack = dry["chunked"]["packs_removed"][0]
    assert f"would remove pack {gone_pack['pack']} {gone_pack['size']} (unreferenced)" in (
        text.stdout.decode()
    )
    assert b"would remove 1 pack(s)" in text.stderr and b"and 1 manifest(s)" in text.stderr
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
    gcer = clone(env, bare, "gcer")
    age_for_gc(False)
    gc(env, gcer, "--yes", "--grace", "0")
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


GC_PAUSES = ["gc-planned", "gc-deleting", "gc-fenced", "gc-deleted"]
# Not push-P6: the push has written its manifest and listed the run log, and a gc started more
# than a second later (a loaded machine) finds that manifest older than `--grace 0`, so it
# protects nothing; 6.3 assumes pushes shorter than the grace period.
PUSH_PAUSES = ["push-P1", "push-P3", "push-P4"]


@pytest.mark.parametrize("point", GC_PAUSES)
def test_chunked_push_while_gc_is_paused(race, point):
    push_while_gc_is_paused(race, point)


@pytest.mark.parametrize("point", PUSH_PAUSES)
def test_gc_while_chunked_push_is_paused(race, point):
    gc_while_push_is_paused(race, point)


def push_while_gc_is_paused(race: Race, point: str) -> None:
    """The push runs while gc stands at `point`, then gc goes on (test_chunked_gc_s3 too)."""
    gc_proc = race.gc([point])
    race.reached(point, gc_proc)
    push = race.push()
    race.waiting_or_done(push)
    race.go(point)
    race.finish(gc_proc)
    race.finish(push)
    check_race(race)


def gc_while_push_is_paused(race: Race, point: str) -> None:
    """A whole gc runs while the push stands at `point`, then the push goes on."""
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
    gcer = clone(env, bare, "gcer")
    age_for_gc(False)
    done = gc(env, gcer, "--yes", "--grace", "0")
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


def push_mostly_dead(
    env: Env, repo: Path, datas: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """Ten files (`datas`, f0.bin to f9.bin) pushed by branch `big`, deleted after main pushed
    f0.bin and f7.bin again: those two are what main keeps (returned)."""
    write(repo / "base.txt", b"base")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    datas = datas or {f"f{i}.bin": os.urandom(100_000) for i in range(10)}
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
    age_for_gc(False)
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
    gc_killed_then_gc_again(env, gcer, bare, {**keep, "base.txt": b"base"}, point)
    assert len(packs(store)) == 1


def gc_killed_then_gc_again(
    env: Env, gcer: Path, bare: Path, live: dict[str, bytes], point: str, name: str = ""
) -> None:
    """gc from `gcer` SIGKILLed at `point`; `live` reads back from fresh clones after it, and
    after two more gc runs, the second of which finds nothing left to do (test_chunked_gc_s3
    too)."""
    r = env.data(
        "gc", "--remote", "origin", "--yes", "--grace", "0", cwd=gcer, check=False,
        env={"GIT_DATA_TEST_KILL": point},
    )  # fmt: skip
    assert r.returncode == -9, r.stderr
    check_clone(env, bare, live, f"between{name}")
    # the killed run is over by its time limits (TIMES): from its `deleting` on, RUN_DEADLINE
    # after that; before it, RUN_STALE after its `planning`
    deleting = KILL_POINTS.index(point) >= KILL_POINTS.index("gc-deleting")
    time.sleep((DEADLINE if deleting else STALE) + 0.5)
    gc(env, gcer, "--yes", "--grace", "0")
    final = gc(env, gcer, "--yes", "--grace", "0")
    assert final["chunked"]["packs_removed"] == [] and final["chunked"]["repacked"] == []
    check_clone(env, bare, live, f"after{name}")


def test_gc_on_s3_removes_dead_packs_and_repacks(env, s3):
    """On S3 (moto): a dead branch's pack goes, the mostly dead pack is repacked, a fresh clone
    reads every live file and fsck is clean."""
    repo, bare = s3_project(env, s3.url("cg"), s3.endpoint, "true")
    keep = push_mostly_dead(env, repo)
    push_dead_branch(env, repo, "gone", os.urandom(70_000))

    def s3_packs() -> list[str]:
        return sorted(k for k in s3.keys("cg/") if k.endswith(".pack"))

    assert len(s3_packs()) == 2
    age_for_gc(True)
    done = gc(env, clone(env, bare, "gcer"), "--yes", "--grace", "0")
    assert len(done["chunked"]["packs_removed"]) == 2 and len(done["chunked"]["repacked"]) == 1
    assert [k.split("/")[-1][:-5] for k in s3_packs()] == done["chunked"]["new_packs"]
    check_clone(env, bare, {**keep, "base.txt": b"base"}, "fresh")


def test_a_young_pack_no_manifest_names_survives(env):
    """A push killed after uploading its pack (before its manifest) leaves a pack nothing
    names: gc keeps it while it is younger than the grace period, then takes it."""
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    write(repo / "a.bin", b"base")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    write(repo / "b.bin", os.urandom(80_000))
    env.commit_all(repo, "b")
    r = env.git(
        "push", "-q", "origin", "main", cwd=repo, check=False,
        env={"GIT_DATA_TEST_KILL": "packs-uploaded"},
    )  # fmt: skip
    assert r.returncode != 0 and len(packs(store)) == 2
    gcer = clone(env, bare, "gcer")
    kept = gc(env, gcer, "--yes", "--grace", "1h")
    assert kept["chunked"]["packs_removed"] == [] and kept["chunked"]["packs_kept"]["young"] == 2
    assert len(packs(store)) == 2
    gone = gc(env, gcer, "--yes", "--grace", "0")
    assert len(gone["chunked"]["packs_removed"]) == 1 and len(packs(store)) == 1
    check_clone(env, bare, {"a.bin": b"base"}, "fresh")


def test_choose_the_newest_record_whose_sources_exist(tmp_path):
    """Planning alone (7.1 steps 4-6), on records written by tests/chunked_helper.py: the newest
    manifest's record names a pack that is gone, so the older record is chosen; a record's
    whole-object range keeps that whole object; what no chosen record names is dead."""
    from chunked_helper import ChunkedWriter

    from gitdata.hashing import hash_bytes
    from gitdata.storage import StoreSpec, open_store

    store = open_store(StoreSpec(url=str(tmp_path / "store")))
    w = ChunkedWriter(store, tmp_path)
    v1 = os.urandom(600_000)
    v1_oid = bytes.fromhex(hash_bytes(v1))
    # the helper takes a chunk as a range of v1 only at its old offset, i.e. before the insert
    # (after 128 KiB, the largest chunk: at least the first one), and v2 shares chunks of
    # rec_b's pack only where the cuts fall in step again after it (the 270 KB left after the
    # insert and its chunk); 300 KB with the insert at 100 KB missed either, now and then
    v2 = v1[:200_000] + os.urandom(1000) + v1[200_000:]
    rec_a = w.push(v1)
    old_pack = w.packs[-1]
    w.manifest([rec_a])
    w.where.clear()  # v1 again, into another pack: a second record of the same oid
    rec_b = w.push(v1)
    w.manifest([rec_b])
    rec_v2 = w.push(v2, whole_of=(v1, v1_oid))
    w.manifest([rec_v2])
    packs_listed = chunked_gc.list_packs(store)
    read = chunked_gc.read_all(store, cutoff=float("inf"))  # every manifest is old
    live = {v1_oid.hex(), rec_v2.oid.hex()}
    p = chunked_gc.plan(read, packs_listed, {v1_oid.hex()}, live, float("inf"))
    assert set(p.chosen) == {rec_v2.oid}  # v1 has a whole object: no record chosen
    assert v1_oid.hex() in p.wholes  # v2's record reads ranges of it
    assert set(p.dead_packs) == {old_pack}  # only v1's first record named it
    del packs_listed[rec_b.terms[0].source]  # the newer record of v1 names a missing pack
    p = chunked_gc.plan(read, packs_listed, set(), {v1_oid.hex()}, float("inf"))
    assert p.chosen[v1_oid].record == rec_a
    assert set(p.dead_packs) == set(packs_listed) - {old_pack}  # v2's new chunks
    assert len(p.dead_manifests) == 2  # rec_b's and v2's


def test_when_a_push_trusts_a_pack_without_asking():
    """4.8: no gc ever ran; or the index saw the pack after every deletion phase of L0 and
    after L0's oldest key. Anything else is asked."""
    from gitdata.storage.chunked.relied import trusted
    from gitdata.storage.chunked.runlog import Limits, Run, RunLog

    lim = Limits(deadline=100)
    empty = RunLog({}, [], 1000.0)
    assert trusted(None, empty, lim)
    done = RunLog({"r": Run("r", {"planning": 10, "deleting": 20, "done": 30})},
                  [("a", 10), ("b", 20), ("c", 30)], 1000.0)  # fmt: skip
    assert trusted(31, done, lim) and not trusted(29, done, lim) and not trusted(None, done, lim)
    busy = RunLog({"r": Run("r", {"planning": 10, "deleting": 20})}, [("a", 10), ("b", 20)], 50)
    assert not trusted(50, busy, lim) and trusted(121, busy, lim)  # deleting + deadline


def test_failed_deletes_on_s3_lose_nothing_and_the_next_gc_finishes(env, s3):
    """Every DeleteObjects of a gc run fails (500, through the fault proxy, after the client's
    retries): the run stops with one error line; the live files still read back; once the
    store answers again, the next gc deletes what the first could not."""
    from faultproxy import HTTP_500, FaultProxy, Rule

    with FaultProxy(s3.endpoint) as proxy:
        repo, bare = s3_project(env, s3.url("cf"), proxy.endpoint, "true", os.urandom(50_000))
        push_dead_branch(env, repo, "gone", os.urandom(60_000))
        live = {"a.bin": (repo / "a.bin").read_bytes()}
        age_for_gc(True)
        gcer = clone(env, bare, "gcer")
        proxy.add(Rule(HTTP_500, ops={"DeleteObjects"}))
        r = env.data("gc", "--remote", "origin", "--yes", "--grace", "0", cwd=gcer, check=False)
        assert r.returncode == 1 and b"InternalError" in r.stderr, r.stderr
        assert len(r.stderr.decode().splitlines()) == 2  # the error and its hint
        assert len([k for k in s3.keys("cf/") if k.endswith(".pack")]) == 2
        check_clone(env, bare, live, "between")
        proxy.clear()
        done = gc(env, gcer, "--yes", "--grace", "0")
        assert len(done["chunked"]["packs_removed"]) == 1
        assert len([k for k in s3.keys("cf/") if k.endswith(".pack")]) == 1
        check_clone(env, bare, live, "after")
