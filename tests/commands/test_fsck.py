"""`git data fsck`: corrupt cached objects are found and moved aside; pointers without bytes are
listed with oid and path; exit 1 when anything is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Env, random_file, write

from gitdata import fsck
from gitdata.context import Context
from gitdata.pointer import parse


def oid_at(env: Env, repo: Path, spec: str) -> str:
    p = parse(env.git("cat-file", "blob", spec, cwd=repo).stdout)
    assert p is not None
    return p.oid


def cache_path(repo: Path, oid: str) -> Path:
    return repo / ".git" / "data" / "objects" / oid[:2] / oid[2:4] / oid


@pytest.fixture
def repo(env: Env) -> Path:
    repo = env.new_repo()
    write(repo / "a.bin", b"first version")
    env.commit_all(repo, "v1")
    random_file(repo / "dir" / "big.bin", 3 << 20, seed=5)
    write(repo / "a.bin", b"second version")
    env.commit_all(repo, "v2")
    return repo


def test_clean_cache_passes(env, repo):
    proc = env.data("fsck", "--all", cwd=repo)
    assert proc.stdout == b""
    assert "3 cached object(s) verified" in proc.stderr.decode()


def test_finds_and_moves_aside_a_corrupt_object(env, repo):
    oid = oid_at(env, repo, "HEAD:dir/big.bin")
    path = cache_path(repo, oid)
    path.chmod(0o644)  # cached objects are read-only
    with open(path, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"bit rot")
    proc = env.data("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    bad = repo / ".git" / "data" / "bad" / oid
    assert f"corrupt xxh128:{oid}: hashes to xxh128:" in out and f"moved to {bad}" in out
    assert f"missing xxh128:{oid} dir/big.bin: not in the cache" in out
    assert bad.exists() and not path.exists()
    err = proc.stderr.decode()
    assert err.count("git-data: error:") == 1 and "1 corrupt object(s)" in err
    assert "hint:" in err
    # the file is not named in the cache any more: a checkout fetches it again instead of
    # handing out wrong bytes; fsck now only misses it
    proc = env.data("fsck", cwd=repo, check=False)
    assert "corrupt" not in proc.stdout.decode() and proc.returncode == 1


def test_lists_a_pointer_without_bytes(env, repo):
    oid = oid_at(env, repo, "HEAD:a.bin")
    cache_path(repo, oid).unlink()
    proc = env.data("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode() == f"missing xxh128:{oid} a.bin: not in the cache\n"
    assert "0 corrupt object(s), 1 data object(s) without their bytes" in proc.stderr.decode()


def test_all_checks_history(env, repo):
    old = oid_at(env, repo, "HEAD~1:a.bin")
    cache_path(repo, old).unlink()
    assert env.data("fsck", cwd=repo).returncode == 0  # HEAD has its bytes
    proc = env.data("fsck", "--all", cwd=repo, check=False)
    v1 = env.head(repo, "HEAD~1")[:9]
    assert proc.returncode == 1
    assert proc.stdout.decode() == f"missing xxh128:{old} a.bin (commit {v1}): not in the cache\n"


def test_remote_checks_the_store_itself(env, repo):
    """`--remote` verifies what it names: bytes in the local cache do not stand in for a store
    that lost them (issue 10)."""
    # whole objects: one is deleted from the store by path (packs: test_chunked_fsck.py,
    # test_a_deleted_pack_leaves_its_files_missing)
    env.git("config", "data.chunked", "false", cwd=repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    oid = oid_at(env, repo, "HEAD:a.bin")
    assert env.data("fsck", "--remote", "origin", cwd=repo).returncode == 0
    cache_path(repo, oid).unlink()
    assert env.data("fsck", cwd=repo, check=False).returncode == 1
    assert env.data("fsck", "--remote", "origin", cwd=repo).returncode == 0  # the store has it
    env.data("fetch", cwd=repo)  # the cache has it again; now the store loses it
    (bare / "data" / "objects" / oid[:2] / oid[2:4] / oid).unlink()
    assert env.data("fsck", cwd=repo).returncode == 0
    proc = env.data("fsck", "--remote", "origin", cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"a.bin: not in {bare / 'data' / 'objects'}" in proc.stdout.decode()
    assert b"git data push" in proc.stderr


def test_a_good_object_moved_aside_by_mistake_goes_back(env, repo):
    """fsck read bad bytes, but a `git add` wrote good ones under the name before the move."""
    oid = oid_at(env, repo, "HEAD:a.bin")
    assert fsck.move_aside(Context(str(repo)), oid, "0" * 32) is None
    assert cache_path(repo, oid).read_bytes() == b"second version"
    assert list((repo / ".git" / "data" / "bad").iterdir()) == []
