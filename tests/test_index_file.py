"""Big files written by a hook or `git data pull` get their stat data into git's index
directly (gitdata/git/index_file.py), not by `git update-index` reading every byte back through
the filter: the index stays valid for git, `git status` is clean without running the filter,
an index this does not read falls back to update-index, and an entry the new index time would
make look clean (racy git) is left for git to check."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from conftest import Env, random_file, same_file, write

SIZE = (2 << 20) + 123
SKIP = {"GIT_DATA_SKIP_SMUDGE": "1"}


def project(env: Env, object_format: str = "sha1") -> tuple[Path, Path]:
    """A repository with a big file (above the threshold: it reaches the worktree from the
    hook) and a small text file, pushed to a bare repository (the embedded store)."""
    env.git("config", "--global", "data.bigfilethreshold", "1m")
    bare = env.root / "project.git"
    env.git("init", "-q", "--bare", f"--object-format={object_format}", str(bare))
    repo = env.root / "project"
    env.git("init", "-q", f"--object-format={object_format}", str(repo))
    env.data("track", "*.bin", cwd=repo)
    random_file(repo / "big.bin", SIZE)
    write(repo / "notes.txt", b"notes\n")
    env.commit_all(repo)
    env.git("push", "-q", str(bare), "main", cwd=repo)
    return repo, bare


def traced(env: Env, trace: Path, *args: str, cwd: Path, extra: dict[str, str] | None = None):
    trace.unlink(missing_ok=True)
    env.run(list(args), cwd=cwd, env={"GIT_TRACE2_PERF": str(trace), **(extra or {})})
    return trace.read_text()


def assert_recorded(env: Env, repo: Path, work: Path, log: str) -> None:
    """The big file is whole, no `update-index` read it, the index knows its size, and `git
    status` is clean without starting the filter."""
    assert same_file(work / "big.bin", repo / "big.bin")
    assert "update-index" not in log
    debug = env.out("ls-files", "--debug", "big.bin", cwd=work)
    assert f"size: {SIZE}\t" in debug
    status = traced(env, env.root / "status.trace", "git", "status", "--porcelain", cwd=work)
    assert "filter-process" not in status
    assert env.out("diff", "--name-only", "--", "big.bin", cwd=work) == ""


def index_version(work: Path) -> int:
    return struct.unpack(">I", (work / ".git" / "index").read_bytes()[4:8])[0]


@pytest.mark.parametrize("version", [2, 3, 4])
def test_checkout_records_stat_data_in_each_index_version(env, version):
    repo, bare = project(env)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    env.git("update-index", f"--index-version={version}", cwd=work)
    if version == 3:  # an intent-to-add entry needs the second flags word of version 3
        write(work / "new.txt", b"new\n")
        env.git("add", "-N", "new.txt", cwd=work)
    for i in range(40):  # more entries, and paths that share prefixes (version 4 strips them)
        write(work / "dir" / f"file-{i:03}.txt", b"%d\n" % i)
    env.git("add", "dir", cwd=work)
    assert index_version(work) == version
    log = traced(env, env.root / "checkout.trace", "git-data", "pull", cwd=work)
    assert index_version(work) == version
    assert_recorded(env, repo, work, log)
    env.git("fsck", "--no-progress", cwd=work)
    env.git("commit", "-q", "-m", "more", cwd=work)  # the cache tree and every entry still good
    tree = env.out("ls-tree", "-r", "--name-only", "HEAD", cwd=work).splitlines()
    assert len(tree) == 43 and "big.bin" in tree  # .gitattributes, big.bin, notes, dir: 40


def test_a_clone_records_stat_data_also_in_a_sha256_repository(env):
    repo, bare = project(env, "sha256")
    work = env.root / "clone"
    log = traced(
        env, env.root / "clone.trace", "git", "clone", "-q", str(bare), str(work), cwd=env.root
    )
    assert_recorded(env, repo, work, log)


def test_a_split_index_is_left_to_update_index(env):
    repo, bare = project(env)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    env.git("update-index", "--split-index", cwd=work)
    log = traced(env, env.root / "checkout.trace", "git-data", "pull", cwd=work)
    assert "update-index" in log
    assert same_file(work / "big.bin", repo / "big.bin")
    assert f"size: {SIZE}\t" in env.out("ls-files", "--debug", "big.bin", cwd=work)
    assert env.out("status", "--porcelain", cwd=work) == ""


def test_an_entry_racy_in_the_old_index_stays_for_git_to_check(env):
    """notes.txt is changed in place, same size, its mtime put back to the one the index
    recorded, in the second the index was written: git could only see the change by reading
    it (racy git). Rewriting the index makes its time newer; notes.txt's size is zeroed so that
    git still reads it, and `git status` shows the change."""
    repo, bare = project(env)
    env.git("config", "--global", "core.trustctime", "false")  # only mtime and size tell
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    notes, index = work / "notes.txt", work / ".git" / "index"
    when = (1_700_000_000, 1_700_000_000)
    os.utime(notes, when)
    env.git("update-index", "--refresh", cwd=work)  # records that mtime
    with open(notes, "r+b") as f:
        f.write(b"NOTES")
    os.utime(notes, when)
    os.utime(index, when)
    env.data("pull", cwd=work)
    assert f"size: {SIZE}\t" in env.out("ls-files", "--debug", "big.bin", cwd=work)
    assert env.out("status", "--porcelain", cwd=work) == " M notes.txt\n"


def test_an_index_whose_checksum_does_not_match_is_left_to_update_index(env):
    """git itself reads an index without checking its checksum (only `git fsck` does); we do
    not patch one that fails it: update-index gets it, as before."""
    repo, bare = project(env)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    index = work / ".git" / "index"
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    log = traced(env, env.root / "pull.trace", "git-data", "pull", cwd=work)
    assert "update-index" in log
    assert same_file(work / "big.bin", repo / "big.bin")
    assert env.out("status", "--porcelain", cwd=work) == ""


@pytest.mark.parametrize(
    "config, extensions",
    [
        (
            {"index.recordEndOfIndexEntries": "true", "index.recordOffsetTable": "true",
             "index.threads": "2"},
            (b"EOIE", b"IEOT"),
        ),
        ({"core.untrackedCache": "true", "index.version": "4"}, (b"UNTR",)),
    ],
    ids=["end-of-index-offsets", "untracked-cache-v4"],
)  # fmt: skip
def test_index_extensions_stay_valid(env, config, extensions):
    """Offsets into the index (EOIE, IEOT) and the untracked cache are still right after the
    stat data are written in place: git reads the index, and a commit builds on it."""
    for key, value in config.items():
        env.git("config", "--global", key, value)
    repo, bare = project(env)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    for i in range(40):
        write(work / "dir" / f"file-{i:03}.txt", b"%d\n" % i)
    write(work / "untracked.txt", b"u\n")
    env.git("add", "dir", cwd=work)
    env.git("status", "--porcelain", cwd=work)  # fills the untracked cache
    assert all(x in (work / ".git" / "index").read_bytes() for x in extensions)
    log = traced(env, env.root / "pull.trace", "git-data", "pull", cwd=work)
    assert all(x in (work / ".git" / "index").read_bytes() for x in extensions)
    assert_recorded(env, repo, work, log)
    assert env.out("status", "--porcelain", cwd=work).count("\n") == 41  # dir's 40, untracked
    env.git("commit", "-q", "-m", "dir", cwd=work)
    env.git("fsck", "--no-progress", cwd=work)


def test_a_linked_worktree_records_in_its_own_index(env):
    repo, bare = project(env)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work))
    main_index = (work / ".git" / "index").read_bytes()
    other = env.root / "other"
    log = traced(env, env.root / "wt.trace", "git", "worktree", "add", "-q", "--detach",
                 str(other), cwd=work)  # fmt: skip
    assert_recorded(env, repo, other, log)
    assert (work / ".git" / "index").read_bytes() == main_index


def test_a_sparse_index_keeps_its_directory_entries(env):
    """A sparse index (cone mode, `index.sparse`) holds a whole directory outside the cone as
    one entry: it stays as it is, and the big file at the top is recorded."""
    repo, bare = project(env)
    for i in range(3):
        write(repo / "outside" / f"f{i}.txt", b"%d\n" % i)
    env.commit_all(repo, "outside")
    env.git("push", "-q", str(bare), "main", cwd=repo)
    work = env.root / "clone"
    env.git("clone", "-q", str(bare), str(work), env=SKIP)
    env.git("sparse-checkout", "set", "--cone", "--sparse-index", "inside", cwd=work, env=SKIP)
    assert "outside/" in env.out("ls-files", "--sparse", cwd=work)  # one directory entry
    log = traced(env, env.root / "pull.trace", "git-data", "pull", cwd=work)
    assert_recorded(env, repo, work, log)
    assert "outside/" in env.out("ls-files", "--sparse", cwd=work)
    assert not (work / "outside").exists()
    env.git("sparse-checkout", "disable", cwd=work)
    assert (work / "outside" / "f2.txt").read_bytes() == b"2\n"
    assert env.out("status", "--porcelain", cwd=work) == ""
