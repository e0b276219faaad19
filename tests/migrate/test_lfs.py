"""git data migrate import from a repository made with the real git-lfs: LFS pointers become
gitdata pointers, bytes from .git/lfs/objects checked against their SHA-256."""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import pytest
import xxhash
from history_check import commit_map, files, rev_list

from gitdata.migrate import lfs
from gitdata.pointer import parse as parse_pointer

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is missing")


@pytest.fixture
def lfs_repo(env) -> Path:
    repo = env.root / "lfs"
    env.git("init", "-q", str(repo))
    env.git("lfs", "install", "--local", cwd=repo)
    env.git("lfs", "track", "*.bin", cwd=repo)
    (repo / ".gitattributes").write_text((repo / ".gitattributes").read_text() + "*.txt text\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitattributes").write_text("*.dat filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "sub" / "x.dat").write_bytes(b"nested lfs file\n" * 100)
    rng = random.Random(7)
    for i in range(12):
        if i == 6:
            env.git("checkout", "-q", "-b", "side", cwd=repo)
        if i == 9:
            env.git("checkout", "-q", "main", cwd=repo)
        name = rng.choice(["a.bin", "dir/b.bin", "c d.bin"])
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(rng.randbytes(rng.randint(1000, 9000)))
        (repo / "notes.txt").write_text(f"{i}\n")
        env.commit_all(repo, f"c{i}")
        if i == 4:
            env.git("tag", "-a", "v1", "-m", "lfs tag", cwd=repo)
    return repo


def old_version(repo: Path) -> Path:
    """An LFS object of no file in the worktree: git-lfs's clean filter, run by a `git status`
    that finds a file racily clean, would write the object of a checked-out file again."""
    worktree = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    here = {hashlib.sha256(p.read_bytes()).hexdigest() for p in worktree}
    objects = sorted(p for p in (repo / ".git/lfs/objects").rglob("*") if p.is_file())
    return next(p for p in objects if p.name not in here)


def lfs_objects(repo: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (repo / ".git/lfs/objects").rglob("*") if p.is_file()}


def test_lfs_history_becomes_data_files(env, lfs_repo):
    repo = lfs_repo
    old_commits = rev_list(env, repo, "--all")
    objects = lfs_objects(repo)
    assert len(objects) >= 10
    env.data("migrate", "import", "--everything", cwd=repo)  # detected: filter=lfs
    cmap = commit_map(repo)
    cache = repo / ".git/data/objects"
    converted = 0
    for old in old_commits:
        a, b = files(env, repo, old), files(env, repo, cmap.get(old, old))
        for path, blob in a.items():
            if path.endswith(b".gitattributes"):
                continue
            lp = lfs.parse(env.git("cat-file", "blob", blob, cwd=repo).stdout)
            if lp is None:
                assert b[path] == blob
                continue
            p = parse_pointer(env.git("cat-file", "blob", b[path], cwd=repo).stdout)
            content = objects[lp.sha256]
            assert hashlib.sha256(content).hexdigest() == lp.sha256
            assert p is not None and p.oid == xxhash.xxh3_128_hexdigest(content)
            assert (cache / p.oid[:2] / p.oid[2:4] / p.oid).read_bytes() == content
            converted += 1
    assert converted >= 12
    attrs = (repo / ".gitattributes").read_text()
    assert attrs == "*.bin filter=data diff=data merge=data -text\n*.txt text\n"
    nested = (repo / "sub" / ".gitattributes").read_text()
    assert nested == "*.dat filter=data diff=data merge=data -text\n"
    assert env.out("status", "--porcelain", cwd=repo) == ""
    assert (repo / "a.bin").read_bytes() in objects.values()
    assert (repo / "sub" / "x.dat").read_bytes() == b"nested lfs file\n" * 100
    env.data("fsck", "--all", cwd=repo)
    again = env.data("migrate", "import", "--everything", "--from-lfs", cwd=repo)
    assert b"nothing to migrate" in again.stderr


def test_missing_lfs_objects_are_listed_and_nothing_changes(env, lfs_repo):
    repo = lfs_repo
    before = env.out("for-each-ref", cwd=repo)
    victim = old_version(repo)
    victim.unlink()
    r = env.data("migrate", "import", "--everything", "--from-lfs", cwd=repo, check=False)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "1 git-lfs object(s) are not in .git/lfs/objects:" in err
    assert f"sha256:{victim.name}" in err and "git lfs fetch --all" in err
    assert env.out("for-each-ref", cwd=repo) == before


def test_a_damaged_lfs_object_is_refused(env, lfs_repo):
    repo = lfs_repo
    before = env.out("for-each-ref", cwd=repo)
    victim = old_version(repo)
    victim.chmod(0o644)
    victim.write_bytes(b"not the bytes")
    r = env.data("migrate", "import", "--everything", cwd=repo, check=False)
    assert r.returncode == 1 and b"does not hash to its name" in r.stderr
    assert env.out("for-each-ref", cwd=repo) == before


def test_a_pointer_no_filter_lfs_line_covers_gets_a_line_of_its_own(env, lfs_repo):
    """An LFS pointer committed as it is at a path no `filter=lfs` pattern matches (git-lfs
    would leave it a pointer): it becomes a data file all the same, with a line for its path."""
    repo = lfs_repo
    pointer = env.git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout
    (repo / "loose").mkdir()
    (repo / "loose" / "p [1].dat").write_bytes(pointer)  # sub/.gitattributes's *.dat: not here
    env.commit_all(repo, "a pointer without a filter=lfs line")
    env.data("migrate", "import", "--everything", cwd=repo)
    attrs = (repo / ".gitattributes").read_text().splitlines()
    assert attrs == [
        "*.bin filter=data diff=data merge=data -text",
        "*.txt text",
        "/loose/p[[:space:]]\\[1].dat filter=data diff=data merge=data -text",
    ]
    out = env.out("check-attr", "filter", "--", "loose/p [1].dat", "sub/x.dat", cwd=repo)
    assert out.splitlines() == ["loose/p [1].dat: filter: data", "sub/x.dat: filter: data"]
    content = lfs_objects(repo)[lfs.parse(pointer).sha256]  # type: ignore[union-attr]
    assert (repo / "loose" / "p [1].dat").read_bytes() == content
    assert env.out("status", "--porcelain", cwd=repo) == ""
    env.data("fsck", "--all", cwd=repo)
