"""One trial = one tool on one workload in a fresh repository with its own HOME.

W1 and W3 share a trial (W3 is W1's repository with 1 MiB of the file overwritten and committed
as a second version). Every timed step is followed by an untimed `sync`, so dirty pages one step
leaves behind are not written back on the next step's clock.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from measure import (
    Cmd,
    StepFailed,
    StepResult,
    bytes_read_under,
    run_step,
    traced,
    write_bin_dir,
)
from sizes import new_disk, new_written, tree_size
from tools import Tool, Trial
from workloads import BigFile, Dataset, digest_file

if TYPE_CHECKING:
    from edits import Edit

GITCONFIG = """[user]
\tname = Bench
\temail = bench@example.com
[init]
\tdefaultBranch = main
[advice]
\tdetachedHead = false
"""


class TrialAborted(Exception):
    pass


@dataclass
class Context:
    tmp: Path
    xfs: Path | None
    git_data: Path
    shim: bool
    sync: bool
    timeout: float
    big: BigFile | None = None
    many: Dataset | None = None
    tiny: Dataset | None = None
    edits: list[Edit] = field(default_factory=list)  # W5-W7 (edits.py)
    results: list[dict[str, object]] = field(default_factory=list)
    keep: bool = False
    bindir: Path = Path()
    profile_dir: Path | None = None  # --profile: py-spy output of every git-data, per step
    pyspy: str = ""

    def make_bindir(self, tools: list[Tool]) -> None:
        """Shims (or links) for every tool's programs, first on every step's PATH."""
        self.bindir = self.tmp / "bin"
        programs: dict[str, str] = {}
        for t in tools:
            programs.update(t.programs())
        write_bin_dir(self.bindir, programs, self.shim)

    def settle(self) -> None:
        if self.sync:
            os.sync()


def base_env(bindir: Path, home: Path, rss_log: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "DVC_", "BENCH_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{bindir}:{env.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        DVC_NO_ANALYTICS="1",
        BENCH_RSS_LOG=str(rss_log),
        LC_ALL="C",
    )
    return env


class Runner:
    """Runs the steps of one trial and records them in ctx.results."""

    def __init__(self, ctx: Context, tool: Tool, run: int, tag: str) -> None:
        self.ctx, self.tool, self.run = ctx, tool, run
        root = ctx.tmp / "trials" / tag
        home = root / "home"
        home.mkdir(parents=True)
        (home / ".gitconfig").write_text(GITCONFIG)
        xroot = ctx.xfs / tag if ctx.xfs is not None else None
        self.t = Trial(
            root=root,
            home=home,
            work=root / "work",
            remote=root / "remote.git",
            dvc_store=root / "dvc-store",
            xfs_remote=xroot / "remote.git" if xroot else None,
            xfs_dvc_store=xroot / "dvc-store" if xroot else None,
            env=base_env(ctx.bindir, home, root / "rss.log"),
            log=root / "log.txt",
        )
        self.xroot = xroot

    def untimed(self, cmds: list[Cmd]) -> None:
        try:
            run_step(cmds, self.t.env, self.t.log, poll=0, timeout=self.ctx.timeout)
        except StepFailed as e:
            raise TrialAborted(f"setup: {e}") from e

    def init_repos(self) -> None:
        t = self.t
        self.untimed(
            [
                *self.tool.home_setup(t),
                Cmd(["git", "init", "-q", str(t.work)], t.root),
                Cmd(["git", "init", "-q", "--bare", str(t.remote)], t.root),
                Cmd(["git", "remote", "add", "origin", str(t.remote)], t.work),
            ]
        )

    def step(
        self, workload: str, name: str, cmds: list[Cmd], record: bool = True
    ) -> dict[str, object]:
        rec: dict[str, object] = {
            "run": self.run,
            "workload": workload,
            "step": name,
            "tool": self.tool.name,
        }
        if not cmds:
            return rec  # nothing to do for this tool (e.g. `track` without a filter)
        env = self.t.env
        if self.ctx.profile_dir is not None:
            slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
            where = self.ctx.profile_dir / f"{workload}-{slug}-{self.tool.name}-r{self.run}"
            env = {**env, "BENCH_PROFILE_DIR": str(where), "BENCH_PYSPY": self.ctx.pyspy}
        try:
            res: StepResult = run_step(cmds, env, self.t.log, timeout=self.ctx.timeout)
        except StepFailed as e:
            rec.update(ok=False, error=str(e))
            if record:
                self.ctx.results.append(rec)
            print(f"    {workload} {name}: FAILED: {e}", file=sys.stderr, flush=True)
            raise TrialAborted(f"{workload} {name}") from e
        self.ctx.settle()
        rec.update(ok=True, **res.to_json())
        if record:
            self.ctx.results.append(rec)
            print(
                f"    {workload} {name}: {res.wall:.2f} s, {res.maxrss_kib / 1024:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
        return rec

    def capture(self, argv: list[str], cwd: Path) -> str:
        p = subprocess.run(argv, cwd=cwd, env=self.t.env, capture_output=True, text=True)
        return p.stdout

    def cleanup(self) -> None:
        if self.ctx.keep:
            return
        shutil.rmtree(self.t.root, ignore_errors=True)
        if self.xroot is not None:
            shutil.rmtree(self.xroot, ignore_errors=True)


def run_trial(ctx: Context, tool: Tool, group: tuple[str, ...], run: int, wanted: set[str]) -> None:
    tag = f"r{run}-{'-'.join(group)}-{tool.name}"
    r = Runner(ctx, tool, run, tag)
    try:
        if tool.name == "cp":
            copy_trial(r, group)
            return
        r.init_repos()
        if group == ("W1", "W3"):
            big_trial(r, "W1" in wanted, "W3" in wanted and "W3" in tool.workloads)
        elif group == ("W2",):
            many_trial(r)
        else:
            tiny_trial(r)
    except TrialAborted as e:
        print(f"    {tool.name}: trial stopped after a failure in {e}", file=sys.stderr)
    finally:
        r.cleanup()


def push_steps(r: Runner, wl: str, ds: Dataset, record: bool = True) -> None:
    """push to the bare repository on disk (and to the one on another file system)."""
    tool, t = r.tool, r.t
    steps = [("origin", "push")]
    if t.xfs_remote is not None:
        r.untimed(tool.xfs_setup(t))
        steps.append(("xfs", "push (other fs)"))
    for remote, name in steps:
        before = tree_size(tool.store(t, remote))
        rec = r.step(wl, name, tool.push(t, remote), record)
        after = tree_size(tool.store(t, remote))
        rec["store_new_bytes"] = after.bytes - before.bytes
        rec["store_new_files"] = after.files - before.files
        rec["store_new_disk"] = new_disk(before, after, tree_size(tool.cache(t.work)))
        if after.bytes - before.bytes < ds.total_bytes:
            rec["verify_errors"] = [
                f"the store holds {after.bytes - before.bytes} new bytes, "
                f"expected at least {ds.total_bytes}"
            ]


def clone_step(r: Runner, wl: str, ds: Dataset, dest: Path, digests: dict[str, str]) -> None:
    rec = r.step(wl, "clone", r.tool.clone(r.t, dest))
    rec["verify_errors"] = ds.verify(dest, digests)
    rec["verified_files"] = len(digests)


def big_trial(r: Runner, want_w1: bool, want_w3: bool) -> None:
    ds = r.ctx.big
    assert ds is not None
    tool, t = r.tool, r.t
    ds.copy_into(t.work)
    r.ctx.settle()
    r.step("W1", "track", tool.track(t, ds.target), want_w1)
    r.step("W1", "add", tool.add(t, ds.target), want_w1)
    r.step("W1", "commit", tool.commit(t, "v1"), want_w1)
    push_steps(r, "W1", ds, want_w1)
    dest = t.root / "clone"
    if want_w1:
        clone_step(r, "W1", ds, dest, ds.digests)
        if tool.filter_based:
            status_steps(r, dest, ds)
    # W3's fetch reads from the store on the other file system when there is one: on the same
    # one, whole-object stores hard-link instead of reading (DVC's clone knows only its default
    # remote, and copies anyway)
    other = t.xfs_remote is not None and tool.fetch_other_fs
    if not want_w3 or (want_w1 and other):
        shutil.rmtree(dest, ignore_errors=True)
    if not want_w3:
        return
    if not want_w1 or other:
        r.untimed(tool.clone(t, dest, t.xfs_remote if other else None))
    ds.apply_patch(t.work)
    r.ctx.settle()
    cache_before = tree_size(tool.cache(t.work))
    store_before = tree_size(tool.store(t))
    r.step("W3", "add", tool.add(t, ds.target))
    r.step("W3", "commit", tool.commit(t, "v2"))
    rec = r.step("W3", "push", tool.push(t))
    store_after = tree_size(tool.store(t))
    cache_after = tree_size(tool.cache(t.work))
    rec["store_new_bytes"] = store_after.bytes - store_before.bytes
    rec["store_new_files"] = store_after.files - store_before.files
    rec["store_new_disk"] = new_disk(store_before, store_after, cache_after)
    rec["store_new_written"] = new_written(store_before, store_after, cache_after)
    rec["cache_new_bytes"] = cache_after.bytes - cache_before.bytes
    if other:
        before = tree_size(tool.store(t, "xfs"))
        rec = r.step("W3", "push (other fs)", tool.push(t, "xfs"))
        after = tree_size(tool.store(t, "xfs"))
        rec["store_new_bytes"] = after.bytes - before.bytes
        rec["store_new_written"] = new_written(before, after, cache_after)
    fetch_step(r, "W3", dest, ds.v2_digests, "xfs" if other else "origin")
    shutil.rmtree(dest, ignore_errors=True)
    clone_step(r, "W3", ds, t.root / "clone-v2", ds.v2_digests)


def fetch_step(
    r: Runner, wl: str, clone: Path, digests: dict[str, str], remote: str = "origin"
) -> dict[str, object]:
    """`clone` (which has the previous version) fetches the new one, under strace: the bytes its
    processes read from the store's files (the step's time is inflated by strace)."""
    cache_before = tree_size(r.tool.cache(clone))
    trace = r.t.root / "trace" / f"{wl}-fetch"
    trace.parent.mkdir(parents=True, exist_ok=True)
    rec = r.step(wl, "fetch (strace)", traced(r.tool.fetch(r.t, clone), trace))
    rec["fetch_store_bytes"] = bytes_read_under(trace, r.tool.store(r.t, remote))
    rec["fetch_from"] = "other fs" if remote == "xfs" else "same fs"
    rec["cache_new_bytes"] = tree_size(r.tool.cache(clone)).bytes - cache_before.bytes
    bad = []
    for rel, want in digests.items():
        if digest_file(clone / rel) != want:
            bad.append(f"{rel}: wrong bytes after the fetch")
    rec["verify_errors"] = bad
    shutil.rmtree(trace.parent, ignore_errors=True)
    return rec


def status_steps(r: Runner, dest: Path, ds: Dataset) -> None:
    """`git status` on the fresh clone (right after it and the byte check); then with racy
    timestamps (the index's mtime set to the file's, so git must re-check the content through
    the clean filter); then after `touch` (new mtime and ctime). Each twice: #2 shows whether
    #1 left an index that no longer needs the filter."""
    f = dest / ds.target
    index = dest / ".git" / "index"

    def status(name: str) -> dict[str, object]:
        out = r.t.root / f"status-{len(r.ctx.results)}.txt"
        rec = r.step("W1", name, [Cmd(["git", "status", "--porcelain"], dest, stdout=out)])
        rec["porcelain"] = out.read_text(errors="replace")[:2000]
        return rec

    status("status (fresh clone)")
    _next_second(f)
    st = os.stat(f)
    ist = os.stat(index)
    os.utime(index, ns=(ist.st_atime_ns, st.st_mtime_ns))
    status("status racy #1")
    status("status racy #2")
    os.utime(f)  # touch: new mtime and ctime, same bytes
    _next_second(f)
    status("status touch #1")
    status("status touch #2")


