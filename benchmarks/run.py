#!/usr/bin/env python3
"""gitdata against git-lfs, DVC and cp on the workloads of issue 5. See docs/benchmarks.md.

    python benchmarks/run.py [--quick] [--runs N] [--tools gitdata,whole,chunked,lfs,dvc,git,cp]
                             [--workloads W1,W2,W3,W4,W5,W6,W7] [--git-data PATH] [--out FILE]

`gitdata` runs with the built-in settings (`data.chunked auto`: its new stores are chunked),
`whole` with whole objects only (`data.chunked false`, the layout before the chunked store),
`chunked` with `data.chunked true`: W1, W3 and W5-W7 (edits.py, once whatever --runs says).

A Markdown report goes to stdout, every measurement to a JSON file, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import edits
import profiles
import report
import tools as tl
import trials
from workloads import GiB, KiB, MiB, generator_name, make_big_file, make_many_files

HERE = Path(__file__).resolve().parent
ALL_TOOLS = ("gitdata", "whole", "chunked", "lfs", "dvc", "git", "cp")
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", *edits.NAMES)


def parse_size(text: str) -> int:
    units = {"k": KiB, "m": MiB, "g": GiB}
    t = text.strip().lower().rstrip("ib")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke test: small sizes, 1 run")
    p.add_argument("--runs", type=int, help="runs per tool and workload (default 3; --quick 1)")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated, of %(default)s")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma-separated")
    p.add_argument(
        "--git-data",
        help="the git-data under test: an executable, a bin/ directory or a venv "
        "(default: the git-data next to this Python, else ./.venv/bin/git-data)",
    )
    p.add_argument("--out", help="JSON results file (default benchmarks/results/<time>.json)")
    p.add_argument("--tmpdir", help="where the temporary workspace goes (default: $TMPDIR)")
    p.add_argument(
        "--xfs-dir",
        default="/dev/shm",
        help="a directory on another file system for the cross-file-system push, or 'none' "
        "(default %(default)s; skipped when it is on the same file system or too small)",
    )
    p.add_argument("--w1-size", type=parse_size, help="W1 file size (default 2g; --quick 96m)")
    p.add_argument("--w2-files", type=int, help="W2 file count (default 5000; --quick 500)")
    p.add_argument("--w4-files", type=int, help="W4 file count (default 5000; --quick 500)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--no-shim", action="store_true", help="no GNU time shim around git-data")
    p.add_argument("--no-sync", action="store_true", help="do not `sync` between steps")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run every git-data under py-spy (pip install py-spy); writes <out>-profiles/ "
        "and a summary (times of a profiled run are inflated)",
    )
    p.add_argument(
        "--report", metavar="JSON", help="only print the report of an earlier run's JSON file"
    )
    p.add_argument("--timeout", type=float, default=3600, help="per command, seconds")
    args = p.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.w1_size = args.w1_size or (96 * MiB if args.quick else 2 * GiB)
    args.w2_files = args.w2_files or (500 if args.quick else 5000)
    args.w2_dirs = 10 if args.quick else 50
    args.w4_files = args.w4_files or (500 if args.quick else 5000)
    args.tools = [t for t in args.tools.split(",") if t]
    args.workloads = [w.upper() for w in args.workloads.split(",") if w]
    for t in args.tools:
        if t not in ALL_TOOLS:
            p.error(f"unknown tool {t!r}; choose from {', '.join(ALL_TOOLS)}")
    for w in args.workloads:
        if w not in ALL_WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(ALL_WORKLOADS)}")
    return args


def resolve_git_data(given: str | None) -> Path:
    candidates = []
    if given:
        g = Path(given).expanduser().resolve()
        candidates = [g, g / "git-data", g / "bin" / "git-data"]
    else:
        candidates = [
            Path(sys.executable).parent / "git-data",
            HERE.parent / ".venv" / "bin" / "git-data",
        ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    which = None if given else shutil.which("git-data")
    if which:
        return Path(which)
    sys.exit(f"run.py: no git-data found at {', '.join(map(str, candidates))}; use --git-data")


def make_tools(args: argparse.Namespace, git_data: Path) -> tuple[list[tl.Tool], list[str]]:
    chosen: list[tl.Tool] = []
    notes: list[str] = []
    for name in args.tools:
        if name == "gitdata":
            tool: tl.Tool = tl.GitData(git_data)
        elif name == "whole":
            tool = tl.GitDataWhole(git_data)
        elif name == "chunked":
            tool = tl.GitDataChunked(git_data)
        elif name == "lfs":
            note = tl.ensure_git_lfs()
            if note:
                notes.append(note)
            tool = tl.GitLfs()
        elif name == "dvc":
            tool = tl.Dvc()
        elif name == "git":
            tool = tl.PlainGit()
        else:
            tool = tl.Copy()
        problem = tool.problem()
        if problem:
            notes.append(f"skipping {name}: {problem}")
        else:
            chosen.append(tool)
    return chosen, notes


def machine() -> dict[str, object]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mnt = parts[1]
            if str(path).startswith(mnt.rstrip("/") + "/") or str(path) == mnt:
                if len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def pick_xfs(args: argparse.Namespace, tmp: Path) -> tuple[Path | None, str]:
    if args.xfs_dir in ("", "none"):
        return None, "cross-file-system push: off (--xfs-dir none)"
    d = Path(args.xfs_dir)
    if not d.is_dir():
        return None, f"cross-file-system push: skipped, {d} is not a directory"
    if d.stat().st_dev == tmp.stat().st_dev:
        return None, f"cross-file-system push: skipped, {d} is on the same file system as {tmp}"
    need = int(args.w1_size * 1.2) + 64 * MiB
    free = shutil.disk_usage(d).free
    if free < need:
        return None, f"cross-file-system push: skipped, {d} has {free >> 20} MiB free"
    x = Path(tempfile.mkdtemp(prefix="gitdata-bench-xfs-", dir=d))
    return x, f"cross-file-system push: to {x} ({fs_type(x)})"


def describe(args: argparse.Namespace, tools: list[tl.Tool], tmp: Path, notes: list[str]) -> dict:
    versions = {t.name: t.version() for t in tools}
    versions["git"] = tl._output(["git", "--version"])
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "workspace": f"{tmp} ({fs_type(tmp)})",
        "versions": versions,
        "generator": generator_name(),
        "runs": args.runs,
        "quick": args.quick,
        "sizes": {
            "W1_bytes": args.w1_size,
            "W2_files": args.w2_files,
            "W2_file_bytes": 64 * KiB,
            "W2_dirs": args.w2_dirs,
            "W3_patch_bytes": MiB,
            "W4_files": args.w4_files,
        },
        "notes": notes,
    }


def find_pyspy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        sys.exit("run.py: --profile needs py-spy: pip install py-spy")
    return found


def generate(ctx: trials.Context, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    data = ctx.tmp / "data"
    wl = set(args.workloads)
    if wl & {"W1", "W3"}:
        ctx.big = make_big_file(data, args.w1_size, args.seed)
    if "W2" in wl:
        ctx.many = make_many_files(
            data, "W2", "data", args.w2_files, args.w2_dirs, 64 * KiB, args.seed
        )
    if "W4" in wl:
        ctx.tiny = make_many_files(data, "W4", "tiny", args.w4_files, 50, 1, args.seed)
    print(f"workloads generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def run_all(ctx: trials.Context, tools: list[tl.Tool], args: argparse.Namespace) -> None:
    """Every run: each workload group, every tool in turn, the order rotating per run."""
    wl = set(args.workloads)
    groups = [g for g in (("W1", "W3"), ("W2",), ("W4",)) if wl & set(g)]
    edits.run_edits(ctx, tools, ctx.edits)
    for run in range(args.runs):
        for group in groups:
            members = [t for t in tools if t.workloads & set(group)]
            k = run % len(members) if members else 0
            for tool in members[k:] + members[:k]:
                print(
                    f"[run {run + 1}/{args.runs}] {'+'.join(group)} {tool.name}",
                    file=sys.stderr,
                    flush=True,
                )
                trials.run_trial(ctx, tool, group, run, wl)


def reprint(path: str) -> int:
    doc = json.loads(Path(path).read_text())
    tools = list(doc["meta"]["versions"])
    print(report.header(doc["meta"]))
    print(report.body(doc["results"], tools))
    print(edits.table(doc["results"], doc["meta"].get("edits", [])))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return reprint(args.report)
    git_data = resolve_git_data(args.git_data)
    tl.compile_gitdata(git_data)
    pyspy = find_pyspy() if args.profile else ""
    tmp = Path(tempfile.mkdtemp(prefix="gitdata-bench-", dir=args.tmpdir)).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = (Path(args.out) if args.out else HERE / "results" / f"{stamp}.json").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tools, notes = make_tools(args, git_data)
    xfs, xfs_note = pick_xfs(args, tmp)
    notes.append(xfs_note)
    need = 9 * args.w1_size if {"W1", "W3"} & set(args.workloads) else 2 * GiB
    free = shutil.disk_usage(tmp).free
    if free < need:
        notes.append(f"warning: {tmp} has {free >> 30} GiB free; a run may need {need >> 30} GiB")
    profile_dir = out.with_name(out.stem + "-profiles") if args.profile else None
    if profile_dir is not None:
        notes.append(f"git-data profiled with py-spy into {profile_dir}: times are inflated")

    meta = describe(args, tools, tmp, notes)
    print(report.header(meta), flush=True)
    for n in notes:
        print(n, file=sys.stderr)

    ctx = trials.Context(
        tmp=tmp,
        xfs=xfs,
        git_data=git_data,
        shim=not args.no_shim,
        sync=not args.no_sync,
        timeout=args.timeout,
        keep=args.keep,
        profile_dir=profile_dir,
        pyspy=pyspy,
    )
    ctx.make_bindir(tools)
    t0 = time.perf_counter()
    try:
        generate(ctx, args)
        ctx.edits = edits.generate(
            ctx.tmp / "data", [w for w in args.workloads if w in edits.NAMES], args.quick, args.seed
        )
        meta["edits"] = edits.describe(ctx.edits)
        run_all(ctx, tools, args)
    finally:
        meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps({"meta": meta, "results": ctx.results}, indent=1))
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            if xfs is not None:
                shutil.rmtree(xfs, ignore_errors=True)
    print(report.body(ctx.results, [t.name for t in tools]))
    print(edits.table(ctx.results, meta.get("edits", [])))
    if profile_dir is not None and profile_dir.is_dir():
        print("\n## Profiles of git-data (py-spy, wall-clock samples incl. idle)\n")
        print(profiles.summarize_all(profile_dir))
    print(f"\nJSON: {out}")
    print(f"JSON: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
