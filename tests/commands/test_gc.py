"""`git data gc` on the local cache: one test per keep rule (each also shows that the object goes
once that rule no longer holds), the removal rules, --dry-run, --json, and the refusals."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Env, random_file, write

from gitdata.cache import Cache
from gitdata.pointer import parse

DAY = 86400


def cache_dir(repo: Path) -> Path:
    return repo / ".git" / "data" / "objects"


def cached(repo: Path) -> set[str]:
    return {p.name for p in cache_dir(repo).glob("??/??/*") if len(p.name) == 32}


def oid_at(env: Env, repo: Path, spec: str) -> str:
    """The oid of the pointer at `spec` (`REV:path`, or `:path` for the index)."""
    p = parse(env.git("cat-file", "blob", spec, cwd=repo).stdout)
    assert p is not None, spec
    return p.oid


def age(repo: Path, seconds: float = 2 * DAY) -> None:
    """Make every cached object older than the default grace period."""
    t = time.time() - seconds
    for p in cache_dir(repo).glob("??/??/*"):
        os.utime(p, (t, t))


def forget(env: Env, repo: Path) -> None:
    """Drop what only reflogs and ORIG_HEAD remember (what `git gc` would eventually drop)."""
    (repo / ".git" / "ORIG_HEAD").unlink(missing_ok=True)
    env.git("reflog", "expire", "--expire=now", "--all", cwd=repo)


def gc_json(env: Env, repo: Path, *args: str) -> dict:
    return json.loads(env.data("gc", "--json", *args, cwd=repo).stdout)


def removed(doc: dict) -> set[str]:
    return {r["oid"].removeprefix("xxh128:") for r in doc["removed"]}


@pytest.fixture
def repo(env: Env) -> Path:
    repo = env.new_repo()
    write(repo / "a.bin", b"v1")
    env.commit_all(repo, "v1")
    return repo


def new_version(env: Env, repo: Path, content: bytes, message: str = "next") -> str:
    write(repo / "a.bin", content)
    env.commit_all(repo, message)
    return oid_at(env, repo, "HEAD:a.bin")


def test_nothing_to_do_keeps_everything(env, repo):
    age(repo)
    doc = gc_json(env, repo)
    assert doc["objects"] == 0 and doc["kept"]["referenced"] == 1 and doc["dry_run"] is False
    assert len(cached(repo)) == 1


def test_unreferenced_object_goes_and_summary_says_so(env, repo):
    v1 = oid_at(env, repo, "HEAD:a.bin")
    v2 = new_version(env, repo, b"version two")
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    forget(env, repo)
    age(repo)
    proc = env.data("gc", cwd=repo)
    assert cached(repo) == {v1}
    assert "removed 1 object(s)" in proc.stderr.decode()
    assert "(11 bytes) freed" in proc.stderr.decode()
    assert v2 not in cached(repo)


def test_dry_run_lists_and_removes_nothing(env, repo):
    new_version(env, repo, b"version two")
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    forget(env, repo)
    age(repo)
    before = cached(repo)
    proc = env.data("gc", "--dry-run", cwd=repo)
    out = proc.stdout.decode()
    assert out.startswith("would remove xxh128:") and " 11 (unreferenced)" in out
    assert "would remove 1 object(s)" in proc.stderr.decode()
    doc = gc_json(env, repo, "--dry-run")
    assert doc["dry_run"] is True and doc["objects"] == 1 and doc["bytes"] == 11
    assert doc["removed"][0]["oid"].startswith("xxh128:")
    assert cached(repo) == before


def test_keeps_what_a_branch_or_tag_references(env, repo):
    env.git("checkout", "-q", "-b", "side", cwd=repo)
    side = new_version(env, repo, b"on a side branch")
    env.git("checkout", "-q", "main", cwd=repo)
    env.git("tag", "-a", "-m", "t", "t1", "side", cwd=repo)
    env.git("branch", "-q", "-D", "side", cwd=repo)
    forget(env, repo)
    age(repo)
    assert side not in removed(gc_json(env, repo))  # the annotated tag
    env.git("tag", "-d", "t1", cwd=repo)
    assert side in removed(gc_json(env, repo))


def test_keeps_what_a_reflog_entry_references(env, repo):
    v2 = new_version(env, repo, b"version two")
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    (repo / ".git" / "ORIG_HEAD").unlink()
    age(repo)
    assert gc_json(env, repo)["objects"] == 0  # HEAD@{1} and main@{1} still name it
    assert v2 in cached(repo)
    env.git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    assert removed(gc_json(env, repo)) == {v2}


def test_keeps_orig_head(env, repo):
    v2 = new_version(env, repo, b"version two")
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    env.git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    age(repo)
    assert gc_json(env, repo)["objects"] == 0  # `git reset ORIG_HEAD` would want it back
    (repo / ".git" / "ORIG_HEAD").unlink()
    assert removed(gc_json(env, repo)) == {v2}


def test_keeps_every_stash_entry(env, repo):
    write(repo / "a.bin", b"stashed first")
    env.git("stash", "-q", cwd=repo)
    write(repo / "a.bin", b"stashed second")
    env.git("stash", "-q", cwd=repo)
    first = oid_at(env, repo, "stash@{1}:a.bin")
    second = oid_at(env, repo, "stash@{0}:a.bin")
    age(repo)
    assert gc_json(env, repo)["objects"] == 0
    assert {first, second} <= cached(repo)
    env.git("stash", "drop", "-q", "stash@{1}", cwd=repo)  # only in refs/stash's reflog
    assert removed(gc_json(env, repo)) == {first}
    env.git("stash", "clear", cwd=repo)
    assert removed(gc_json(env, repo)) == {second}


def test_keeps_what_the_index_stages(env, repo):
    write(repo / "a.bin", b"staged, never committed")
    env.git("add", "a.bin", cwd=repo)
    staged = oid_at(env, repo, ":a.bin")
    age(repo)
    assert gc_json(env, repo)["objects"] == 0
    env.git("reset", "-q", "a.bin", cwd=repo)  # unstaged: the bytes are still in the worktree
    age(repo)  # the reset ran clean on a.bin again, which wrote the object anew
    assert removed(gc_json(env, repo)) == {staged}


def test_keeps_what_another_worktree_has(env, repo):
    other = env.root / "other"
    env.git("worktree", "add", "-q", "--detach", str(other), cwd=repo)
    detached = new_version(env, other, b"committed on a detached HEAD elsewhere")
    write(other / "b.bin", b"staged in the other worktree")
    env.git("add", "b.bin", cwd=other)
    staged = oid_at(env, other, ":b.bin")
    env.git("reflog", "expire", "--expire=now", "--all", cwd=other)  # its HEAD log too
    forget(env, repo)
    age(repo)
    assert gc_json(env, repo)["objects"] == 0  # run from the main worktree
    assert {detached, staged} <= cached(repo)
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=other)
    env.git("reflog", "expire", "--expire=now", "--all", cwd=other)
    (repo / ".git" / "worktrees" / "other" / "ORIG_HEAD").unlink(missing_ok=True)
    assert removed(gc_json(env, repo)) == {detached, staged}


def test_grace_keeps_young_objects(env, repo):
    v2 = new_version(env, repo, b"version two")
    env.git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    forget(env, repo)
    doc = gc_json(env, repo)  # just written: a `git add` could be about to stage it
    assert doc["objects"] == 0 and doc["kept"]["young"] == 2
    age(repo, 40 * 60)
    assert gc_json(env, repo, "--grace", "30m", "--dry-run")["objects"] == 1
    assert gc_json(env, repo)["objects"] == 0  # default 1h
    assert removed(gc_json(env, repo, "--grace", "0")) == {v2}


def test_bad_grace_is_a_usage_error(env, repo):
    proc = env.data("gc", "--grace", "10", cwd=repo, check=False)
    assert proc.returncode == 2 and b"bad duration '10'" in proc.stderr
    assert env.data("gc", "--keep-recent", "x", cwd=repo, check=False).returncode == 2


def test_stale_temporaries_go(env, repo):
    tmp = cache_dir(repo) / "tmp"
    tmp.mkdir(exist_ok=True)
    stale, fresh = write(tmp / "incoming-stale", b"x"), write(tmp / "incoming-fresh", b"y")
    t = time.time() - 2 * 3600
    os.utime(stale, (t, t))
    assert gc_json(env, repo, "--grace", "0")["temporaries_removed"] == 1
    assert not stale.exists() and fresh.exists()  # may be a download still writing


def test_stale_stat_cache_entries_go(env, repo):
    random_file(repo / "big.bin", 5 << 20, seed=7)  # big enough to be remembered by stat
    env.git("add", "big.bin", cwd=repo)
    stat_dir = repo / ".git" / "data" / "stat"
    assert len(list(stat_dir.iterdir())) == 1
    env.git("reset", "-q", "big.bin", cwd=repo)
    age(repo)
    gc_json(env, repo)
    assert list(stat_dir.iterdir()) == []


def test_git_add_of_a_known_file_refreshes_its_object(env, repo):
    """The stat-cache path of clean writes nothing; it must still tell gc the object is wanted."""
    random_file(repo / "big.bin", 5 << 20, seed=8)
    env.git("add", "big.bin", cwd=repo)
    path = Cache(str(cache_dir(repo))).path(oid_at(env, repo, ":big.bin"))
    inode = os.stat(path).st_ino
    env.git("reset", "-q", "big.bin", cwd=repo)
    age(repo)
    env.git("add", "big.bin", cwd=repo)
    st = os.stat(path)
    assert st.st_ino == inode  # not hashed and written again: recognised by its stat data
    assert time.time() - st.st_mtime < 3600


def test_remove_if_older_puts_back_an_object_touched_meanwhile(tmp_path):
    cache = Cache(str(tmp_path / "objects"))
    oid, _ = cache.store_stream(open(os.devnull, "rb"), b"content")
    cutoff = time.time() - 3600
    assert cache.remove_if_older(oid, cutoff) is None  # young: put back
    assert cache.has(oid) and os.listdir(cache.tmp_dir) == []
    t = cutoff - 10
    os.utime(cache.path(oid), (t, t))
    assert cache.remove_if_older(oid, cutoff) == len(b"content")
    assert not cache.has(oid)
    assert cache.remove_if_older(oid, cutoff) is None  # already gone


@pytest.mark.parametrize("chunked", ["false", "auto"])  # the store: whole objects, or packs
def test_keep_recent_removes_only_pushed_old_history(env, chunked):
    repo = env.new_repo()
    env.git("config", "data.chunked", chunked, cwd=repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    old = str(int(time.time()) - 100 * DAY)
    dated = {"GIT_COMMITTER_DATE": f"{old} +0000", "GIT_AUTHOR_DATE": f"{old} +0000"}
    write(repo / "a.bin", b"old and pushed")
    env.git("add", "-A", cwd=repo)
    env.git("commit", "-q", "-m", "v1", cwd=repo, env=dated)
    pushed = oid_at(env, repo, "HEAD:a.bin")
    env.git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo)
    write(repo / "a.bin", b"old and never pushed")
    env.git("commit", "-q", "-am", "v2", cwd=repo, env=dated)
    unpushed = oid_at(env, repo, "HEAD:a.bin")
    # a recent commit on another local branch, pushed: kept for being recent
    env.git("checkout", "-q", "-b", "feature", "HEAD~1", cwd=repo)
    recent = new_version(env, repo, b"recent, on a local branch")
    env.git("push", "-q", "origin", "feature", cwd=repo)
    env.git("checkout", "-q", "main", cwd=repo)
    current = new_version(env, repo, b"in HEAD")
    age(repo)

    packs = list((bare / "data/objects/chunked/v1/packs").rglob("*.pack"))
    assert bool(packs) == (chunked == "auto")
    assert gc_json(env, repo)["objects"] == 0  # without --keep-recent all history counts
    doc = gc_json(env, repo, "--keep-recent", "30", "--dry-run")
    assert removed(doc) == {pushed}
    assert doc["kept"]["unconfirmed"] == 1 and doc["store_asked"] == str(bare / "data/objects")
    assert doc["removed"][0]["reason"].startswith("only old history")
    assert cached(repo) >= {pushed, unpushed, recent, current}
    assert removed(gc_json(env, repo, "--keep-recent", "30")) == {pushed}
    assert removed(gc_json(env, repo, "--keep-recent", "0")) == {recent}  # now old, and pushed
    assert cached(repo) == {unpushed, current}


def test_refuses_a_bare_repository(env):
    bare = env.bare()
    proc = env.data("gc", cwd=bare, check=False)
    assert proc.returncode == 1 and b"bare repository" in proc.stderr


def test_refuses_a_cache_moved_by_cachedir(env, repo):
    env.git("config", "data.cachedir", str(env.root / "shared-cache"), cwd=repo)
    proc = env.data("gc", cwd=repo, check=False)
    assert proc.returncode == 1 and b"data.cachedir" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_refuses_a_history_with_missing_objects(env, repo):
    new_version(env, repo, b"version two")
    tree = env.out("rev-parse", "HEAD~1^{tree}", cwd=repo).strip()
    loose = repo / ".git" / "objects" / tree[:2] / tree[2:]
    loose.chmod(0o644)
    loose.unlink()
    age(repo)
    before = cached(repo)
    proc = env.data("gc", "--grace", "0", cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"tree {tree} is missing".encode() in proc.stderr
    assert cached(repo) == before


def test_reads_a_split_index(env, repo):
    """libgit2 refuses split and sparse indexes; git reads them for gc."""
    write(repo / "b.bin", b"staged into a split index")
    env.git("add", "b.bin", cwd=repo)
    env.git("update-index", "--split-index", cwd=repo)
    staged = oid_at(env, repo, ":b.bin")
    age(repo)
    assert gc_json(env, repo)["objects"] == 0
    assert staged in cached(repo)


def test_keeps_what_a_reflog_without_its_ref_references(env, repo):
    """git gc reads reflog files, not refs; a reflog can outlive its ref (`git gc` keeps it)."""
    env.git("checkout", "-q", "-b", "side", cwd=repo)
    side = new_version(env, repo, b"only in an orphan reflog")
    env.git("checkout", "-q", "main", cwd=repo)
    log = repo / ".git" / "logs" / "refs" / "heads" / "side"
    kept = log.read_bytes()
    env.git("branch", "-q", "-D", "side", cwd=repo)
    forget(env, repo)
    write(log, kept)
    age(repo)
    assert gc_json(env, repo)["objects"] == 0 and side in cached(repo)
    log.unlink()
    assert removed(gc_json(env, repo)) == {side}


def test_an_object_an_interrupted_gc_left_aside_goes_back(env, repo):
    oid = oid_at(env, repo, "HEAD:a.bin")
    cache = Cache(str(cache_dir(repo)))
    os.makedirs(cache.tmp_dir, exist_ok=True)
    dead = 2**22 + 12345  # above the default pid_max: no such process
    os.rename(cache.path(oid), os.path.join(cache.tmp_dir, f"gc-{oid}-{dead}"))
    age(repo)
    gc_json(env, repo)
    assert cache.has(oid) and os.listdir(cache.tmp_dir) == []
