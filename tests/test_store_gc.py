"""Store gc (`git data gc --remote`) through the service, parametrised over the kind of store:
the embedded default, a directory, and S3 (the moto server of the `s3` fixture, over HTTP). The
age of stored objects is controlled with an injected `now`, which works for any store (file
mtime, S3 LastModified). Also: durations."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import Env, write

from gitdata import gc, store_gc
from gitdata.context import Context
from gitdata.errors import GitDataError, UsageError
from gitdata.hashing import hash_file
from gitdata.pointer import parse
from gitdata.storage import Store, StoreSpec, open_store

DAY = 86400


@pytest.fixture(autouse=True)
def _whole_objects(env: Env) -> None:
    """Whole objects: these tests list and count them in the store (store gc of packs and
    manifests: test_chunked_gc.py)."""
    env.git("config", "--global", "data.chunked", "false")


def embedded(env: Env, repo: Path, bare: Path) -> StoreSpec:
    """The default: a local Git remote keeps the bytes in its own git directory."""
    return StoreSpec(url=str(bare / "data" / "objects"))


def directory(env: Env, repo: Path, bare: Path) -> StoreSpec:
    """A data remote configured for the Git remote: a plain directory store."""
    root = env.root / "store"
    env.git("config", "data.remote.origin.url", str(root), cwd=repo)
    return StoreSpec(url=str(root))


STORES: dict[str, Callable[[Env, Path, Path], StoreSpec]] = {
    "embedded": embedded,
    "directory": directory,
}


def s3_store(env: Env, repo: Path, s3) -> StoreSpec:  # noqa: ANN001 - the s3 fixture
    """A data remote in S3 (the moto server), configured in git config for the Git remote."""
    env.git("config", "data.remote.origin.url", s3.url("gc"), cwd=repo)
    env.git("config", "data.remote.origin.endpointUrl", s3.endpoint, cwd=repo)
    return StoreSpec(url=s3.url("gc"), endpoint_url=s3.endpoint, name="origin")


def oid_at(env: Env, repo: Path, spec: str) -> str:
    p = parse(env.git("cat-file", "blob", spec, cwd=repo).stdout)
    assert p is not None
    return p.oid


def stored(store: Store) -> set[str]:
    return {o.oid for o in store.iter_objects()}


def upload_stray(env: Env, store: Store, content: bytes) -> str:
    """Bytes a teammate's push uploaded before moving its ref: referenced by nothing yet."""
    # a file of its own: the local store hard-links what it uploads
    f = write(env.root / "strays" / str(len(list(env.root.glob("strays/*")))), content)
    oid, size = hash_file(f)
    store.upload(oid, str(f), size)
    return oid


def setup_remote(
    env: Env, kind: str, request: pytest.FixtureRequest | None = None
) -> tuple[Path, Path, Store]:
    repo = env.new_repo()
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    if kind == "s3":
        assert request is not None
        spec = s3_store(env, repo, request.getfixturevalue("s3"))
    else:
        spec = STORES[kind](env, repo, bare)
    return repo, bare, open_store(spec)


def forget(env: Env, repo: Path) -> None:
    (repo / ".git" / "ORIG_HEAD").unlink(missing_ok=True)
    env.git("reflog", "expire", "--expire=now", "--all", cwd=repo)


@pytest.mark.parametrize("kind", [*sorted(STORES), "s3"])
def test_store_gc_keeps_young_and_referenced_deletes_old_unreferenced(env, kind, request):
    repo, _, store = setup_remote(env, kind, request)
    write(repo / "a.bin", b"on main")
    env.commit_all(repo, "v1")
    env.git("push", "-q", "origin", "main", cwd=repo)
    kept = oid_at(env, repo, "HEAD:a.bin")
    env.git("checkout", "-q", "-b", "gone", cwd=repo)
    write(repo / "a.bin", b"on a branch deleted since")
    env.commit_all(repo, "v2")
    env.git("push", "-q", "origin", "gone", cwd=repo)
    deleted = oid_at(env, repo, "HEAD:a.bin")
    env.git("push", "-q", "origin", "--delete", "gone", cwd=repo)
    env.git("checkout", "-q", "main", cwd=repo)
    env.git("branch", "-q", "-D", "gone", cwd=repo)
    forget(env, repo)
    stray = upload_stray(env, store, b"uploaded by a push whose ref has not moved yet")
    # this repository's own unpushed work, uploaded by `git data push` but on no remote branch
    env.git("checkout", "-q", "-b", "wip", cwd=repo)
    write(repo / "a.bin", b"work in progress")
    env.commit_all(repo, "wip")
    env.data("push", "origin", "wip", cwd=repo)
    wip = oid_at(env, repo, "HEAD:a.bin")
    assert stored(store) == {kept, deleted, stray, wip}

    ctx = Context(str(repo))
    t0 = time.time()
    _, plan = store_gc.plan_store(ctx, "origin", gc.parse_duration("14d"), now=t0 + DAY)
    assert plan.remove == [] and plan.young == 4  # everything is younger than 14 days

    s, plan = store_gc.plan_store(ctx, "origin", gc.parse_duration("14d"), now=t0 + 15 * DAY)
    assert {c.oid for c in plan.remove} == {deleted, stray}
    assert plan.referenced == 2 and plan.young == 0
    outcome = store_gc.remove_stored(s, plan)
    assert not outcome.failed and outcome.bytes == sum(c.size for c in plan.remove)
    assert stored(store) == {kept, wip}
    # the fetched refs were only borrowed
    assert env.out("for-each-ref", "refs/gitdata/", cwd=repo) == ""


