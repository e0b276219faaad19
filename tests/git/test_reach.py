"""reach.closure against an independent oracle (Scanner.reachable, which walks pygit2 TreeEntry
objects): random histories of random trees, names chosen to confuse a raw-tree parser (spaces,
digits, modes inside names, names that sort next to each other and to directories), merges,
and a tree cache small enough to be evicted."""

from __future__ import annotations

import random
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitdata.git import reach
from gitdata.git.reach import MissingObject, Tips, _common_prefix, _diff, _parse
from gitdata.git.scan import Scanner
from gitdata.pointer import Pointer

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


def oracle(sc: Scanner) -> set[str]:
    return {h.pointer.oid for h in sc.reachable(list(sc.refs().values()))}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), commits=st.integers(1, 40), small_cache=st.booleans())
def test_closure_matches_the_tree_entry_walk(
    tmp_path_factory, monkeypatch, seed, commits, small_cache
):
    repo = build(tmp_path_factory.mktemp("r"), seed, commits)
    if small_cache:
        monkeypatch.setattr(reach, "CACHE_BYTES", 300)
    sc = Scanner(repo)
    got = reach.closure(sc, reach.tips(sc, sc.refs().values()))
    assert set(got) == oracle(Scanner(repo))
    assert all(p.oid == oid for oid, p in got.items())


def test_closure_of_a_big_flat_directory(tmp_path):
    repo = build(tmp_path / "r", seed=7, commits=60, big=True)
    sc = Scanner(repo)
    assert set(reach.closure(sc, reach.tips(sc, sc.refs().values()))) == oracle(Scanner(repo))


def test_history_false_reads_only_the_commits_trees(tmp_path):
    repo = build(tmp_path / "r", seed=3, commits=10)
    sc = Scanner(repo)
    head = str(repo.references["refs/heads/b2"].target)
    got = reach.closure(sc, reach.tips(sc, [head]), history=False)
    assert set(got) == {h.pointer.oid for h in sc.tree_pointers(sc.tree(head))}


def test_diff_finds_every_new_entry():
    rng = random.Random(5)
    for _ in range(300):
        names = sorted(rng.sample(NAMES[:15] + [f"n{i}" for i in range(40)], rng.randint(0, 30)))

        def raw(entries: dict[str, bytes]) -> bytes:
            return b"".join(b"100644 %s\0%s" % (k.encode(), v) for k, v in sorted(entries.items()))

        old = {n: rng.randbytes(20) for n in names}
        new = dict(old)
        for _ in range(rng.randint(0, 5)):
            k = rng.choice(NAMES[:15] + [f"n{i}" for i in range(40)])
            if k in new and rng.random() < 0.4:
                del new[k]
            else:
                new[k] = rng.randbytes(20) if rng.random() < 0.7 else b"\0" * 20
        ref = raw(old)
        entries, lengths = _diff(raw(new), ref, _parse(ref)[1])
        assert sum(lengths) == len(raw(new))
        reported = {sha for _, sha, _ in entries}
        assert {v for k, v in new.items() if old.get(k) != v} <= reported
        assert reported <= set(new.values())


def test_common_prefix():
    rng = random.Random(9)
    for _ in range(2000):
        a = rng.randbytes(rng.randrange(0, 5000))
        b = bytearray(a)
        if b and rng.random() < 0.8:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        b += rng.randbytes(rng.randrange(0, 3))
        i = rng.randrange(0, len(a) + 1)
        want = 0
        while i + want < len(a) and i + want < len(b) and a[i + want] == b[i + want]:
            want += 1
        assert _common_prefix(a, i, bytes(b), i) == want


def test_missing_objects_raise_when_strict(tmp_path):
    repo = build(tmp_path / "r", seed=1, commits=3)
    sc = Scanner(repo)
    with pytest.raises(MissingObject):
        reach.tips(sc, ["1" * 40])
    assert reach.tips(sc, ["1" * 40], strict=False) == Tips()
    with pytest.raises(MissingObject):
        reach.closure(sc, Tips(trees={"2" * 40}))
    assert reach.closure(sc, Tips(trees={"2" * 40}), strict=False) == {}