def _next_second(f: Path) -> None:
    """Wait until the clock is past the second of `f`'s mtime. git (built without USE_NSEC, as
    Debian's is) compares the index's and a file's mtimes in whole seconds: an index written in
    the file's second still finds it racy next time. A user runs `git status` later than the
    `touch`; so do we, or #2 measures the clock rather than what #1 left behind."""
    time.sleep(max(0.0, math.floor(os.stat(f).st_mtime) + 1.05 - time.time()))


def many_trial(r: Runner) -> None:
    ds = r.ctx.many
    assert ds is not None
    tool, t = r.tool, r.t
    ds.copy_into(t.work)
    r.ctx.settle()
    r.step("W2", "track", tool.track(t, ds.target))
    r.step("W2", "add", tool.add(t, ds.target))
    r.step("W2", "commit", tool.commit(t, "v1"))
    push_steps(r, "W2", ds)
    clone_step(r, "W2", ds, t.root / "clone", ds.digests)


def tiny_trial(r: Runner) -> None:
    ds = r.ctx.tiny
    assert ds is not None
    tool, t = r.tool, r.t
    ds.copy_into(t.work)
    r.ctx.settle()
    r.step("W4", "track", tool.track(t, ds.target))
    rec = r.step("W4", "add", tool.add(t, ds.target))
    rec["files"] = ds.files
    rec["us_per_file"] = float(rec["wall_s"]) / ds.files * 1e6  # type: ignore[arg-type]


def copy_trial(r: Runner, group: tuple[str, ...]) -> None:
    """The floor: `cp` of the same bytes (to the same file system), and `cat` to /dev/null."""
    t = r.t
    t.root.mkdir(parents=True, exist_ok=True)
    ds = r.ctx.big if group == ("W1", "W3") else r.ctx.many
    if ds is None:
        return
    wl = "W1" if group == ("W1", "W3") else "W2"
    src = ds.root / ds.target
    r.step(wl, "cp", [Cmd(["cp", "-r", str(src), str(t.root / "copy")], t.root)])
    r.step(
        wl,
        "cat",
        [Cmd(["sh", "-c", "find . -type f -exec cat {} +"], src.parent, stdout_null=True)],
    )