def test_store_gc_counts_every_remote_that_shares_the_store(env):
    repo = env.new_repo()
    origin, mirror = env.bare("origin.git"), env.bare("mirror.git")
    env.git("remote", "add", "origin", str(origin), cwd=repo)
    env.git("remote", "add", "mirror", str(mirror), cwd=repo)
    env.git("config", "data.remote.shared.url", str(env.root / "shared"), cwd=repo)
    env.git("config", "data.default", "shared", cwd=repo)
    write(repo / "a.bin", b"everywhere")
    env.commit_all(repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    env.git("checkout", "-q", "-b", "m", cwd=repo)
    write(repo / "a.bin", b"only on the mirror")
    env.commit_all(repo)
    env.git("push", "-q", "mirror", "m", cwd=repo)
    only_mirror = oid_at(env, repo, "HEAD:a.bin")
    env.git("checkout", "-q", "main", cwd=repo)
    env.git("branch", "-q", "-D", "m", cwd=repo)
    forget(env, repo)
    ctx = Context(str(repo))
    _, plan = store_gc.plan_store(ctx, "origin", 0, now=time.time() + DAY)
    assert plan.remove == [] and plan.referenced == 2
    shared = open_store(StoreSpec(str(env.root / "shared")))
    assert store_gc.same_store_remotes(ctx, "origin", shared) == ["origin", "mirror"]
    assert only_mirror in stored(shared)


def store_file(bare: Path, oid: str) -> Path:
    return bare / "data" / "objects" / oid[:2] / oid[2:4] / oid


def test_store_gc_command(env):
    repo, bare, store = setup_remote(env, "embedded")
    write(repo / "a.bin", b"keep me")
    env.commit_all(repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    old = upload_stray(env, store, b"old and unreferenced")
    young = upload_stray(env, store, b"young and unreferenced")
    t = time.time() - 20 * DAY
    os.utime(store_file(bare, old), (t, t))

    proc = env.data("gc", "--remote", "origin", cwd=repo, check=False)
    assert proc.returncode == 2 and b"--yes" in proc.stderr
    assert old in stored(store)

    dry = env.data("gc", "--remote", "origin", "--dry-run", cwd=repo)
    assert dry.stdout.decode() == f"would remove xxh128:{old} 20 (unreferenced)\n"
    assert old in stored(store)

    doc = json.loads(env.data("gc", "--remote", "origin", "--yes", "--json", cwd=repo).stdout)
    assert [r["oid"] for r in doc["removed"]] == [f"xxh128:{old}"]
    assert doc["kept"] == {"referenced": 0, "young": 2, "unconfirmed": 0, "in_use": 0}
    assert doc["remote"] == "origin" and doc["location"] == str(bare / "data" / "objects")
    assert stored(store) == {oid_at(env, repo, "HEAD:a.bin"), young}


def test_store_gc_refuses_a_shallow_clone(env):
    repo, bare, _ = setup_remote(env, "embedded")
    write(repo / "a.bin", b"x")
    env.commit_all(repo)
    write(repo / "a.bin", b"y")
    env.commit_all(repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    clone = env.root / "shallow"
    env.git("clone", "-q", "--depth", "1", f"file://{bare}", str(clone))
    proc = env.data("gc", "--remote", "origin", "--dry-run", cwd=clone, check=False)
    assert proc.returncode == 1 and b"shallow" in proc.stderr


def test_store_gc_keeps_everything_when_the_remote_cannot_be_fetched(env):
    repo, bare, store = setup_remote(env, "embedded")
    stray = upload_stray(env, store, b"old")
    env.git("remote", "set-url", "origin", str(env.root / "nowhere.git"), cwd=repo)
    env.git("config", "data.remote.origin.url", str(bare / "data" / "objects"), cwd=repo)
    with pytest.raises(GitDataError):
        store_gc.plan_store(Context(str(repo)), "origin", 0, now=time.time() + DAY)
    assert stored(store) == {stray}


@pytest.mark.parametrize(
    "text, seconds",
    [("0", 0), ("0d", 0), ("45s", 45), ("30m", 1800), ("2h", 7200), ("1w", 7 * DAY)],
)
def test_durations(text, seconds):
    assert gc.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1.5h", "-1d", "2y", "h"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        gc.parse_duration(text)
