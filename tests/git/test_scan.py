"""Scanner (git rev-list decides, git cat-file reads) against an independent oracle that walks every
tree with pygit2 TreeEntry objects: random histories of random trees, names chosen to confuse a
parser (spaces, digits, modes inside names, names that sort next to each other and to
directories), merges, executable files, ordinary content beside pointers."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitdata.errors import GitError
from gitdata.git.scan import Scanner, cat_blobs
from gitdata.pointer import Pointer, parse

NAMES = [
    "a", "a.b", "a-b", "a0", "a 100644 b", "40000 x", "100644 ", "b", "bb", "b.bin", "dir",
    "dir.bin", "dir0", "z", "\u00e9t\u00e9", "a/b", "dir/x", "dir/y", "dir/sub/z", "a.b/c",
]  # fmt: skip


def build(path: Path, seed: int, commits: int, big: bool = False) -> pygit2.Repository:
    """A random history: each commit starts from a random earlier commit (sometimes merging a
    second one) and adds, changes or removes a few files."""
    rng = random.Random(seed)
    repo = pygit2.init_repository(str(path), bare=True)
    sig = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
    names = NAMES + ([f"flat/f{i:04d}" for i in range(300)] if big else [])
    history: list[tuple[pygit2.Oid, dict[str, tuple[pygit2.Oid, int]]]] = []
    n = 0
    for c in range(commits):
        parents, files = [], {}
        if history:
            base = rng.choice(history)
            parents, files = [base[0]], dict(base[1])
            if len(history) > 2 and rng.random() < 0.2:
                other = rng.choice(history)
                if other[0] != base[0]:
                    parents.append(other[0])
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(names)
            if name in files and rng.random() < 0.3:
                del files[name]
                continue
            n += 1
            data = (
                Pointer(f"{rng.getrandbits(128):032x}", n).encode()
                if rng.random() < 0.7
                else b"ordinary %d" % n
            )
            files[name] = (repo.create_blob(data), rng.choice([0o100644, 0o100644, 0o100755]))
        # a file and a directory of the same name cannot both exist: drop the file
        dirs = {p.rsplit("/", 1)[0] for p in files if "/" in p}
        dirs |= {d.rsplit("/", 1)[0] for d in dirs if "/" in d}
        for d in dirs:
            files.pop(d, None)
        index = pygit2.Index()
        for name, (blob, mode) in files.items():
            index.add(pygit2.IndexEntry(name, blob, mode))
        tree = index.write_tree(repo)
        oid = repo.create_commit(None, sig, sig, f"c{c}", tree, parents)
        history.append((oid, files))
    for i, (oid, _) in enumerate(history[-3:]):
        repo.references.create(f"refs/heads/b{i}", oid)
    return repo


def oracle(repo: pygit2.Repository, commits: list[pygit2.Oid], history: bool = True) -> set[str]:
    """Every pointer in the trees of `commits` (and their ancestors), by walking TreeEntries."""
    seen_commits: set[pygit2.Oid] = set()
    found: set[str] = set()
    stack = list(commits)
    while stack:
        oid = stack.pop()
        if oid in seen_commits:
            continue
        seen_commits.add(oid)
        commit = repo[oid]
        trees = [commit.tree]
        while trees:
            for entry in trees.pop():
                if entry.type_str == "tree":
                    trees.append(repo[entry.id])
                elif entry.type_str == "blob":
                    p = parse(repo[entry.id].data)
                    if p is not None:
                        found.add(p.oid)
        if history:
            stack.extend(commit.parent_ids)
    return found


def heads(repo: pygit2.Repository) -> list[pygit2.Oid]:
    return [repo.references[r].target for r in repo.references if r.startswith("refs/heads/")]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), commits=st.integers(1, 40))
def test_history_matches_the_tree_entry_walk(tmp_path_factory, seed, commits):
    path = tmp_path_factory.mktemp("r")
    repo = build(path, seed, commits)
    sc = Scanner(str(path))
    got = sc.history(str(h) for h in heads(repo))
    assert set(got) == oracle(repo, heads(repo))
    assert all(h.pointer.oid == oid and repo[h.blob].data == h.pointer.encode()
               for oid, h in got.items())  # fmt: skip


def test_snapshot_lists_every_path_and_history_excludes(tmp_path):
    repo = build(tmp_path / "r", seed=3, commits=30, big=True)
    sc = Scanner(str(tmp_path / "r"))
    head = repo.references["refs/heads/b2"].target
    snap = sc.snapshot(str(head))
    assert {h.pointer.oid for h in snap} == oracle(repo, [head], history=False)
    assert len(snap) == len({h.path for h in snap})  # one hit per path, duplicates included
    parent = repo[head].parent_ids[0]
    added = sc.introduced([str(head)], [str(parent)])
    assert set(added) <= oracle(repo, [head], history=False)
    assert set(added).isdisjoint(oracle(repo, [parent], history=False))


def test_a_missing_tree_is_an_error_naming_it(tmp_path):
    repo = build(tmp_path / "r", seed=1, commits=3)
    head = repo.references["refs/heads/b2"].target
    tree = repo[head].tree_id
    obj = tmp_path / "r" / "objects" / str(tree)[:2] / str(tree)[2:]
    obj.chmod(0o644)
    obj.unlink()
    sc = Scanner(str(tmp_path / "r"))
    with pytest.raises(GitError, match=f"tree {tree} is missing"):
        sc.history([str(head)])


def test_a_missing_blob_is_an_error_naming_it(tmp_path):
    repo = build(tmp_path / "r", seed=1, commits=3)
    head = repo.references["refs/heads/b2"].target
    blob = next(e.id for e in repo[head].tree if e.type_str == "blob")
    obj = tmp_path / "r" / "objects" / str(blob)[:2] / str(blob)[2:]
    obj.chmod(0o644)
    obj.unlink()
    sc = Scanner(str(tmp_path / "r"))
    with pytest.raises(GitError, match=f"{blob} is missing"):
        sc.snapshot(str(head))


def test_many_blobs_stream_through_and_an_early_stop_does_not_hang(tmp_path):
    """More blobs than the pipes hold, so feeder and reader must overlap; a reader that stops
    early leaves no process or thread behind."""
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    blobs = [(str(repo.create_blob(Pointer(f"{i:032x}", i).encode())), i) for i in range(20000)]
    got = list(cat_blobs(blobs, set(), str(tmp_path / "r")))
    assert [parse(d).size for _, _, d in got] == list(range(20000))  # type: ignore[union-attr]
    it = cat_blobs(blobs, {blobs[1][0]}, str(tmp_path / "r"))
    first, second = next(it), next(it)
    assert first[2] is not None and second[2] is None  # a known blob is not read again
    it.close()
    assert not any(t.name == "cat-file feed" for t in threading.enumerate())
