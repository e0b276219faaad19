"""`git data diff`: real repositories, every pair of ends (revision, index, worktree), every kind
of change, names git has to quote."""

from __future__ import annotations

import base64
import json
import os

from conftest import random_file, write


def diff_json(env, repo, *args, cwd=None):
    return json.loads(env.data("diff", "--json", *args, cwd=cwd or repo).stdout)


def pointer_of(env, repo, rel):
    """The pointer `git add` would give the worktree file (`git data pointer`)."""
    lines = env.data("pointer", str(repo / rel), cwd=repo).stdout.decode().splitlines()
    return lines[1].split(" ", 1)[1], int(lines[2].split(" ", 1)[1])


def test_worktree_index_and_revisions(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    write(repo / "dir/b.bin", b"beta!")
    write(repo / "plain.txt", b"not data")
    env.commit_all(repo)
    c1 = env.head(repo)
    assert env.data("diff", cwd=repo).stdout == b""  # a clean worktree
    write(repo / "a.bin", b"alpha, longer")
    write(repo / "plain.txt", b"still not data, edited")  # never listed: not a data file

    doc = diff_json(env, repo)  # HEAD against the worktree, like `git diff HEAD`
    assert (doc["from"], doc["from_commit"], doc["to"], doc["to_commit"]) == (
        "HEAD", c1, "worktree", None)  # fmt: skip
    new_oid, new_size = pointer_of(env, repo, "a.bin")
    assert doc["files"] == [
        {
            "status": "M",
            "path": "a.bin",
            "old_oid": env.out("cat-file", "blob", "HEAD:a.bin", cwd=repo).split()[3],
            "new_oid": new_oid,
            "old_size": 5,
            "new_size": new_size,
        }
    ]
    assert new_size == 13
    assert diff_json(env, repo, "--cached")["files"] == []  # nothing staged yet

    env.git("add", "a.bin", cwd=repo)
    staged = diff_json(env, repo, "--cached")
    assert staged["to"] == "index" and [f["new_oid"] for f in staged["files"]] == [new_oid]
    assert diff_json(env, repo)["files"] == staged["files"]  # the worktree has the same bytes

    env.commit_all(repo, "v2")
    c2 = env.head(repo)
    assert diff_json(env, repo)["files"] == []
    two = diff_json(env, repo, c1, c2)
    assert (two["from_commit"], two["to"], two["to_commit"]) == (c1, c2, c2)
    assert two["files"] == staged["files"]
    assert diff_json(env, repo, f"{c1}..{c2}")["files"] == staged["files"]
    assert diff_json(env, repo, "HEAD~...HEAD")["files"] == staged["files"]
    back = diff_json(env, repo, "HEAD", "HEAD~")["files"]
    assert [(f["old_size"], f["new_size"]) for f in back] == [(13, 5)]
    # one revision: against the worktree, or the index with --cached
    assert diff_json(env, repo, c1)["files"] == staged["files"]
    assert diff_json(env, repo, "--cached", c1)["files"] == staged["files"]


def test_add_delete_modify_rename_with_totals(env):
    repo = env.new_repo()
    write(repo / "keep.bin", b"k" * 100)
    write(repo / "gone.bin", b"g" * 2000)
    write(repo / "moves.bin", b"m" * 300)
    write(repo / "data/edit.bin", b"e" * 1000)
    env.commit_all(repo)
    os.remove(repo / "gone.bin")
    (repo / "models").mkdir()
    os.rename(repo / "moves.bin", repo / "models/moves.bin")
    write(repo / "data/edit.bin", b"E" * 3000)
    write(repo / "data/new.bin", b"n" * 50)
    env.commit_all(repo, "changes")

    doc = diff_json(env, repo, "HEAD~", "HEAD")
    by_path = {f["path"]: f for f in doc["files"]}
    assert [f["path"] for f in doc["files"]] == [
        "data/edit.bin", "data/new.bin", "gone.bin", "models/moves.bin"]  # fmt: skip
    assert [by_path[p]["status"] for p in by_path] == ["M", "A", "D", "R"]
    moved = by_path["models/moves.bin"]
    assert moved["old_path"] == "moves.bin" and moved["old_oid"] == moved["new_oid"]
    assert (moved["old_size"], moved["new_size"]) == (300, 300)
    new = by_path["data/new.bin"]
    assert new["old_oid"] is None and new["old_size"] is None
    assert by_path["gone.bin"]["new_oid"] is None and by_path["gone.bin"]["old_size"] == 2000
    assert all(f["old_oid"] is None or f["old_oid"].startswith("xxh128:") for f in doc["files"])
    totals = doc["totals"]
    assert {k: totals[k] for k in ("files", "added", "deleted", "modified", "renamed")} == {
        "files": 4, "added": 1, "deleted": 1, "modified": 1, "renamed": 1}  # fmt: skip
    assert (totals["old_size"], totals["new_size"]) == (1000 + 2000 + 300, 3000 + 50 + 300)
    assert totals["delta"] == totals["new_size"] - totals["old_size"]
    dirs = {d["path"]: d for d in totals["directories"]}
    # the rename leaves ./ and arrives in models/
    assert dirs == {
        "./": {"path": "./", "files": 2, "old_size": 2300, "new_size": 0, "delta": -2300},
        "data/": {"path": "data/", "files": 2, "old_size": 1000, "new_size": 3050, "delta": 2050},
        "models/": {"path": "models/", "files": 1, "old_size": 0, "new_size": 300, "delta": 300},
    }

    text = env.data("diff", "HEAD~", "HEAD", cwd=repo).stdout.decode().splitlines()
    assert text[:8] == [
        "M   1000 B  ->  2.9 KiB  +2.0 KiB  data/edit.bin",
        "A        -  ->     50 B     +50 B  data/new.bin",
        "D  2.0 KiB  ->        -  -2.0 KiB  gone.bin",
        "R    300 B  ->    300 B       0 B  moves.bin -> models/moves.bin",
        "",  # then the directories, in the same columns
        "   2.2 KiB  ->      0 B  -2.2 KiB  ./  (2 files)",
        "    1000 B  ->  3.0 KiB  +2.0 KiB  data/  (2 files)",
        "       0 B  ->    300 B    +300 B  models/  (1 file)",
    ]
    assert text[8] == (
        "4 files changed (1 added, 1 modified, 1 deleted, 1 renamed): 3.2 KiB -> 3.3 KiB (+50 B)"
    )
    assert len(text) == 9


def test_stat_prints_only_the_totals(env):
    repo = env.new_repo()
    write(repo / "a/x.bin", b"x" * 2048)
    write(repo / "b/y.bin", b"y")
    env.commit_all(repo)
    write(repo / "a/x.bin", b"x" * 4096)
    lines = env.data("diff", "--stat", cwd=repo).stdout.decode().splitlines()
    assert lines == [
        "2.0 KiB  ->  4.0 KiB  +2.0 KiB  a/  (1 file)",
        "1 file changed (1 modified): 2.0 KiB -> 4.0 KiB (+2.0 KiB)",
    ]


def test_names_git_quotes_and_json_round_trips_bytes(env):
    repo = env.new_repo()
    latin1 = b"caf\xe9.bin"
    write(repo / "my data/with space.bin", b"spaced")
    write(repo / os.fsdecode(latin1), b"latin-1 name")
    env.commit_all(repo)
    write(repo / os.fsdecode(latin1), b"latin-1 name, edited")
    write(repo / "my data/with space.bin", b"spaced, edited")
    doc = diff_json(env, repo)
    raw = {base64.b64decode(f["path_base64"]) if "path_base64" in f else f["path"].encode()
           for f in doc["files"]}  # fmt: skip
    assert raw == {latin1, b"my data/with space.bin"}
    assert [d["path"] for d in doc["totals"]["directories"]] == ["./", "my data/"]
    text = env.data("diff", cwd=repo).stdout.decode()
    # the names exactly as `git diff --name-only` quotes them
    for name in env.out("diff", "--name-only", cwd=repo).splitlines():
        assert f"  {name}\n" in text
    assert '"caf\\351.bin"' in text and "my data/with space.bin" in text
    write(repo / "\u00e9t\u00e9.bin", b"UTF-8 name")
    env.git("add", "\u00e9t\u00e9.bin", cwd=repo)
    assert '"\\303\\251t\\303\\251.bin"' in env.data("diff", cwd=repo).stdout.decode()
    env.git("config", "core.quotePath", "false", cwd=repo)
    assert "  \u00e9t\u00e9.bin\n" in env.data("diff", cwd=repo).stdout.decode()

    # a rename to a name that is not UTF-8 carries old_path as text and new path as bytes
    env.commit_all(repo, "v2")
    env.git("config", "core.quotePath", "true", cwd=repo)
    env.git("mv", "my data/with space.bin", os.fsdecode(b"\xff.bin"), cwd=repo)
    (moved,) = diff_json(env, repo, "--cached")["files"]
    assert moved["status"] == "R" and moved["old_path"] == "my data/with space.bin"
    assert base64.b64decode(moved["path_base64"]) == b"\xff.bin"


def test_pathspecs_after_double_dash(env):
    repo = env.new_repo()
    write(repo / "one/a.bin", b"a")
    write(repo / "two/b.bin", b"b")
    write(repo / "HEAD", b"a file named like a revision")
    env.commit_all(repo)
    write(repo / "one/a.bin", b"aa")
    write(repo / "two/b.bin", b"bb")
    assert [f["path"] for f in diff_json(env, repo, "--", "two")["files"]] == ["two/b.bin"]
    assert [f["path"] for f in diff_json(env, repo, "HEAD", "--", "*.bin")["files"]] == [
        "one/a.bin", "two/b.bin"]  # fmt: skip
    # relative to the current directory, as git reads them; paths come back top-relative
    sub = diff_json(env, repo, "--", "a.bin", cwd=repo / "one")
    assert [f["path"] for f in sub["files"]] == ["one/a.bin"]
    assert diff_json(env, repo, "--", "nothing-here")["files"] == []


def test_worktree_edge_cases(env):
    repo = env.new_repo()
    write(repo / "touched.bin", b"same bytes")
    write(repo / "removed.bin", b"removed from the worktree only")
    write(repo / "emptied.bin", b"will be empty")
    write(repo / "pointer.bin", b"left as a pointer")
    env.commit_all(repo)
    os.utime(repo / "touched.bin", (1, 1))  # stat data changed, content did not
    os.remove(repo / "removed.bin")
    write(repo / "emptied.bin", b"")  # `git add` keeps an empty file empty: no longer data
    write(repo / "pointer.bin", env.git("cat-file", "blob", "HEAD:pointer.bin", cwd=repo).stdout)
    doc = diff_json(env, repo)
    assert [(f["status"], f["path"]) for f in doc["files"]] == [
        ("D", "emptied.bin"), ("D", "removed.bin")]  # fmt: skip


def test_big_worktree_file_is_hashed_once(env):
    repo = env.new_repo()
    random_file(repo / "big.bin", 5 << 20, seed=1)
    env.commit_all(repo)
    random_file(repo / "big.bin", 6 << 20, seed=2)
    (f,) = diff_json(env, repo)["files"]
    assert (f["new_oid"], f["new_size"]) == pointer_of(env, repo, "big.bin")
    st = os.stat(repo / "big.bin")
    entry = repo / ".git" / "data" / "stat" / f"{st.st_dev:x}-{st.st_ino:x}"
    # recorded: the next diff does not read the file
    assert entry.read_text().split()[-1] == f["new_oid"].split(":")[1]
    assert diff_json(env, repo)["files"] == [f]
    assert not list((repo / ".git" / "data" / "objects").rglob(f["new_oid"].split(":")[1]))


def test_a_new_repository_and_a_bare_one(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.git("add", "a.bin", cwd=repo)
    doc = diff_json(env, repo, "--cached")  # no commit yet: everything staged is new
    assert doc["from_commit"] is None and [f["status"] for f in doc["files"]] == ["A"]
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    assert diff_json(env, bare, "main", "main")["files"] == []
    proc = env.data("diff", cwd=bare, check=False)
    assert proc.returncode == 1 and b"needs a work tree" in proc.stderr


def test_usage_errors(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    for args, status in (
        (["HEAD", "HEAD", "HEAD"], 2),
        (["--cached", "HEAD", "HEAD"], 2),
        (["no-such-rev"], 1),
        (["HEAD", "no-such-rev"], 1),
    ):
        proc = env.data("diff", *args, cwd=repo, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == status, args
        assert lines[0].startswith("git-data: error: ") and lines[1].startswith("hint: "), args
