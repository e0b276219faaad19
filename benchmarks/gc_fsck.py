"""Benchmark `git data gc` and `git data fsck` against `git rev-list --objects --all`.

    .venv/bin/python benchmarks/gc_fsck.py [--commits 10000] [--pointers 20000] [--garbage 2000]

Builds, in a temporary directory with an isolated HOME, a repository of COMMITS commits holding
POINTERS distinct pointers (POINTERS/2 data files under data/dNN/, each written twice, plus an
ordinary file changed by every commit; a tag every 1000 commits, a side branch), with history
written by one `git fast-import` and packed by `git gc`. The cache gets every referenced object
plus GARBAGE unreferenced ones, all older than the grace period; a bare `origin` holds the
referenced ones in its embedded store (for --keep-recent). Then it times, on the same repository:
git's own walk, gitdata's reachability walk alone (in process), gc (dry run, keep-recent dry run,
real), and fsck (HEAD, all history). Run it with the Python of the virtualenv whose gitdata you
want to measure: `git-data` is taken from beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xxhash
from tools import compile_gitdata

BIN = os.path.dirname(sys.executable)
DIRS = 100


def content(k: int) -> bytes:
    return b"object %d " % k * 50


def pointer(data: bytes) -> tuple[str, bytes]:
    oid = xxhash.xxh3_128_hexdigest(data)
    return oid, b"version gitdata/1\noid xxh128:%s\nsize %d\n" % (oid.encode(), len(data))


def fast_import(repo: str, commits: int, pointers: int, env: dict[str, str]) -> None:
    """One commit writes pointers/commits new pointer versions; path k % files, so every
    path is written pointers/files times over the history."""
    files = max(1, pointers // 2)
    per_commit = max(1, pointers // commits)
    start = int(time.time()) - commits * 3600  # an hour apart, the last one now
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE, env=env
    )
    assert proc.stdin is not None
    w = proc.stdin.write

    def data(b: bytes) -> None:
        w(b"data %d\n%s\n" % (len(b), b))

    k = 0
    for i in range(commits):
        w(b"commit refs/heads/main\nmark :%d\n" % (i + 1))
        w(b"committer Bench <bench@example.com> %d +0000\n" % (start + i * 3600))
        data(b"commit %d" % i)
        if i == 0:
            w(b"M 100644 inline .gitattributes\n")
            data(b"*.bin filter=data diff=data merge=data -text\n")
        for _ in range(per_commit):
            if k < pointers:
                path = b"data/d%02d/f%06d.bin" % (k % files % DIRS, k % files)
                w(b"M 100644 inline %s\n" % path)
                data(pointer(content(k))[1])
                k += 1
        w(b"M 100644 inline counter.txt\n")
        data(b"%d\n" % i)
        w(b"\n")
        if (i + 1) % 1000 == 0:
            w(b"reset refs/tags/v%d\nfrom :%d\n\n" % ((i + 1) // 1000, i + 1))
        if i + 1 == commits // 2:
            w(b"reset refs/heads/side\nfrom :%d\n\n" % (i + 1))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


def fill(root: str, datas: list[bytes], mtime: float) -> int:
    total = 0
    for data in datas:
        oid = xxhash.xxh3_128_hexdigest(data)
        d = os.path.join(root, oid[:2], oid[2:4])
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, oid)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o444)
        os.utime(path, (mtime, mtime))
        total += len(data)
    return total


def link_all(src: str, dst: str) -> None:
    for dirpath, _, names in os.walk(src):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            os.link(os.path.join(dirpath, name), os.path.join(dst, rel))


def timed(cmd: list[str], cwd: str, env: dict[str, str], runs: int = 1) -> tuple[float, str]:
    best, err = float("inf"), ""
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        best = min(best, time.perf_counter() - t)
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        err = lines[-1] if lines else ""
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.decode(errors='replace')}")
    return best, err


def reachability(repo: str, runs: int, worktree_only: bool = False) -> tuple[float, int]:
    """The walk gc does, alone: every pointer that what git gc keeps alive reaches, and every
    pointer file of the worktree (with `worktree_only`, that scan alone)."""
    from gitdata import gc, sync
    from gitdata.context import Context

    best, n = float("inf"), 0
    for _ in range(runs):
        t = time.perf_counter()
        ctx = Context(repo)
        keep = gc.worktree_keep(ctx) if worktree_only else gc.local_keep(ctx, sync.scanner(ctx))
        best, n = min(best, time.perf_counter() - t), len(keep)
    return best, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--pointers", type=int, default=20_000)
    ap.add_argument("--garbage", type=int, default=2_000, help="unreferenced cached objects")
    ap.add_argument("--runs", type=int, default=3, help="best of N for the read-only timings")
    ap.add_argument("--keep", metavar="DIR", help="build in DIR and leave it there")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    compile_gitdata(Path(BIN) / "git-data")  # as an installed gitdata has it
    if not os.path.exists(os.path.join(BIN, "git-data")):
        raise SystemExit(f"no git-data beside {sys.executable}: run it with the venv's python")

    top = args.keep or tempfile.mkdtemp(prefix="gitdata-bench-")
    os.makedirs(top, exist_ok=True)
    home = os.path.join(top, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_DATA_SKIP_SMUDGE"):
        env.pop(var, None)
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        PATH=BIN + os.pathsep + env["PATH"],
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    os.environ.update(env)  # for the in-process walk
    repo, bare = os.path.join(top, "repo"), os.path.join(top, "origin.git")
    results: dict[str, object] = {"commits": args.commits, "pointers": args.pointers}
    try:
        t = time.perf_counter()
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=env)
        fast_import(repo, args.commits, args.pointers, env)
        subprocess.run(["git", "gc", "-q"], cwd=repo, check=True, env=env)
        # a worktree and an index of 10,000 pointers (no filter is installed in this HOME)
        subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=repo, check=True, env=env)
        cache = os.path.join(repo, ".git", "data", "objects")
        old = time.time() - 7 * 86400
        size = fill(cache, [content(k) for k in range(args.pointers)], old)
        subprocess.run(["git", "init", "-q", "--bare", bare], check=True, env=env)
        link_all(cache, os.path.join(bare, "data", "objects"))
        subprocess.run(["git", "remote", "add", "origin", bare], cwd=repo, check=True, env=env)
        garbage = [b"garbage %d " % k * 40 for k in range(args.garbage)]
        size += fill(cache, garbage, old)
        objects = subprocess.run(
            ["git", "count-objects", "-v"], cwd=repo, env=env, capture_output=True, check=True
        ).stdout.decode()
        results["build_seconds"] = round(time.perf_counter() - t, 2)
        results["cache_objects"] = args.pointers + args.garbage
        results["cache_bytes"] = size
        results["git_objects"] = int(objects.split("in-pack: ")[1].split()[0])

        runs = args.runs
        rev_list = ["git", "rev-list", "--objects", "--all"]
        measures = [  # (label, command, runs): read-only ones best of `runs`
            ("git data gc --dry-run", ["git-data", "gc", "--dry-run"], runs),
            (
                "git data gc --keep-recent 30 --dry-run",
                ["git-data", "gc", "--keep-recent", "30", "--dry-run"],
                1,
            ),
            ("git data gc", ["git-data", "gc"], 1),
            ("git data gc (again: nothing to remove)", ["git-data", "gc"], 1),
            ("git data fsck", ["git-data", "fsck"], 1),
            ("git data fsck --all", ["git-data", "fsck", "--all"], 1),
        ]
        timings: dict[str, float] = {}
        notes: dict[str, str] = {}
        label = "git rev-list --objects --all"
        timings[label], notes[label] = timed(rev_list, repo, env, runs)
        label = "gitdata reachability walk (in process)"
        timings[label], kept = reachability(repo, runs)
        notes[label] = f"{kept} pointers reachable"
        label = "  of which the worktree's pointer files"
        timings[label], kept = reachability(repo, runs, worktree_only=True)
        notes[label] = f"{kept} pointer files (a worktree checked out without the filter)"
        for label, cmd, n in measures:
            timings[label], notes[label] = timed(cmd, repo, env, n)
        results["seconds"] = {k: round(v, 3) for k, v in timings.items()}
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print(
                f"repository: {args.commits} commits, {results['git_objects']} git objects, "
                f"{args.pointers} pointers; cache: {results['cache_objects']} objects "
                f"({args.garbage} unreferenced); built in {results['build_seconds']} s"
            )
            width = max(len(k) for k in timings)
            for label, secs in timings.items():
                print(f"  {label:<{width}}  {secs:7.2f} s   {notes.get(label, '')}")
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
