"""A day of team work on one store (issue 10): two clones, a 500-file dataset, a big model
changed on both sides, stash, rebase, pull, conflicts resolved both ways, reset, untrack, gc.
After every step: worktree bytes right, `git status` clean where git would be clean,
`git data gc --grace 0`, then `git data fetch --all` and `git data fsck --all` clean; after every
push, a fresh clone gets every version of every file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import Env, write

BIG = (1 << 20) + 12345  # above data.bigfilethreshold (1m here): written by worktree.finish


def data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Clone:
    def __init__(self, env: Env, path: Path) -> None:
        self.env, self.path = env, path
        self.expect: dict[str, bytes] = {}  # what the worktree must hold now

    def git(self, *args: str, **kw):
        return self.env.git(*args, cwd=self.path, **kw)

    def put(self, rel: str, content: bytes) -> None:
        write(self.path / rel, content)
        self.expect[rel] = content

    def check(self, status_clean: bool = True) -> None:
        for rel, content in self.expect.items():
            got = (self.path / rel).read_bytes()
            assert got == content, f"{self.path.name}:{rel} has {got[:40]!r}"
        if status_clean:
            assert self.env.out("status", "--porcelain", cwd=self.path) == ""
        doc = json.loads(self.env.data("status", "--json", cwd=self.path).stdout)
        assert doc["pointers"] == [] and doc["stray_pointers"] == []
        self.env.data("gc", "--grace", "0", cwd=self.path)
        # every version of every file of all history is to be had (the cache, else the store:
        # a clone never downloads versions it did not check out) and hashes to its name
        if self.env.git("remote", cwd=self.path).stdout:
            self.env.data("fetch", "--all", cwd=self.path)
        self.env.data("fsck", "--all", cwd=self.path)


def fresh_clone_has_everything(env: Env, bare: Path, n: int) -> None:
    c = env.root / f"fresh{n}"
    env.git("clone", "-q", str(bare), str(c), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("fetch", "--all", cwd=c)
    env.data("fsck", "--all", cwd=c)
    commits = env.out("rev-list", "--all", cwd=c).split()
    for sha in commits:
        env.git("checkout", "-q", "--detach", sha, cwd=c)
        env.data("checkout", cwd=c)
        doc = json.loads(env.data("status", "--json", cwd=c).stdout)
        assert doc["pointers"] == [], sha
        assert env.out("status", "--porcelain", cwd=c) == "", sha


def test_a_day_of_team_work(env: Env):
    env.git("config", "--global", "data.bigfilethreshold", "1m")
    env.git("config", "--global", "pull.rebase", "false")
    bare = env.bare()
    a = Clone(env, env.new_repo("alice", track=None))
    env.data("track", "*.bin", "*.csv", cwd=a.path)
    for i in range(500):
        a.put(f"dataset/part{i % 10}/rows{i:03d}.csv", b"%d," % i + data(i, 1500))
    a.put("model.bin", data(1000, BIG))
    env.commit_all(a.path, "dataset and model")
    a.git("remote", "add", "origin", str(bare))
    a.git("push", "-q", "-u", "origin", "main")
    a.check()
    pushes = 0
    fresh_clone_has_everything(env, bare, pushes)

    b = Clone(env, env.root / "bob")
    env.git("clone", "-q", str(bare), str(b.path))
    b.expect = dict(a.expect)
    b.check()

    # 1. Alice updates the dataset (modify, add, delete) and pushes; Bob pulls
    for i in range(0, 500, 10):
        a.put(f"dataset/part{i % 10}/rows{i:03d}.csv", b"v2," + data(5000 + i, 1500))
    for i in range(500, 520):
        a.put(f"dataset/new/rows{i}.csv", data(i, 800))
    for i in range(1, 100, 10):
        (a.path / f"dataset/part{i % 10}/rows{i:03d}.csv").unlink()
        del a.expect[f"dataset/part{i % 10}/rows{i:03d}.csv"]
    env.commit_all(a.path, "dataset v2")
    a.git("push", "-q")
    pushes += 1
    fresh_clone_has_everything(env, bare, pushes)
    b.git("pull", "-q")
    b.expect = dict(a.expect)
    b.check()

    # 2. both change the model; Bob rebases onto Alice's and keeps his own
    a.put("model.bin", data(1001, BIG))
    env.commit_all(a.path, "alice model")
    a.git("push", "-q")
    b.put("model.bin", data(2001, BIG))
    env.commit_all(b.path, "bob model")
    assert b.git("pull", "--rebase", check=False).returncode != 0  # conflict
    assert (b.path / "model.bin").read_bytes() == data(1001, BIG)  # rebase: "ours" is upstream
    b.git("checkout", "--theirs", "--", "model.bin")  # Bob's commit
    b.git("add", "model.bin")
    b.git("-c", "core.editor=true", "rebase", "--continue")
    b.check()
    b.git("push", "-q")
    pushes += 1
    fresh_clone_has_everything(env, bare, pushes)
    a.git("pull", "-q")
    a.expect["model.bin"] = data(2001, BIG)
    a.check()

    # 3. both change it again; Bob merges and this time takes Alice's
    a.put("model.bin", data(1002, BIG))
    env.commit_all(a.path, "alice model 3")
    a.git("push", "-q")
    b.put("model.bin", data(2002, BIG))
    env.commit_all(b.path, "bob model 3")
    assert b.git("pull", "-q", check=False).returncode != 0
    assert (b.path / "model.bin").read_bytes() == data(2002, BIG)  # merge: ours kept
    b.git("checkout", "--theirs", "--", "model.bin")
    b.git("add", "model.bin")
    b.git("commit", "-q", "--no-edit")
    b.expect["model.bin"] = data(1002, BIG)
    b.check()
    b.git("push", "-q")
    pushes += 1
    fresh_clone_has_everything(env, bare, pushes)

    # 4. Alice stashes a local change of the model, pulls, pops it back
    a.put("model.bin", data(1003, BIG))
    a.git("stash", "-q")
    a.expect["model.bin"] = data(1002, BIG)
    a.check()
    a.git("pull", "-q")
    a.check()
    a.git("stash", "pop", "-q")
    a.expect["model.bin"] = data(1003, BIG)
    a.check(status_clean=False)
    assert env.out("status", "--porcelain", cwd=a.path) == " M model.bin\n"
    env.commit_all(a.path, "alice model 4")
    a.check()

    # 5. Alice resets it away and back
    a.git("reset", "-q", "--hard", "HEAD~1")
    a.expect["model.bin"] = data(1002, BIG)
    a.check()
    a.git("reset", "-q", "--hard", "ORIG_HEAD")
    a.expect["model.bin"] = data(1003, BIG)
    a.check()
    a.git("push", "-q")
    pushes += 1
    fresh_clone_has_everything(env, bare, pushes)

    # 6. Bob stops tracking the CSVs with gitdata: they go into Git itself
    b.git("pull", "-q")
    b.expect = dict(a.expect)
    b.check()
    env.data("untrack", "*.csv", cwd=b.path)
    b.git("commit", "-q", "-m", "CSVs into git")
    b.check()
    assert b.git("cat-file", "-p", "HEAD:dataset/part0/rows000.csv").stdout.startswith(b"v2,")
    b.git("push", "-q")
    pushes += 1
    fresh_clone_has_everything(env, bare, pushes)
    a.git("pull", "-q")
    a.check()
