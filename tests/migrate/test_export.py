"""git data migrate export: the way back out; with import, a round trip to the same commits."""

from __future__ import annotations

import shutil

from history_check import build


def refs(env, repo, prefix="refs/heads/ refs/tags/"):
    out = env.out("for-each-ref", "--format=%(refname) %(objectname)", *prefix.split(), cwd=repo)
    return dict(line.split() for line in out.splitlines())


def test_import_then_export_gives_back_the_same_commits(env):
    repo = env.root / "plain"
    build(env, repo, commits=24)
    before = refs(env, repo)
    env.data("migrate", "import", "--everything", "--include", "*.bin", cwd=repo)
    assert refs(env, repo) != before
    env.data("migrate", "export", "--everything", cwd=repo)
    assert refs(env, repo) == before  # the same ids: byte for byte the history there was
    assert env.out("status", "--porcelain", cwd=repo) == ""
    out = env.data("migrate", "export", "--everything", cwd=repo).stderr
    assert b"nothing to export" in out


def test_export_fetches_what_the_cache_lacks_from_the_store(env):
    repo = env.root / "plain"
    build(env, repo, commits=12)
    before = refs(env, repo)
    store = env.root / "store"
    env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
    env.data("remote", "add", "origin", str(store), "--local", cwd=repo)
    env.data("migrate", "import", "--everything", "--above", "1k", cwd=repo)
    env.data("push", "origin", "--all", cwd=repo)
    shutil.rmtree(repo / ".git" / "data" / "objects")
    env.data("migrate", "export", "--everything", cwd=repo)
    assert refs(env, repo) == before


def test_export_refuses_when_bytes_are_missing(env):
    repo = env.root / "plain"
    build(env, repo, commits=12)
    env.data("migrate", "import", "--everything", "--above", "1k", cwd=repo)
    migrated = refs(env, repo)
    shutil.rmtree(repo / ".git" / "data" / "objects")
    r = env.data("migrate", "export", "--everything", cwd=repo, check=False)
    assert r.returncode == 1 and b"no default data remote to download from" in r.stderr
    (env.root / "empty").mkdir()
    env.data("remote", "add", "empty", str(env.root / "empty"), "--default", "--local", cwd=repo)
    r = env.data("migrate", "export", "--everything", cwd=repo, check=False)
    assert r.returncode == 1 and b"cannot export: the bytes of" in r.stderr
    assert refs(env, repo) == migrated


def test_export_of_a_history_without_gitattributes_of_its_own(env):
    repo = env.new_repo("one", track=None)
    (repo / "a.bin").write_bytes(b"\0" * 5000)
    env.commit_all(repo, "one")
    head = env.head(repo)
    env.data("migrate", "import", "--include", "*.bin", cwd=repo)
    assert (repo / ".gitattributes").exists()
    env.data("migrate", "export", cwd=repo)
    assert env.head(repo) == head
    assert not (repo / ".gitattributes").exists()
    assert env.out("status", "--porcelain", "--ignored", cwd=repo) == ""
