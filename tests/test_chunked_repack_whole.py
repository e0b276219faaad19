"""Store gc repacks whole objects that records name only in part (docs/chunked-store.md, 7.1
step 7; storage/chunked/repack_whole.py): v1 of two files pushed whole (as an older version, or
the same-fs rule, keeps them), v2 of each a record naming the ranges of v1 it kept (a quarter
of one, the two ends of the other), then v1 leaves the history. gc copies the named ranges
into packs, rewrites the records onto them and deletes v1's whole objects; every file reads
back and fsck is clean. Through real git, on a directory store on another file system (so
nothing is hard-linked) and on S3 (moto); plus a whole object that does not hash to its oid
(left as it is) and a gc SIGKILLed after writing the new packs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Env, age_for_gc, random_file, write
from test_chunked_gc import check_clone, gc_killed_then_gc_again
from test_chunked_write import tree_bytes
from test_store_gc_race import TIMES

from gitdata.hashing import hash_bytes
from gitdata.storage import key_for

MIB = 1 << 20


def chain(env: Env, url: str, endpoint: str = "") -> tuple[Path, Path, dict[str, bytes], list[str]]:
    """The repository, its bare remote, the files of v2 (the only live version once v1 left
    the history) and the oids of v1's two whole objects."""
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{url}"\n' + (
        f'endpoint_url = "{endpoint}"\n' if endpoint else ""
    )
    write(repo / ".gitdata.toml", (toml + "chunked = false\n").encode())
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    a1 = random_file(repo / "a.bin", 8 * MIB, seed=21).read_bytes()
    b1 = random_file(repo / "b.bin", 8 * MIB, seed=22).read_bytes()
    env.commit_all(repo, "v1")
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)  # v1 whole
    env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
    v2 = {
        "a.bin": os.urandom(6 * MIB) + a1[6 * MIB :],  # names the last quarter of a1
        "b.bin": b1[:MIB] + os.urandom(5 * MIB) + b1[6 * MIB :],  # both ends of b1
        "small.txt": b"kept as it is\n",
    }
    for name, data in v2.items():
        write(repo / name, data)
    env.commit_all(repo, "v2")
    env.git("push", "-q", "origin", "main", cwd=repo)
    # v1 leaves the history: main is v2 alone
    env.git("checkout", "-q", "--orphan", "only-v2", cwd=repo)
    env.commit_all(repo, "v2 alone")
    env.git("push", "-q", "-f", "origin", "only-v2:main", cwd=repo)
    age_for_gc(bool(endpoint))
    return repo, bare, v2, [hash_bytes(a1), hash_bytes(b1)]


def data_files(store: Path) -> set[str]:
    """The store's files but its run log (chunked/v1/gc/)."""
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()} - {
        str(p.relative_to(store)) for p in (store / "chunked" / "v1" / "gc").rglob("*")
    }


def gc(env: Env, cwd: Path, *args: str) -> dict:
    r = env.data("gc", "--remote", "origin", "--json", "--yes", "--grace", "0", *args, cwd=cwd)
    return json.loads(r.stdout)


def test_whole_objects_mostly_dead_are_repacked_on_a_directory_store(env: Env, other_fs: Path):
    store = other_fs / "store"
    repo, bare, v2, olds = chain(env, str(store))
    assert all((store / key_for(o)).is_file() for o in olds)
    gcer = check_clone(env, bare, v2, "gcer")
    dry = gc(env, gcer, "--dry-run")
    assert sorted(dry["chunked"]["repacked_whole"]) == sorted(olds)
    assert all((store / key_for(o)).is_file() for o in olds)  # a dry run writes nothing
    before = tree_bytes(store)
    done = gc(env, gcer)
    after = tree_bytes(store)
    print(f"store gc repacked {olds}: store {before} -> {after} bytes; {done['chunked']}")
    assert sorted(done["chunked"]["repacked_whole"]) == sorted(olds)
    assert done["chunked"]["new_packs"]
    assert not any((store / key_for(o)).is_file() for o in olds)
    # 16 MiB of whole objects went, the 5 MiB of them still named came into packs
    assert before - after > 10 * MIB
    fresh = check_clone(env, bare, v2, "fresh")
    env.data("fsck", "--remote", "origin", "--full", cwd=fresh)
    kept = data_files(store)
    again = gc(env, gcer)
    assert again["chunked"]["repacked_whole"] == [] and again["chunked"]["repacked"] == []
    assert data_files(store) == kept  # but the run log: gc's second run moved nothing
    # the clone that pushed v2 still has v1's chunk lists and old records in its index: its
    # next push of an edit reads and writes no old whole object
    write(repo / "a.bin", v2["a.bin"][:MIB] + os.urandom(MIB) + v2["a.bin"][2 * MIB :])
    env.commit_all(repo, "v3")
    env.git("push", "-q", "origin", "only-v2:main", cwd=repo)
    check_clone(env, bare, {"a.bin": (repo / "a.bin").read_bytes()}, "fresh3")


def test_whole_objects_are_repacked_on_s3(env: Env, s3):
    repo, bare, v2, olds = chain(env, s3.url("rw"), s3.endpoint)
    gcer = check_clone(env, bare, v2, "gcer")
    done = gc(env, gcer)
    assert sorted(done["chunked"]["repacked_whole"]) == sorted(olds)
    assert not any(k.endswith(key_for(o)) for o in olds for k in s3.keys())
    fresh = check_clone(env, bare, v2, "fresh")
    env.data("fsck", "--remote", "origin", "--full", cwd=fresh)


