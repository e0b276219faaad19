"""What gitdata adds to git commands that touch no data file (issue 10's target: < 10 ms).

    .venv/bin/python benchmarks/hook_cost.py [--runs 20]

In a temporary directory with an isolated HOME, three identical repositories (a tracked `*.bin`
pattern, 20 data files of 64 KiB, 200 text files, a branch `other` that differs from `main` in one
text file): plain git with no gitdata at all; gitdata as installed now (`git data install`: the
filter and the pre-push shim); and gitdata with the post-checkout/post-merge/post-commit/
post-rewrite shims that earlier versions installed, each starting `git-data` in Python. Times
`git commit -a` of a one-line text change and `git checkout` of the other branch, RUNS times
each, and prints the medians and what gitdata adds to each. `git-data` is taken from beside the
Python running the script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import compile_gitdata

BIN = os.path.dirname(sys.executable)
OLD_SHIMS = ("post-checkout", "post-merge", "post-commit", "post-rewrite")


def run(args: list[str], cwd: str, env: dict[str, str]) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


def make_repo(root: str, name: str, env: dict[str, str], gitdata: bool, old_shims: bool) -> str:
    repo = os.path.join(root, name)
    run(["git", "init", "-q", "-b", "main", repo], root, env)
    if gitdata:
        run(["git-data", "track", "*.bin"], repo, env)
        if old_shims:
            for hook in OLD_SHIMS:
                path = os.path.join(repo, ".git", "hooks", hook)
                with open(path, "w") as f:
                    f.write(f'#!/bin/sh\nexec git-data hook {hook} "$@"\n')
                os.chmod(path, 0o755)
    for i in range(20):
        with open(os.path.join(repo, f"d{i}.bin"), "wb") as f:
            f.write(os.urandom(64 << 10))
    for i in range(200):
        with open(os.path.join(repo, f"t{i}.txt"), "w") as f:
            f.write(f"text {i}\n")
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "base"], repo, env)
    run(["git", "branch", "other"], repo, env)
    run(["git", "checkout", "-q", "other"], repo, env)
    with open(os.path.join(repo, "t0.txt"), "a") as f:
        f.write("on other\n")
    run(["git", "commit", "-q", "-am", "other"], repo, env)
    run(["git", "checkout", "-q", "main"], repo, env)
    return repo


def timed(args: list[str], cwd: str, env: dict[str, str]) -> float:
    t = time.perf_counter()
    run(args, cwd, env)
    return time.perf_counter() - t


def measure(repo: str, env: dict[str, str], runs: int) -> dict[str, float]:
    commits, checkouts = [], []
    for i in range(runs):
        with open(os.path.join(repo, "t1.txt"), "a") as f:
            f.write(f"edit {i}\n")
        commits.append(timed(["git", "commit", "-q", "-am", f"edit {i}"], repo, env))
    for i in range(runs):
        branch = "other" if i % 2 == 0 else "main"
        checkouts.append(timed(["git", "checkout", "-q", branch], repo, env))
    return {"commit": statistics.median(commits), "checkout": statistics.median(checkouts)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    compile_gitdata(Path(BIN) / "git-data")  # as an installed gitdata has it
    with tempfile.TemporaryDirectory(prefix="gitdata-hooks-") as root:
        results = {}
        for label, gitdata, old in (
            ("plain git", False, False),
            ("gitdata", True, False),
            ("gitdata, old post-* shims", True, True),
        ):
            home = os.path.join(root, f"home-{len(results)}")
            os.makedirs(home)
            env = dict(os.environ, HOME=home, GIT_CONFIG_NOSYSTEM="1",
                       PATH=BIN + os.pathsep + os.environ["PATH"],
                       GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x",
                       GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")  # fmt: skip
            if gitdata:
                run(["git-data", "install"], root, env)
            repo = make_repo(root, f"repo{len(results)}", env, gitdata, old)
            results[label] = measure(repo, env, args.runs)
    base = results["plain git"]
    print(f"| median of {args.runs} runs | git commit -a | added | git checkout | added |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        cells = [f"{r[k] * 1000:.1f} ms | {(r[k] - base[k]) * 1000:+.1f} ms" for k in base]
        print(f"| {label} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
