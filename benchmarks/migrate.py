"""`git data migrate import --everything` against `git lfs migrate import --everything` and
against the floor, `git fast-export --all | git fast-import` of the same history.

The history: COMMITS commits on main, VERSIONS of which also write a new version of one of 20
big files (sizes uniform in MIN..MAX, incompressible), every commit a small text file; a tag
every 100 commits. It is written once with git fast-import, then copied for each tool. For each
tool: wall time and the peak RSS of the biggest process of the command's tree.

    python benchmarks/migrate.py            # 2,000 commits, 300 versions of 1-50 MiB (~7.5 GiB)
    python benchmarks/migrate.py --quick    # the same shape, 64 KiB-2 MiB (~300 MiB)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import compile_gitdata

WRAP = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode:
    sys.stderr.buffer.write(r.stderr)
    sys.exit(r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def size(text: str) -> int:
    units = {"k": 10, "m": 20, "g": 30}
    return int(text[:-1]) << units[text[-1].lower()] if text[-1].isalpha() else int(text)


def build(repo: Path, commits: int, versions: int, lo: int, hi: int, env: dict) -> int:
    """The source repository, through one fast-import stream; returns the bytes of big files."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    rng = random.Random(42)
    big_at = set(rng.sample(range(commits), versions))
    imp = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE,
                           env=env)  # fmt: skip
    assert imp.stdin
    out = imp.stdin
    total = 0
    when = 1_700_000_000
    for i in range(commits):
        msg = f"commit {i}".encode()
        out.write(b"commit refs/heads/main\nmark :%d\n" % (i + 1))
        out.write(b"committer B <b@x> %d +0000\ndata %d\n%s\n" % (when + i, len(msg), msg))
        if i:
            out.write(b"from :%d\n" % i)
        note = f"step {i}\n".encode()
        out.write(b"M 100644 inline notes.txt\ndata %d\n%s\n" % (len(note), note))
        if i in big_at:
            n = rng.randint(lo, hi)
            total += n
            out.write(b"M 100644 inline data/f%02d.bin\ndata %d\n" % (rng.randrange(20), n))
            left = n
            while left:
                k = min(left, 1 << 20)
                out.write(rng.randbytes(k))
                left -= k
            out.write(b"\n")
        out.write(b"\n")
        if i % 100 == 99:
            out.write(b"reset refs/tags/t%d\nfrom :%d\n\n" % (i, i + 1))
    out.close()
    if imp.wait():
        raise SystemExit("fast-import failed")
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True, env=env)
    return total


def measure(args: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", WRAP, *args], cwd=cwd, env=env,
                       capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"{args} failed: {r.stderr}")
    return wall, int(r.stdout) / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="files of 64 KiB-2 MiB")
    p.add_argument("--commits", type=int, default=2000)
    p.add_argument("--versions", type=int, default=300)
    p.add_argument("--min", default="1m")
    p.add_argument("--max", default="50m")
    p.add_argument("--skip", action="append", default=[], help="lfs, floor or gitdata")
    a = p.parse_args()
    compile_gitdata(Path(sys.executable).parent / "git-data")  # as an installed gitdata has it
    lo, hi = (64 << 10, 2 << 20) if a.quick else (size(a.min), size(a.max))
    root = Path(tempfile.mkdtemp(prefix="gitdata-migrate-bench-"))
    home = root / "home"
    home.mkdir()
    who = {"NAME": "B", "EMAIL": "b@x"}
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    env.update({f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()})
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env["PATH"]
    try:
        subprocess.run(["git-data", "install"], env=env, check=True, capture_output=True)
        if shutil.which("git-lfs"):
            subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True,
                           capture_output=True)  # fmt: skip
        src = root / "src"
        t = time.perf_counter()
        total = build(src, a.commits, a.versions, lo, hi, env)
        print(f"history: {a.commits} commits, {a.versions} versions of 20 files, "
              f"{total / (1 << 20):.0f} MiB of big files; built in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        runs = {
            "gitdata": ["git-data", "migrate", "import", "--everything", "--include", "*.bin"],
            "lfs": ["git", "lfs", "migrate", "import", "--everything", "--include=*.bin"],
        }
        results = {}
        for name, cmd in runs.items():
            if name in a.skip or (name == "lfs" and not shutil.which("git-lfs")):
                continue
            work = root / name
            shutil.copytree(src, work, symlinks=True)
            # a copy's index has other inodes: refresh it, as a user's repository would have it
            subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=work, env=env)
            results[name] = measure(cmd, work, env)
            shutil.rmtree(work)
        if "floor" not in a.skip:
            dst = root / "floor.git"
            subprocess.run(["git", "init", "-q", "--bare", str(dst)], check=True, env=env)
            script = (f"git -C {src} fast-export --all --signed-tags=strip | "
                      f"git -C {dst} fast-import --quiet")  # fmt: skip
            results["floor"] = measure(["sh", "-c", script], root, env)
        print(f"{'':<10}{'wall s':>10}{'peak RSS MiB':>15}")
        for name, (wall, rss) in results.items():
            print(f"{name:<10}{wall:>10.2f}{rss:>15.0f}")
        if "gitdata" in results and "lfs" in results:
            print(f"gitdata / git-lfs: {results['gitdata'][0] / results['lfs'][0]:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