def test_a_whole_object_that_does_not_hash_to_its_oid_stays(env: Env, other_fs: Path):
    store = other_fs / "store"
    _, bare, v2, olds = chain(env, str(store))
    damaged = store / key_for(olds[0])
    damaged.chmod(0o644)
    with open(damaged, "r+b") as f:  # a byte no record names: v2 reads as well as before
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    gcer = check_clone(env, bare, v2, "gcer")
    r = env.data(
        "gc", "--remote", "origin", "--json", "--yes", "--grace", "0", cwd=gcer, check=False
    )
    assert r.returncode == 0, r.stderr
    said = r.stderr.decode()
    assert f"whole object xxh128:{olds[0]} was not repacked and stays" in said
    assert "do not hash to its oid" in said
    assert json.loads(r.stdout)["chunked"]["repacked_whole"] == [olds[1]]
    assert damaged.is_file() and not (store / key_for(olds[1])).is_file()
    check_clone(env, bare, v2, "fresh")


def test_gc_killed_after_repacking_whole_objects_then_gc_again(env: Env, other_fs, monkeypatch):
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    store = other_fs / "store"
    _, bare, v2, olds = chain(env, str(store))
    gcer = check_clone(env, bare, v2, "gcer")
    gc_killed_then_gc_again(env, gcer, bare, v2, "gc-repacked")
    assert not any((store / key_for(o)).is_file() for o in olds)


@pytest.mark.parametrize(
    ("ranges", "expect"),
    [
        ([(0, 10)], [(0, 10)]),
        ([(0, 10), (5, 20)], [(0, 5), (5, 10), (10, 20)]),
        ([(0, 10), (30, 40)], [(0, 10), (30, 40)]),
        ([(0, 40), (10, 20)], [(0, 10), (10, 20), (20, 40)]),
        ([(10, 20), (20, 30)], [(10, 20), (20, 30)]),
    ],
)
def test_segments_cut_at_every_end_and_cover_the_union(ranges, expect):
    from gitdata.storage.chunked.repack_whole import segments

    assert segments(ranges) == expect


def test_a_clone_skips_a_record_naming_a_whole_object_gc_repacked(env: Env, other_fs: Path):
    """A push that failed after writing its manifest (a store gc took what it relied on) leaves
    that manifest behind, newer than what the gc wrote, its records naming v1's whole objects
    the gc repacked and deleted: a fresh clone tries the newest record first, meets the missing
    whole object, and takes the record the gc wrote instead (5.1), as for a missing pack."""
    store = other_fs / "store"
    _, bare, v2, olds = chain(env, str(store))
    where = store / "chunked" / "v1" / "manifests"
    before = {p: p.read_bytes() for p in where.rglob("*.manifest")}
    gcer = check_clone(env, bare, v2, "gcer")
    assert sorted(gc(env, gcer)["chunked"]["repacked_whole"]) == sorted(olds)
    assert not any((store / key_for(o)).is_file() for o in olds)
    for path, data in before.items():  # the failed push's manifest: the same records
        path.write_bytes(data)
    check_clone(env, bare, v2, "fresh")


def test_a_push_copying_records_of_whole_objects_gc_repacks_packs_their_files_again(
    env: Env, other_fs: Path, monkeypatch
):
    """A new branch's push copies the records of the files of its tip (4.8), naming v1's whole
    objects; a store gc repacks and deletes those while the push stands before writing its
    manifest (P4). The push waits for the gc, finds the whole objects gone, and packs the files
    that need them again from its cache: it succeeds, and a fresh clone of the branch reads
    every byte."""
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    store = other_fs / "store"
    _, bare, v2, olds = chain(env, str(store))
    other = check_clone(env, bare, v2, "other")  # v2's bytes in its cache, none of v1's
    gcer = check_clone(env, bare, v2, "gcer")
    env.git("config", "data.remote.origin.chunked", "true", cwd=other)  # as the pusher of v2
    env.git("checkout", "-q", "-b", "more", cwd=other)
    files = {**v2, "new.bin": os.urandom(100_000)}
    write(other / "new.bin", files["new.bin"])
    env.commit_all(other, "more")
    pauses = env.root / "pauses"
    pauses.mkdir()
    err = open(pauses / "push.err", "wb")  # noqa: SIM115 - closed below
    push = subprocess.Popen(
        ["git", "push", "-q", "origin", "more"],
        cwd=other,
        env={**os.environ, "GIT_DATA_TEST_PAUSE": f"{pauses}:push-P4"},
        stdout=err,
        stderr=err,
    )
    until = time.monotonic() + 60
    while not (pauses / "push-P4.reached").exists():
        assert push.poll() is None and time.monotonic() < until, "the push never reached P4"
        time.sleep(0.02)
    assert sorted(gc(env, gcer)["chunked"]["repacked_whole"]) == sorted(olds)
    (pauses / "push-P4.go").touch()
    rc = push.wait(timeout=120)
    err.close()
    text = (pauses / "push.err").read_text()
    assert rc == 0, text
    # once: its own manifest, written before the wait, is not read back as the store's word
    assert "waiting for store gc" in text and text.count("packing again") == 1, text
    fresh = env.root / "fresh"
    env.git("clone", "-q", "-b", "more", str(bare), str(fresh))
    for path, data in files.items():
        assert (fresh / path).read_bytes() == data, path
    env.data("fsck", "--remote", "origin", "--all", cwd=fresh)
