"""Store gc of the chunked store (docs/chunked-store.md, 7.1): dead packs and manifests go, live
ones stay, every live file reads back byte-exact from a fresh clone afterwards; young packs
survive; old manifests are compacted; mostly dead packs are repacked. Pushes through real git
with `chunked = true`, gc from a fresh clone (whose reflogs name nothing the remote lost)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import Env, write
from test_chunked_write import dir_repo, manifests, packs


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
