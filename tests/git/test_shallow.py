"""git/shallow.py against real git: what the first fetch brings, what it leaves out, and what a
server without filters sends instead."""

from __future__ import annotations

import pytest
from conftest import random_file, write

from gitdata.git.shallow import ShallowRepo, UnknownRevision

UPLOAD_PACK = "git -c uploadpack.allowFilter=true upload-pack"


def published(env):
    repo = env.new_repo(track=None)
    write(repo / "small.txt", b"small\n")
    random_file(repo / "big.dat", 100_000, seed=1)
    env.commit_all(repo, "one")
    write(repo / "small.txt", b"changed\n")
    env.commit_all(repo, "two")
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    blobs = {
        name: env.out("rev-parse", f"HEAD:{name}", cwd=repo).strip()
        for name in ("small.txt", "big.dat")
    }
    return repo, bare, blobs


def test_the_first_fetch_leaves_big_blobs_out_and_one_batch_brings_them(env):
    repo, bare, blobs = published(env)
    shallow, commit = ShallowRepo.fetch(
        str(bare), None, str(env.root / "t.git"), "x", str, upload_pack=UPLOAD_PACK
    )
    assert commit == env.head(repo)
    assert [(e.mode, e.path) for e in shallow.tree(commit)] == [
        ("100644", b"big.dat"),
        ("100644", b"small.txt"),
    ]
    sizes = shallow.sizes()
    assert sizes.get(blobs["small.txt"]) == 8 and blobs["big.dat"] not in sizes
    # one commit: the first one's blob is not there, and there is no history to walk
    assert env.out("rev-list", "--count", commit, cwd=env.root / "t.git").strip() == "1"
    shallow.fetch_blobs([blobs["big.dat"]], "x")
    assert shallow.sizes()[blobs["big.dat"]] == 100_000
    assert dict(shallow.read_blobs([blobs["small.txt"]])) == {blobs["small.txt"]: b"changed\n"}


def test_a_server_without_filters_sends_every_blob_of_the_commit(env):
    repo, bare, blobs = published(env)
    shallow, commit = ShallowRepo.fetch(str(bare), "main", str(env.root / "t.git"), "x", str)
    assert commit == env.head(repo)
    assert shallow.sizes()[blobs["big.dat"]] == 100_000


def test_an_older_commit_by_its_id_and_an_annotated_tag(env):
    repo, bare, _ = published(env)
    first = env.head(repo, "HEAD~1")
    env.git("tag", "-a", "-m", "release", "v1", first, cwd=repo)
    env.git("push", "-q", str(bare), "v1", cwd=repo)
    for i, rev in enumerate((first, "v1", "refs/tags/v1")):
        _, commit = ShallowRepo.fetch(
            str(bare), rev, str(env.root / f"t{i}.git"), "x", str, upload_pack=UPLOAD_PACK
        )
        assert commit == first, rev
    with pytest.raises(UnknownRevision):
        ShallowRepo.fetch(str(bare), first[:12], str(env.root / "short.git"), "x", str)
