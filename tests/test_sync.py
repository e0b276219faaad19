"""The core loop end to end: add, commit, push to a bare repository on disk, clone, bytes back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import Env, random_file, same_file, write


def push_clone(
    env: Env, repo: Path, name: str = "clone", clone_env: dict | None = None
) -> tuple[Path, Path]:
    bare = env.root / "project.git"
    if not bare.exists():
        env.bare()
        env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    clone = env.root / name
    env.git("clone", "-q", str(bare), str(clone), env=clone_env)
    return bare, clone


def test_big_file_and_many_small_files_round_trip(env):
    # whole objects: it counts them in the store (many small files in packs:
    # test_chunked_write.py, test_many_small_files_make_few_packs_and_one_manifest)
    env.git("config", "--global", "data.chunked", "false")
    repo = env.new_repo()
    random_file(repo / "big.bin", 200 << 20, seed=1)
    for i in range(2000):
        write(repo / f"small/{i % 20:02d}/f{i}.bin", b"%d-" % i + os.urandom(200 + i))
    env.commit_all(repo)
    bare, clone = push_clone(env, repo)
    assert same_file(repo / "big.bin", clone / "big.bin")
    for i in range(2000):
        p = f"small/{i % 20:02d}/f{i}.bin"
        assert (clone / p).read_bytes() == (repo / p).read_bytes(), p
    assert env.out("status", "--porcelain", cwd=clone) == ""
    assert len(list((bare / "data" / "objects").rglob("*"))) > 2000


def test_big_files_reach_the_worktree_through_the_hook(env):
    """Above data.bigfilethreshold smudge leaves the pointer and post-checkout writes the bytes."""
    env.git("config", "--global", "data.bigfilethreshold", "1m")
    repo = env.new_repo()
    random_file(repo / "big.bin", 3 << 20, seed=2)
    write(repo / "small.bin", b"small")
    env.commit_all(repo)
    _, clone = push_clone(env, repo)
    assert same_file(repo / "big.bin", clone / "big.bin")
    assert env.out("status", "--porcelain", cwd=clone) == ""
    # switching branches goes through the same path
    env.git("checkout", "-q", "-b", "other", cwd=clone)
    random_file(clone / "big.bin", 2 << 20, seed=3)
    env.commit_all(clone, "v2")
    env.git("checkout", "-q", "main", cwd=clone)
    assert same_file(repo / "big.bin", clone / "big.bin")
    env.git("merge", "-q", "other", cwd=clone)
    assert (clone / "big.bin").stat().st_size == 2 << 20
    assert env.out("status", "--porcelain", cwd=clone) == ""


def test_skip_smudge_clone_then_pull(env):
    repo = env.new_repo()
    random_file(repo / "a.bin", 300_000)
    write(repo / "d/b.bin", b"bee")
    env.commit_all(repo)
    _, clone = push_clone(env, repo, clone_env={"GIT_DATA_SKIP_SMUDGE": "1"})
    assert (clone / "a.bin").read_bytes().startswith(b"version gitdata/1\n")
    env.data("pull", cwd=clone, env={"GIT_DATA_SKIP_SMUDGE": "1"})
    assert same_file(repo / "a.bin", clone / "a.bin")
    assert (clone / "d/b.bin").read_bytes() == b"bee"
    assert env.out("status", "--porcelain", cwd=clone) == ""


def test_install_skip_smudge(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"content")
    env.commit_all(repo)
    env.data("install", "--skip-smudge")
    _, clone = push_clone(env, repo)
    assert (clone / "a.bin").read_bytes().startswith(b"version gitdata/1\n")
    env.data("pull", cwd=clone)
    assert (clone / "a.bin").read_bytes() == b"content"
    assert env.out("status", "--porcelain", cwd=clone) == ""


def test_push_refused_when_bytes_are_missing(env):
    repo = env.new_repo()
    write(repo / "ok.bin", b"fine")
    env.commit_all(repo, "first")
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    before = env.head(bare, "main")
    write(repo / "lost.bin", b"these bytes go missing")
    env.commit_all(repo, "second")
    shutil.rmtree(repo / ".git" / "data" / "objects")
    proc = env.git("push", "origin", "main", cwd=repo, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "lost.bin" in err and env.head(repo)[:9] in err and "xxh128:" in err
    assert "Traceback" not in err
    assert env.head(bare, "main") == before


def test_clone_without_bytes_names_file_oid_and_way_out(env):
    repo = env.new_repo()
    write(repo / "gone.bin", b"bytes nobody pushed")
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", "--no-verify", str(bare), "main", cwd=repo)  # the hook is skipped
    proc = env.git("clone", str(bare), str(env.root / "clone"), check=False)
    err = proc.stderr.decode()
    from gitdata.pointer import parse

    oid = parse(env.git("cat-file", "blob", "HEAD:gone.bin", cwd=repo).stdout).oid
    assert "gone.bin" in err and oid in err and "GIT_DATA_SKIP_SMUDGE=1" in err
    assert str(bare / "data" / "objects") in err
    assert "Traceback" not in err


def test_second_worktree_uses_the_shared_cache(env):
    repo = env.new_repo()
    random_file(repo / "a.bin", 100_000)
    env.commit_all(repo)
    _, clone = push_clone(env, repo)
    shutil.rmtree(env.root / "project.git")  # the store is gone
    env.git("branch", "side", cwd=clone)
    wt = env.root / "wt"
    env.git("worktree", "add", "-q", str(wt), "side", cwd=clone)
    assert same_file(repo / "a.bin", wt / "a.bin")
    assert env.out("status", "--porcelain", cwd=wt) == ""


def test_user_pre_push_hook_still_runs_first(env):
    repo = env.new_repo()
    hook = repo / ".git" / "hooks" / "pre-push"
    log = env.root / "hook.log"
    hook.write_text(f'#!/bin/sh\necho "$1 $2" >> {log}\ncat >> {log}\nexit ${{FAIL:-0}}\n')
    hook.chmod(0o755)
    env.data("install", cwd=repo)
    assert (repo / ".git" / "hooks" / "pre-push.legacy").exists()
    write(repo / "a.bin", b"data")
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    proc = env.git("push", "origin", "main", cwd=repo, check=False, env={"FAIL": "1"})
    assert (
        proc.returncode != 0
        and env.git(
            "rev-parse", "-q", "--verify", "refs/heads/main", cwd=bare, check=False
        ).returncode
        != 0
    )
    env.git("push", "-q", "origin", "main", cwd=repo)
    text = log.read_text()
    assert text.count(f"origin {bare}") == 2 and "refs/heads/main" in text
    env.data("uninstall", cwd=repo)
    assert "FAIL" in hook.read_text() and not (hook.parent / "pre-push.legacy").exists()


def whole_objects(root: Path) -> list[Path]:
    """The whole objects of a directory store (each push also writes a manifest under
    chunked/: docs/chunked-store.md, 4.8)."""
    return [p for p in root.glob("??/??/*") if p.is_file()]


def stored(root: Path) -> tuple[int, int]:
    """How many whole objects and packs a directory store holds."""
    return len(whole_objects(root)), len(list((root / "chunked/v1/packs").rglob("*.pack")))


BOTH = pytest.mark.parametrize("chunked", ["false", "auto"])  # whole objects, or packs


@pytest.mark.parametrize("chunked", ["false", "auto", "true"])  # true: no GET of FORMAT
def test_push_of_new_branch_uploads_what_stale_tracking_refs_claim(env, chunked):
    """A remote-tracking ref that says the remote has a commit is not trusted blindly."""
    repo = env.new_repo()
    env.git("config", "data.chunked", chunked, cwd=repo)
    write(repo / "a.bin", b"first version")
    env.commit_all(repo)
    bare, clone = push_clone(env, repo)
    # the store loses everything (say, a new bucket); origin/main still claims the commit
    shutil.rmtree(bare / "data")
    env.git("checkout", "-q", "-b", "feature", cwd=repo)
    env.git("push", "-q", "origin", "feature", cwd=repo)
    # chunked: the local index's memory of the emptied store's packs is not trusted either
    assert stored(bare / "data" / "objects") == ((1, 0) if chunked == "false" else (0, 1))
    again = env.root / "again"
    env.git("clone", "-q", "-b", "feature", str(bare), str(again))
    assert (again / "a.bin").read_bytes() == b"first version"


@BOTH
def test_git_data_push_and_fetch(env, chunked):
    repo = env.new_repo()
    env.git("config", "data.chunked", chunked, cwd=repo)
    write(repo / "a.bin", b"alpha")
    write(repo / "b/c.bin", b"gamma")
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "--no-verify", "origin", "main", cwd=repo)
    dry = env.data("push", "--dry-run", cwd=repo).stdout.decode()
    assert dry.count("upload xxh128:") == 2
    env.data("push", "origin", cwd=repo)
    assert stored(bare / "data" / "objects") == ((2, 0) if chunked == "false" else (0, 1))
    assert env.data("push", "--dry-run", cwd=repo).stdout == b""
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("fetch", "--include", "b", cwd=clone)
    listing = env.data("ls-files", cwd=clone).stdout.decode().splitlines()
    assert [ln.split()[1:] for ln in listing[:-1]] == [["-", "5", "B", "a.bin"],
                                                       ["*", "5", "B", "b/c.bin"]]  # fmt: skip
    assert listing[-1] == "2 files, 10 B (1 not in the cache, 5 B)"
    env.data("checkout", cwd=clone, check=False)
    assert (clone / "b/c.bin").read_bytes() == b"gamma"
    assert (clone / "a.bin").read_bytes().startswith(b"version gitdata/1")


@BOTH
def test_push_of_annotated_tag_and_deletion(env, chunked):
    repo = env.new_repo()
    env.git("config", "data.chunked", chunked, cwd=repo)
    write(repo / "a.bin", b"tagged bytes")
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("tag", "-a", "v1", "-m", "release", cwd=repo)
    env.git("tag", "-a", "tree-tag", "-m", "odd", "HEAD^{tree}", cwd=repo)
    env.git("push", "-q", "origin", "v1", "tree-tag", cwd=repo)
    assert stored(bare / "data" / "objects") == ((1, 0) if chunked == "false" else (0, 1))
    env.git("push", "-q", "origin", ":v1", cwd=repo)  # a deletion sends nothing, fails nothing


def test_checkout_pathspec_is_relative_to_the_current_directory(env):
    repo = env.new_repo()
    write(repo / "d/a.bin", b"in d")
    write(repo / "b.bin", b"at top")
    env.commit_all(repo)
    _, clone = push_clone(env, repo, clone_env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("fetch", cwd=clone)
    env.data("checkout", "a.bin", cwd=clone / "d")
    assert (clone / "d/a.bin").read_bytes() == b"in d"
    assert (clone / "b.bin").read_bytes().startswith(b"version gitdata/1")
    assert env.out("status", "--porcelain", cwd=clone) == ""


def test_big_file_without_bytes_names_file_oid_store_and_way_out(env):
    env.git("config", "--global", "data.bigfilethreshold", "1m")
    repo = env.new_repo()
    random_file(repo / "big.bin", 2 << 20, seed=9)
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", "--no-verify", str(bare), "main", cwd=repo)
    proc = env.git("clone", str(bare), str(env.root / "clone"), check=False)
    err = proc.stderr.decode()
    assert "big.bin" in err and "xxh128:" in err and str(bare) in err
    assert "GIT_DATA_SKIP_SMUDGE=1" in err and "Traceback" not in err
