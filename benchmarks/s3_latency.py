"""Many small files over S3 with latency (issue 12): N files of 64 KiB (default 2,000) pushed to
and cloned from a moto server behind a proxy that answers every request late (20 ms by
default: tests/faultproxy.py in pass-through mode), gitdata against DVC on the same proxy and
bucket. Reports requests (by S3 operation) and wall time of each step, gitdata/DVC ratios, and
the peak RSS of each git-data process of gitdata's steps (GNU time, through measure.py's shim).

    .venv/bin/python benchmarks/s3_latency.py                    # after ./install.sh --test
    .venv/bin/python benchmarks/s3_latency.py --files 200 --delay-ms 20   # quick

gitdata: `git push` (the pre-push hook uploads) to a bare repository on disk, then `git clone`
(the filter and its fetch bring the bytes); once with whole objects (`chunked = false`) and once
with the chunked store (`chunked = true`), each under its own prefix. DVC: `dvc add data` +
`git commit`, `dvc push`, then `git clone` + `dvc pull`. Only the S3 requests are counted and
only the steps that talk to the store are timed: both tools read the same files from the page
cache. DVC (with dvc-s3) is installed once into benchmarks/.dvc-venv, as for run.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import boto3  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from measure import parse_shim_log, write_bin_dir  # noqa: E402
from s3_throughput import start_moto  # noqa: E402
from tools import DVC_VENV, compile_gitdata, install_dvc  # noqa: E402

BUCKET = "bench"
DVC = DVC_VENV / "bin" / "dvc"


def ensure_dvc_s3() -> str:
    """'' when benchmarks/.dvc-venv has DVC with its S3 plugin, else why not (one line)."""
    if not DVC.exists():
        why = install_dvc()
        if why:
            return why
    pip = [str(DVC_VENV / "bin" / "python"), "-m", "pip"]
    if subprocess.run([*pip, "show", "-q", "dvc-s3"], capture_output=True).returncode == 0:
        return ""
    print("installing dvc-s3 into the DVC virtualenv (once) ...", file=sys.stderr, flush=True)
    p = subprocess.run([*pip, "install", "-q", "dvc-s3"], capture_output=True, text=True)
    return "" if p.returncode == 0 else f"pip install dvc-s3 failed: {p.stderr.strip()[-200:]}"


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-600:]}")


def make_files(root: Path, n: int, size: int) -> None:
    (root / "data").mkdir(parents=True)
    for i in range(n):
        (root / "data" / f"{i:05d}.bin").write_bytes(os.urandom(size))


class Steps:
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.rows: list[tuple[str, str, float, Counter[str]]] = []
        self.rss: list[str] = []  # per gitdata step: its git-data processes' peak RSS

    def timed(self, tool: str, step: str, commands: list[tuple[list[str], Path]], env) -> None:
        log = env.get("BENCH_RSS_LOG")
        if log:
            Path(log).write_bytes(b"")
        start = len(self.proxy.requests)
        t0 = time.monotonic()
        for argv, cwd in commands:
            run(argv, cwd, env)
        wall = time.monotonic() - t0
        ops = Counter(op for op, _ in self.proxy.requests[start:])
        self.rows.append((tool, step, wall, ops))
        if log and tool != "dvc":
            procs = [(kib, cmd.split(" ", 2)[1]) for kib, cmd in parse_shim_log(Path(log))]
            peaks = ", ".join(f"{sub} {kib / 1024:.0f} MiB" for kib, sub in sorted(procs)[::-1])
            self.rss.append(f"- {tool} {step}, peak RSS of each git-data process: {peaks}")


def gitdata_side(
    tmp: Path, n: int, size: int, endpoint: str, steps: Steps, env, chunked: bool
) -> None:
    tool = "gitdata chunked" if chunked else "gitdata"
    name = tool.replace(" ", "-")
    work, bare = tmp / f"{name}-work", tmp / f"{name}-remote.git"
    run(["git", "init", "-q", "--bare", str(bare)], tmp, env)
    run(["git", "init", "-q", "-b", "main", str(work)], tmp, env)
    make_files(work, n, size)
    (work / ".gitdata.toml").write_text(
        f'[remote.origin]\nurl = "s3://{BUCKET}/{name}"\nendpoint_url = "{endpoint}"\n'
        f"chunked = {'true' if chunked else 'false'}\n"
    )
    for argv in (
        ["git", "data", "track", "*.bin"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "data"],
        ["git", "remote", "add", "origin", str(bare)],
    ):
        run(argv, work, env)
    steps.timed(tool, "push", [(["git", "push", "-q", "origin", "main"], work)], env)
    clone = ["git", "clone", "-q", str(bare), str(tmp / f"{name}-clone")]
    steps.timed(tool, "clone", [(clone, tmp)], env)


def dvc_side(tmp: Path, n: int, size: int, endpoint: str, steps: Steps, env) -> None:
    work, bare = tmp / "dvc-work", tmp / "dvc-remote.git"
    dvc = str(DVC)
    run(["git", "init", "-q", "--bare", str(bare)], tmp, env)
    run(["git", "init", "-q", "-b", "main", str(work)], tmp, env)
    make_files(work, n, size)
    for argv in (
        [dvc, "init", "-q"],
        [dvc, "remote", "add", "-d", "store", f"s3://{BUCKET}/dvc"],
        [dvc, "remote", "modify", "store", "endpointurl", endpoint],
        [dvc, "add", "-q", "data"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "data"],
        ["git", "remote", "add", "origin", str(bare)],
        ["git", "push", "-q", "origin", "main"],
    ):
        run(argv, work, env)
    steps.timed("dvc", "push", [([dvc, "push", "-q"], work)], env)
    clone = tmp / "dvc-clone"
    run(["git", "clone", "-q", str(bare), str(clone)], tmp, env)
    steps.timed("dvc", "clone", [([dvc, "pull", "-q"], clone)], env)


def report(steps: Steps, args: argparse.Namespace) -> str:
    lines = [
        f"## {args.files} files of {args.size_kib} KiB over S3, {args.delay_ms} ms per request",
        "",
        "| tool | step | wall s | requests | by operation |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    by = {}
    for tool, step, wall, ops in steps.rows:
        by[(tool, step)] = (wall, sum(ops.values()))
        detail = ", ".join(f"{op} {k}" for op, k in sorted(ops.items()))
        lines.append(f"| {tool} | {step} | {wall:.2f} | {sum(ops.values())} | {detail} |")
    lines += ["", *steps.rss, ""]
    for tool in ("gitdata", "gitdata chunked"):
        for step in ("push", "clone"):
            if (tool, step) in by and ("dvc", step) in by:
                g, d = by[(tool, step)], by[("dvc", step)]
                lines.append(
                    f"- {tool} {step}: time {g[0] / d[0]:.2f}x DVC's, requests {g[1]} vs "
                    f"{d[1]} (target, chunked: at most 50 requests and 0.2x)"
                )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size-kib", type=int, default=64)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--no-dvc", action="store_true", help="gitdata only")
    ap.add_argument(
        "--store",
        choices=["whole", "chunked", "both"],
        default="both",
        help="gitdata's store format: whole objects, the chunked store, or one run of each",
    )
    args = ap.parse_args()
    gitdata_bin = Path(sys.executable).parent
    if not (gitdata_bin / "git-data").exists():
        sys.exit(f"no git-data beside {sys.executable}: run it with .venv/bin/python")
    compile_gitdata(gitdata_bin / "git-data")
    why = "" if args.no_dvc else ensure_dvc_s3()
    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="gitdata-s3-latency-") as d:
            tmp = Path(d)
            home = tmp / "home"
            home.mkdir()
            env = {
                **os.environ,
                "HOME": str(home),
                "GIT_CONFIG_NOSYSTEM": "1",
                "PATH": f"{gitdata_bin}{os.pathsep}{os.environ['PATH']}",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            env.pop("AWS_PROFILE", None)
            # git-data runs under GNU time (benchmarks/measure.py's shim): exact peak RSS per
            # process; with BENCH_PYSPY and BENCH_PROFILE_DIR set, under py-spy as well
            write_bin_dir(tmp / "bin", {"git-data": str(gitdata_bin / "git-data")}, shim=True)
            env["PATH"] = f"{tmp / 'bin'}{os.pathsep}{env['PATH']}"
            env["BENCH_RSS_LOG"] = str(tmp / "rss.log")
            for argv in (
                ["git", "config", "--global", "user.name", "bench"],
                ["git", "config", "--global", "user.email", "bench@example.com"],
                ["git", "config", "--global", "init.defaultBranch", "main"],
                ["git", "data", "install"],
            ):
                run(argv, home, env)
            s3 = boto3.client(
                "s3", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="testing", aws_secret_access_key="testing",
            )  # fmt: skip
            s3.create_bucket(Bucket=BUCKET)
            with FaultProxy(endpoint, delay=args.delay_ms / 1000) as proxy:
                steps = Steps(proxy)
                size = args.size_kib << 10
                for chunked in {"whole": [False], "chunked": [True]}.get(args.store, [False, True]):
                    gitdata_side(tmp, args.files, size, proxy.endpoint, steps, env, chunked)
                if not args.no_dvc and not why:
                    dvc_side(tmp, args.files, size, proxy.endpoint, steps, env)
            print(report(steps, args))
            if why:
                print(f"\nDVC not measured: {why}")
    finally:
        moto.terminate()
        moto.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
