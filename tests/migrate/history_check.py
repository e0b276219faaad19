"""Helpers of the migrate tests: a plain Git history with big files, branches and tags, and the
check that a migrated history holds every version of every file byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import xxhash

from gitdata.pointer import parse as parse_pointer

BIG = ["data/a.bin", "data/b.bin", "models/m.pt", "données/é t.bin", "top.bin"]
SMALL = ["README.md", "src/x.py", "notes.txt"]


def blob(env, repo: Path, spec: str) -> bytes:
    return env.git("cat-file", "blob", spec, cwd=repo).stdout


def build(env, repo: Path, commits: int = 50, seed: int = 1) -> None:
    """`commits` commits on main and two other branches (one merged back), a lightweight and
    two annotated tags; big files of 2-12 KiB that change, move and go away; a .gitattributes
    of the user's own from the third commit."""
    rng = random.Random(seed)
    env.git("init", "-q", str(repo))

    def change(i: int) -> None:
        path = repo / rng.choice(BIG)
        if i % 11 == 10 and path.exists():
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(2048, 12288)))
        small = repo / rng.choice(SMALL)
        small.parent.mkdir(parents=True, exist_ok=True)
        small.write_text(f"line {i}\n" * rng.randint(1, 5))
        if i == 2:
            (repo / ".gitattributes").write_text("*.txt text\n*.md diff\n")
        a = repo / "data" / "a.bin"
        if i == 30 and a.exists():  # the same bytes at two paths
            (repo / "top.bin").write_bytes(a.read_bytes())
        env.commit_all(repo, f"commit {i}")

    main_count = commits * 3 // 5
    other = commits - main_count
    counter = iter(range(commits))
    for _ in range(main_count // 2):
        change(next(counter))
    env.git("tag", "v0", cwd=repo)
    env.git("branch", "feature", cwd=repo)
    env.git("branch", "old", cwd=repo)
    for k in range(main_count - main_count // 2):
        change(next(counter))
        if k == 3:
            env.git("tag", "-a", "v1", "-m", "release one\n\nwith a body", cwd=repo)
    env.git("checkout", "-q", "feature", cwd=repo)
    for _ in range(other // 2):
        change(next(counter))
    env.git("checkout", "-q", "old", cwd=repo)
    for _ in range(other - other // 2 - 1):
        change(next(counter))
    env.git("tag", "-a", "old-1", "-m", "on old", cwd=repo)
    env.git("checkout", "-q", "main", cwd=repo)
    merged = env.git("merge", "-q", "--no-edit", "-X", "theirs", "feature", cwd=repo, check=False)
    if merged.returncode != 0:  # modify/delete: take what the tree holds
        env.commit_all(repo, "merge feature")


def commit_map(repo: Path) -> dict[str, str]:
    text = (repo / ".git" / "data" / "migrate" / "commit-map").read_text()
    return dict(line.split() for line in text.splitlines())


def files(env, repo: Path, commit: str) -> dict[bytes, str]:
    out = env.git("ls-tree", "-r", "-z", "--full-tree", commit, cwd=repo).stdout
    found = {}
    for rec in out.split(b"\0"):
        if rec:
            meta, _, path = rec.partition(b"\t")
            found[path] = meta.split()[2].decode()
    return found


def check_same_bytes(env, repo: Path, old_commits: list[str], cmap: dict[str, str]) -> int:
    """Every file of every old commit is in its new commit: the same blob, or a pointer to the
    same bytes (which the cache holds). Returns how many pointers were checked."""
    pointers = 0
    cache = repo / ".git" / "data" / "objects"
    for old in old_commits:
        new = cmap.get(old, old)
        a, b = files(env, repo, old), files(env, repo, new)
        assert set(a) - {b".gitattributes"} == set(b) - {b".gitattributes"}, old
        for path, blob_a in a.items():
            if path == b".gitattributes" or b[path] == blob_a:
                continue
            content = blob(env, repo, blob_a)
            p = parse_pointer(blob(env, repo, b[path]))
            assert p is not None, (old, path)
            assert p.oid == xxhash.xxh3_128_hexdigest(content) and p.size == len(content)
            assert (cache / p.oid[:2] / p.oid[2:4] / p.oid).read_bytes() == content
            pointers += 1
    return pointers


def rev_list(env, repo: Path, *refs: str) -> list[str]:
    return env.out("rev-list", *refs, cwd=repo).split()
