"""git data migrate import on a plain Git history: every version of every file byte-identical
afterwards, commit by commit; refs, tags, backups, commit map; push and a fresh clone; running
twice; refusals; killed at any point, then run again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import Env
from history_check import build, check_same_bytes, commit_map, files, rev_list

from gitdata.pointer import parse as parse_pointer

LINE = "filter=data diff=data merge=data -text"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The history, built once for this module (with the `env` fixture's identity, see
    conftest); each test migrates a copy."""
    root = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as mp:
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", "Test")
            mp.setenv(f"GIT_{role}_EMAIL", "test@example.com")
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("HOME", str(root))
        env = Env(root)
        env.git("config", "--global", "init.defaultBranch", "main")
        build(env, root / "plain")
    return root / "plain"


@pytest.fixture
def repo(env, template) -> Path:
    path = env.root / "plain"
    shutil.copytree(template, path, symlinks=True)
    return path


def refs(env, repo: Path, prefix: str = "refs/") -> dict[str, str]:
    out = env.out("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=repo)
    return dict(line.split() for line in out.splitlines())


def test_import_everything_keeps_every_version(env, repo):
    before = refs(env, repo)
    old_commits = rev_list(env, repo, "--all")
    assert len(old_commits) >= 50
    env.data("migrate", "import", "--everything", "--include", "*.bin", "--include", "*.pt",
             cwd=repo)  # fmt: skip
    after = refs(env, repo)
    for name, oid in before.items():
        assert after[f"refs/gitdata/migrate-backup/{name[5:]}"] == oid
        assert after[name] != oid, name
    assert not [r for r in after if r.startswith("refs/gitdata/migrate-work/")]
    cmap = commit_map(repo)
    assert set(cmap) == set(old_commits)
    assert check_same_bytes(env, repo, old_commits, cmap) > 50
    # .gitattributes: the user's lines kept, ours added once, in every commit
    for new in rev_list(env, repo, "--branches", "--tags"):
        text = env.git("show", f"{new}:.gitattributes", cwd=repo).stdout.decode()
        assert text.count(f"*.bin {LINE}") == 1 and text.count(f"*.pt {LINE}") == 1, new
        if "*.txt text" in text:
            assert text.startswith("*.txt text\n*.md diff\n")
    # annotated tags keep their message, and point at the new commit
    tag = env.out("cat-file", "tag", "v1", cwd=repo)
    assert tag.endswith("release one\n\nwith a body\n")
    assert (
        env.head(repo, "v1^{commit}")
        == cmap[env.head(repo, "refs/gitdata/migrate-backup/tags/v1^{commit}")]
    )
    # the worktree: clean, big files as bytes
    assert env.out("status", "--porcelain", cwd=repo) == ""
    assert parse_pointer((repo / "data" / "a.bin").read_bytes()) is None
    env.data("fsck", "--all", cwd=repo)


def test_push_and_a_fresh_clone_give_the_same_bytes(env, repo):
    store = env.root / "store"
    remote = env.bare("remote.git")
    env.git("remote", "add", "origin", str(remote), cwd=repo)
    env.data("remote", "add", "origin", str(store), "--local", cwd=repo)
    env.data("migrate", "import", "--everything", "--above", "4k", cwd=repo)
    env.git("push", "-q", "origin", "--all", cwd=repo)
    env.git("push", "-q", "origin", "--tags", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(remote), str(clone),
            "-c", f"data.remote.origin.url={store}")  # fmt: skip
    for commit in rev_list(env, repo, "--branches")[:10]:
        env.git("checkout", "-q", commit, cwd=clone)
        for path in files(env, repo, commit):
            if path != b".gitattributes":
                mine = env.git("show", f"{commit}:{path.decode()}", cwd=repo).stdout
                theirs = (clone / path.decode()).read_bytes()
                p = parse_pointer(mine)
                assert theirs == (
                    mine
                    if p is None
                    else (repo / ".git/data/objects" / p.oid[:2] / p.oid[2:4] / p.oid).read_bytes()
                )


def test_above_writes_one_line_per_path(env, repo):
    env.data("migrate", "import", "--above", "11k", cwd=repo)  # the current branch only
    text = (repo / ".gitattributes").read_text()
    ours = [line for line in text.splitlines() if LINE in line]
    assert ours and all(line.startswith("/") for line in ours)
    assert "/donn\u00e9es/\u00e9[[:space:]]t.bin" in text or "/data/" in text
    assert refs(env, repo, "refs/heads/feature")  # other branches left alone
    assert "refs/gitdata/migrate-backup/heads/feature" not in refs(env, repo)


def test_running_twice_changes_nothing(env, repo):
    args = ["migrate", "import", "--everything", "--include", "*.bin"]
    env.data(*args, cwd=repo)
    before = refs(env, repo)
    out = env.data(*args, cwd=repo).stderr.decode()
    assert "nothing to migrate" in out
    assert refs(env, repo) == before


def test_no_rewrite_converts_the_current_tree_in_one_commit(env, repo):
    head = env.head(repo)
    env.data("migrate", "import", "--no-rewrite", "--include", "*.bin", cwd=repo)
    assert env.head(repo, "HEAD~1") == head
    assert env.out("status", "--porcelain", cwd=repo) == ""
    for path, blob_id in files(env, repo, "HEAD").items():
        if path.endswith(b".bin"):
            assert parse_pointer(env.git("cat-file", "blob", blob_id, cwd=repo).stdout)
    assert "*.bin " + LINE in (repo / ".gitattributes").read_text()
    env.data("fsck", cwd=repo)


def test_refusals(env, repo):
    before = refs(env, repo)
    (repo / "notes.txt").write_text("changed\n")
    r = env.data("migrate", "import", "--include", "*.bin", cwd=repo, check=False)
    assert r.returncode == 1 and b"the worktree has changes" in r.stderr
    env.git("checkout", "notes.txt", cwd=repo)
    env.git("checkout", "-q", "-b", "clash", "HEAD~3", cwd=repo)
    (repo / "notes.txt").write_text("clash\n")
    env.commit_all(repo, "clash")
    env.git("merge", "main", cwd=repo, check=False)
    r = env.data("migrate", "import", "--include", "*.bin", cwd=repo, check=False)
    assert r.returncode == 1 and b"a merge is in progress" in r.stderr
    env.git("merge", "--abort", cwd=repo)
    r = env.data("migrate", "import", cwd=repo, check=False)
    assert r.returncode == 2 and b"say which files" in r.stderr
    r = env.data("migrate", "import", "--include", "*.bin", "nope", cwd=repo, check=False)
    assert r.returncode == 2 and b"'nope' is not a branch or tag" in r.stderr
    r = env.data("migrate", "import", "--everything", "main", cwd=repo, check=False)
    assert r.returncode == 2
    r = env.data("migrate", "import", "--no-rewrite", "--above", "1k", "--everything",
                 cwd=repo, check=False)  # fmt: skip
    assert r.returncode == 2 and b"--no-rewrite converts the current branch only" in r.stderr
    r = env.data("migrate", "import", "--above", "ten", cwd=repo, check=False)
    assert r.returncode == 2 and b"not a size" in r.stderr
    assert {k: v for k, v in refs(env, repo).items() if k != "refs/heads/clash"} == before


@pytest.mark.parametrize("point", ["converting", "after-import", "after-refs"])
def test_killed_then_run_again(env, repo, point):
    before = refs(env, repo)
    old_commits = rev_list(env, repo, "--all")
    args = ["migrate", "import", "--everything", "--include", "*.bin", "--include", "*.pt"]
    r = env.data(*args, cwd=repo, check=False, env={"GIT_DATA_TEST_MIGRATE_KILL_AT": point})
    assert r.returncode == -9
    if point != "after-refs":
        work = "refs/gitdata/migrate-work/"
        assert {k: v for k, v in refs(env, repo).items() if not k.startswith(work)} == before
        env.data(*args, cwd=repo)
    else:
        env.data(*args, cwd=repo)  # finishes the checkout; then nothing is left to do
        assert env.out("status", "--porcelain", cwd=repo) == ""
    after = refs(env, repo)
    assert not [r for r in after if r.startswith("refs/gitdata/migrate-work/")]
    assert check_same_bytes(env, repo, old_commits, commit_map(repo)) > 50
    assert env.out("status", "--porcelain", cwd=repo) == ""
    env.data("fsck", "--all", cwd=repo)


def test_a_tag_of_a_tag_is_rewritten_through_the_tag_it_names(env, repo):
    env.git("tag", "-a", "v1-approved", "v1", "-m", "approved\n\nsigned off", cwd=repo)
    inner_before = env.head(repo, "v1")
    env.data("migrate", "import", "--everything", "--include", "*.bin", cwd=repo)
    cmap = commit_map(repo)
    old_commit = env.out("rev-parse", "refs/gitdata/migrate-backup/tags/v1^{commit}", cwd=repo)
    new_commit = env.head(repo, "v1-approved^{commit}")
    assert new_commit == cmap[old_commit.strip()] == env.head(repo, "v1^{commit}")
    outer = env.out("cat-file", "tag", "v1-approved", cwd=repo)
    assert outer.startswith(f"object {env.head(repo, 'v1')}\ntype tag\ntag v1-approved\n")
    assert outer.endswith("approved\n\nsigned off\n")
    assert env.head(repo, "v1") != inner_before
    assert "tag of a tag" not in env.out("for-each-ref", cwd=repo)


def test_the_checkout_takes_converted_files_as_they_are(env):
    """A converted big file the old index vouched for is not copied into the cache again by
    the final re-stage: the stat cache knows it, and the filter only drains it."""
    from conftest import random_file

    repo = env.new_repo("one", track=None)
    random_file(repo / "model.bin", 5 << 20, seed=3)
    env.commit_all(repo, "a model")
    env.data("migrate", "import", "--include", "*.bin", cwd=repo)
    p = parse_pointer(env.git("cat-file", "blob", "HEAD:model.bin", cwd=repo).stdout)
    assert p is not None
    entries = [f.read_text() for f in (repo / ".git/data/stat").rglob("*") if f.is_file()]
    assert any(e.split()[-1] == p.oid for e in entries)
    assert env.out("status", "--porcelain", cwd=repo) == ""
    assert not list((repo / ".git/data/tmp").glob("*"))  # no copy left behind
    env.data("fsck", cwd=repo)
    # the file changed behind the index's back (same size): never taken for the old bytes
    random_file(repo / "model.bin", 5 << 20, seed=4)
    assert env.out("status", "--porcelain", cwd=repo) == " M model.bin\n"
