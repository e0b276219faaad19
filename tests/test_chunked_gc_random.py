"""Store gc against concurrent chunked pushes, as randomized interleavings (docs/chunked-store.md,
8.2 step 7): per seed, a scenario generator picks which clones push what, one or two gc runs,
and either pause points (GIT_DATA_TEST_PAUSE) released in a random order, or plain concurrency
with random small sleeps. Afterwards every pointer of every ref's history reads back from a
fresh clone (`git data fetch --all` hashes each object on arrival; the test compares the bytes
too), `git data fsck --remote origin --all` is clean, and so it is after a final quiet gc.

The store (made once per test, copied per seed) holds: `main` with live files, a few of them
relying on packs of pushes whose branches were deleted; a deleted branch whose pack is dead;
a deleted branch of small files packed together, two of them live on `main` (a mostly dead
pack: gc repacks it, and so compacts the old manifests that hold chosen records); a deleted
branch whose file was pushed whole, a third of which the next version on `main` names (gc
repacks that third and deletes the whole object). Three
clones have unpushed commits ready: files with the very bytes of dead files (the push relies
on a record in a dead pack), files sharing chunks with dead and live ones, new bytes; clone B
has the pointers of `main` only, not their bytes, and commits the pointer of a dead file (its
push may only fail, with the error that says so and naming that file, when gc took it first).

Pushes pause only at P1-P4: with `--grace 0` a push that stands still after writing its
manifest (P5, P6) while a gc starts is longer than the grace period, which 6.3 assumes no push
is (tests/test_chunked_gc.py says the same).

Replay a seed: GITDATA_GC_SEED=N (runs that seed only, on both stores). GITDATA_GC_SEEDS=N
and GITDATA_GC_S3_SEEDS=N set how many seeds the directory store and moto run (DIR_SEEDS and
S3_SEEDS by default).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Env, age_for_gc, write
from test_store_gc_race import TIMES

from gitdata.hashing import hash_bytes

#: seeds by default: about 5 s each on a directory store, 12 s on moto, on a loaded 2-core
#: machine; GITDATA_GC_SEEDS=50 and GITDATA_GC_S3_SEEDS=8 run the design's numbers
DIR_SEEDS = 12
S3_SEEDS = 2
GC_POINTS = [
    "gc-planning",
    "gc-planned",
    "gc-repacked",
    "gc-compacted",
    "gc-deleting",
    "gc-fenced",
    "gc-deleted",
]
PUSH_POINTS = ["push-P1", "push-P2", "push-P3", "push-P4"]
#: the only ways a push may fail: B's pointer of bytes it never had, once gc took the store's
PUSH_MAY_FAIL = {
    "b": (
        "not in the local cache nor in the store",
        "a store gc deleted the packs of 1 file(s) this push needs, and they are not in the local",
    )
}
#: the only way a gc may fail: another run was active
GC_MAY_FAIL = ("another store gc is running",)


def seeds(setting: str, default: int) -> list[int]:
    one = os.environ.get("GITDATA_GC_SEED")
    if one:
        return [int(one)]
    return list(range(int(os.environ.get(setting, default))))


def rand(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


@dataclass
class Base:
    """The set-up every seed starts from: `work` (store when a directory, bare repository,
    clones) is copied from `saved` before each seed."""

    env: Env
    work: Path
    saved: Path
    bare: Path
    clones: dict[str, Path]  # name -> clone; "a", "b", "c" push, "gc1", "gc2" run gc
    commits: dict[str, list[str]]  # pushing clone -> its branch's commits, oldest first
    expected: dict[str, bytes] = field(default_factory=dict)  # oid -> bytes
    never_had: set[str] = field(default_factory=set)  # the oids B has pointers of only
    s3: object | None = None  # the S3 fixture, on moto

    def git(self, *args: str, cwd: Path, **kw) -> subprocess.CompletedProcess[bytes]:
        return self.env.git(*args, cwd=cwd, **kw)

    def restore(self) -> None:
        shutil.rmtree(self.work)
        shutil.copytree(self.saved, self.work, symlinks=True)
        if self.s3 is not None:
            copy_prefix(self.s3, "saved/", "run/")
            age_for_gc(True)


def copy_prefix(s3, src: str, dst: str) -> None:
    old = s3.keys(dst)
    for i in range(0, len(old), 1000):
        s3.client.delete_objects(
            Bucket=s3.bucket, Delete={"Objects": [{"Key": k} for k in old[i : i + 1000]]}
        )
    for key in s3.keys(src):
        s3.client.copy_object(
            Bucket=s3.bucket,
            Key=dst + key[len(src) :],
            CopySource={"Bucket": s3.bucket, "Key": key},
        )


def build_base(env: Env, root: Path, url: str, endpoint: str | None) -> Base:
    """Pushes through real git build the store; see the module docstring."""
    work = root / "work"
    work.mkdir()
    env.git("config", "--global", "data.chunked", "true")
    env.git("config", "--global", "data.remote.origin.url", url)
    if endpoint:
        env.git("config", "--global", "data.remote.origin.endpointUrl", endpoint)
    rng = random.Random(12)
    bare = work / "origin.git"
    env.git("init", "-q", "--bare", str(bare))
    a = work / "a"
    env.git("init", "-q", str(a))
    env.data("track", "*.bin", cwd=a)
    env.git("remote", "add", "origin", str(bare), cwd=a)
    expected: dict[str, bytes] = {}

    def put(repo: Path, path: str, data: bytes) -> None:
        write(repo / path, data)
        expected[hash_bytes(data)] = data

    def push(repo: Path, *refs: str) -> None:
        env.git("push", "-q", "origin", *refs, cwd=repo)

    live, d1, d2 = rand(rng, 200_000), rand(rng, 180_000), rand(rng, 180_000)
    small = [rand(rng, 20_000) for _ in range(8)]
    put(a, "main/live.bin", live)
    env.commit_all(a, "live")
    push(a, "main")
    env.git("checkout", "-q", "-b", "dead", cwd=a)
    put(a, "dead/d1.bin", d1)
    put(a, "dead/d2.bin", d2)
    env.commit_all(a, "dead")
    push(a, "dead")
    env.git("checkout", "-q", "-b", "tmp", "main", cwd=a)
    for i, s in enumerate(small):
        put(a, f"tmp/s{i}.bin", s)
    env.commit_all(a, "smalls")
    push(a, "tmp")
    env.git("checkout", "-q", "main", cwd=a)
    put(a, "main/s0.bin", small[0])  # live on main: relies on tmp's pack
    put(a, "main/s1.bin", small[1])
    env.commit_all(a, "two smalls")
    push(a, "main")
    # a file pushed whole (as an older gitdata, or the same-fs rule, keeps one) on a branch
    # that goes, whose next version on main names a third of it: gc repacks that third
    # (repack_whole.py) while the pushes run
    whole = rand(rng, 600_000)
    env.git("checkout", "-q", "-b", "w", "main", cwd=a)
    put(a, "main/w.bin", whole)
    env.commit_all(a, "whole")
    env.git("-c", "data.chunked=false", "push", "-q", "origin", "w", cwd=a)
    put(a, "main/w.bin", whole[:250_000] + rand(rng, 350_000))
    env.commit_all(a, "a third of the whole file kept")
    push(a, "w")  # the remote's `w` has the whole version: the base of this one
    env.git("checkout", "-q", "main", cwd=a)
    env.git("checkout", "w", "--", "main/w.bin", cwd=a)
    env.commit_all(a, "the new version on main")
    push(a, "main")
    # B has seen the dead branch (its pointers, not its bytes) before it goes
    b = work / "b"
    env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    push(a, "--delete", "dead", "tmp", "w")
    env.git("branch", "-q", "-D", "dead", "tmp", "w", cwd=a)
    c = work / "c"
    env.git("clone", "-q", str(bare), str(c))
    gcs = {}
    for name in ("gc1", "gc2"):
        gcs[name] = work / name
        env.git("clone", "-q", "--no-checkout", str(bare), str(gcs[name]))

    commits: dict[str, list[str]] = {}

    def commit(repo: Path, name: str, files: dict[str, bytes]) -> None:
        for path, data in files.items():
            put(repo, path, data)
        env.commit_all(repo, path)
        commits.setdefault(name, []).append(env.head(repo))

    env.git("checkout", "-q", "-b", "a", cwd=a)
    commit(a, "a", {"a/d1.bin": d1, "a/y.bin": d2[:90_000] + rand(rng, 60_000)})
    commit(a, "a", {"a/s3.bin": small[3], "a/w.bin": live[:100_000] + rand(rng, 40_000)})
    env.git("checkout", "-q", "-b", "b", "origin/main", cwd=b)
    env.git(
        "checkout", "origin/dead", "--", "dead/d1.bin", cwd=b, env={"GIT_DATA_SKIP_SMUDGE": "1"}
    )
    commit(b, "b", {"b/s4.bin": small[4]})
    commit(b, "b", {"b/n.bin": d2[90_000:] + rand(rng, 50_000), "b/live.bin": live})
    env.git("checkout", "-q", "-b", "c", cwd=c)
    commit(c, "c", {"c/d2.bin": d2, "c/s5.bin": small[5]})
    commit(c, "c", {"c/m.bin": rand(rng, 150_000) + d1[:60_000]})
    age_for_gc(endpoint is not None)
    dry = env.data(
        "gc", "--remote", "origin", "--grace", "0", "--dry-run", "--json", cwd=gcs["gc1"]
    )  # fmt: skip
    assert json.loads(dry.stdout)["chunked"]["repacked_whole"] == [hash_bytes(whole)]
    saved = root / "saved"
    shutil.copytree(work, saved, symlinks=True)
    clones = {"a": a, "b": b, "c": c, **gcs}
    return Base(env, work, saved, bare, clones, commits, expected, {hash_bytes(d1)})


@dataclass
class Proc:
    name: str  # "gc1", "gc2", "push-a", ...
    args: list[str]
    cwd: Path
    points: list[str]
    pauses: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        full = dict(os.environ)
        self.pauses.mkdir(parents=True, exist_ok=True)
        if self.points:
            full["GIT_DATA_TEST_PAUSE"] = f"{self.pauses}:{','.join(self.points)}"
        out = open(self.pauses / "out", "wb")  # noqa: SIM115 - closed with the process
        self.popen = subprocess.Popen(self.args, cwd=self.cwd, env=full, stdout=out, stderr=out)

    def reached(self, point: str, timeout: float = 90) -> bool:
        """Wait until it stands at `point` (True) or has exited without it (False)."""
        assert self.popen is not None
        until = time.monotonic() + timeout
        while not (self.pauses / f"{point}.reached").exists():
            if self.popen.poll() is not None:
                return False
            assert time.monotonic() < until, f"{self.name} never reached {point}"
            time.sleep(0.01)
        return True

    def release(self, point: str) -> None:
        """Let it go on past `point` once it stands there (or has exited without it)."""
        self.reached(point)
        (self.pauses / f"{point}.go").touch()

    def finish(self) -> tuple[int, str]:
        assert self.popen is not None
        rc = self.popen.wait(timeout=180)
        return rc, (self.pauses / "out").read_text(errors="replace")


def make_schedule(seed: int, base: Base) -> list[tuple]:
    """The seed's events: ("start", proc), ("go", proc, point), ("sleep", seconds); every
    process's own events in order, the processes' interleaved at random."""
    rng = random.Random(seed)
    pushers = [n for n in ("a", "b", "c") if rng.random() < 0.75] or [rng.choice("abc")]
    gcs = ["gc1", "gc2"] if rng.random() < 0.35 else ["gc1"]
    paused = rng.random() < 0.6
    lines: list[list[tuple]] = []
    for name in gcs:
        pts = sorted(rng.sample(GC_POINTS, rng.randint(0, 2)), key=GC_POINTS.index)
        lines.append([("start", name, pts)] + [("go", name, p) for p in pts])
    for name in pushers:
        tip = rng.randrange(len(base.commits[name]))
        pts = sorted(rng.sample(PUSH_POINTS, rng.randint(0, 2)), key=PUSH_POINTS.index)
        lines.append(
            [("start", f"push-{name}", tip, pts)] + [("go", f"push-{name}", p) for p in pts]
        )
    if not paused:
        for line in lines:
            del line[1:]
            line[0] = line[0][:-1] + ([],)
    events: list[tuple] = []
    while any(lines):
        line = rng.choice([x for x in lines if x])
        events.append(line.pop(0))
        if not paused or rng.random() < 0.3:
            events.append(("sleep", round(rng.uniform(0, 0.4), 2)))
    return events


def run_schedule(base: Base, events: list[tuple], pauses: Path) -> dict[str, tuple[int, str]]:
    procs: dict[str, Proc] = {}
    try:
        for ev in events:
            if ev[0] == "sleep":
                time.sleep(ev[1])
            elif ev[0] == "go":
                procs[ev[1]].release(ev[2])
            elif ev[1].startswith("gc"):
                args = ["git-data", "gc", "--remote", "origin", "--grace", "0", "--yes"]
                p = Proc(ev[1], args, base.clones[ev[1]], ev[2], pauses / ev[1])
                procs[p.name] = p
                p.start()
            else:
                who = ev[1][len("push-") :]
                ref = f"{base.commits[who][ev[2]]}:refs/heads/{who}"
                p = Proc(
                    ev[1],
                    ["git", "push", "-q", "origin", ref],
                    base.clones[who],
                    ev[3],
                    pauses / ev[1],
                )
                procs[p.name] = p
                p.start()
    finally:
        for p in procs.values():  # nothing stays paused, whatever went wrong
            for point in p.points:
                (p.pauses / f"{point}.go").touch()
    return {name: p.finish() for name, p in procs.items()}


def check_seed(base: Base, seed: int, events: list[tuple], fresh: Path) -> list[str]:
    """What went wrong (empty: nothing)."""
    env = base.env
    problems = []
    outcomes = run_schedule(base, events, fresh.parent / f"pauses-{seed}")
    for name, (rc, out) in outcomes.items():
        if os.environ.get("GITDATA_GC_SHOW"):
            print(f"--- {name} ({rc})\n{out}")
        if rc == 0:
            continue
        allowed = GC_MAY_FAIL if name.startswith("gc") else PUSH_MAY_FAIL.get(name[5:], ())
        named = set(re.findall(r"xxh128:([0-9a-f]{32})", out))
        if not any(a in out for a in allowed) or not named <= base.never_had:
            problems.append(f"{name} failed ({rc}): {out.strip()}")
    env.git("clone", "-q", str(base.bare), str(fresh), env={"GIT_DATA_SKIP_SMUDGE": "1"})

    def data(*args: str) -> None:
        r = env.run(["git-data", *args], cwd=fresh, check=False)
        if r.returncode != 0:
            problems.append(f"git data {' '.join(args)}: {(r.stdout + r.stderr).decode().strip()}")

    data("fetch", "--all")
    objects = fresh / ".git" / "data" / "objects"
    for f in objects.rglob("*"):
        if f.is_file() and "tmp" not in f.relative_to(objects).parts:
            want = base.expected.get(f.name)
            if want is not None and f.read_bytes() != want:
                problems.append(f"{f.name}: wrong bytes read back")
    data("fsck", "--remote", "origin", "--all")
    r = env.run(
        ["git-data", "gc", "--remote", "origin", "--grace", "0", "--yes"],
        cwd=base.clones["gc1"],
        check=False,
    )
    if r.returncode != 0:
        problems.append(f"final gc: {(r.stdout + r.stderr).decode().strip()}")
    data("fsck", "--remote", "origin", "--all")
    return problems


def run_seeds(base: Base, which: list[int], tmp: Path) -> None:
    failures = []
    for seed in which:
        base.restore()
        events = make_schedule(seed, base)
        problems = check_seed(base, seed, events, tmp / f"fresh-{seed}")
        if problems:
            failures.append(
                f"seed {seed} (replay: GITDATA_GC_SEED={seed})\n  schedule: {events}\n  "
                + "\n  ".join(problems)
            )
    assert not failures, "\n".join(failures)


def test_gc_against_pushes_randomized_on_a_directory_store(env, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    base = build_base(env, tmp_path, str(tmp_path / "work" / "store"), None)
    run_seeds(base, seeds("GITDATA_GC_SEEDS", DIR_SEEDS), tmp_path)


def test_gc_against_pushes_randomized_on_s3(env, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    base = build_base(env, tmp_path, s3.url("run"), s3.endpoint)
    copy_prefix(s3, "run/", "saved/")
    base.s3 = s3
    run_seeds(base, seeds("GITDATA_GC_S3_SEEDS", S3_SEEDS), tmp_path)


@pytest.mark.parametrize("kind", ["directory", "s3"])
def test_a_push_of_pointers_only_finds_a_repacked_record_again(
    env, tmp_path, monkeypatch, request, kind
):
    """Found by seed 16: a clone without the bytes of a live file pushes a new branch, so its
    push copies the file's record (4.8), which names a mostly dead pack. A gc repacks that pack
    meanwhile; the push, after waiting for it, finds the pack gone and the file not in its
    cache: it takes the record the gc wrote (the compacted manifest's), instead of failing.
    On a directory store and on S3 (moto)."""
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    env.git("config", "--global", "data.chunked", "true")
    if kind == "s3":
        s3 = request.getfixturevalue("s3")
        env.git("config", "--global", "data.remote.origin.url", s3.url("rp"))
        env.git("config", "--global", "data.remote.origin.endpointUrl", s3.endpoint)
    else:
        env.git("config", "--global", "data.remote.origin.url", str(tmp_path / "store"))
    a, bare = env.new_repo("a"), env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=a)
    small = [os.urandom(20_000) for _ in range(8)]
    env.git("checkout", "-q", "-b", "tmp", cwd=a)
    for i, s in enumerate(small):
        write(a / f"s{i}.bin", s)
    env.commit_all(a)
    env.git("push", "-q", "origin", "tmp", cwd=a)
    env.git("checkout", "-q", "--orphan", "main", cwd=a)
    env.git("rm", "-q", "-r", "--cached", ".", cwd=a)
    for i in range(1, 8):
        (a / f"s{i}.bin").unlink()
    env.commit_all(a)  # s0.bin alone, the same bytes: main relies on tmp's pack
    env.git("push", "-q", "origin", "main", cwd=a)
    b, gcer = tmp_path / "b", tmp_path / "gcer"
    env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.git("push", "-q", "origin", "--delete", "tmp", cwd=a)
    env.git("clone", "-q", "--no-checkout", str(bare), str(gcer))
    env.git("checkout", "-q", "-b", "b", cwd=b)
    new = os.urandom(30_000)
    write(b / "new.bin", new)
    env.commit_all(b)
    age_for_gc(kind == "s3")
    push = Proc("push", ["git", "push", "-q", "origin", "b"], b, ["push-P4"], tmp_path / "p")
    push.start()
    assert push.reached("push-P4")  # it copied the record of s0.bin, naming tmp's pack
    r = env.data("gc", "--remote", "origin", "--grace", "0", "--yes", cwd=gcer)
    assert b"repacked 1 pack(s)" in r.stderr
    push.release("push-P4")
    rc, out = push.finish()
    assert rc == 0, out
    fresh = tmp_path / "fresh"
    env.git("clone", "-q", "-b", "b", str(bare), str(fresh))
    assert (fresh / "s0.bin").read_bytes() == small[0] and (fresh / "new.bin").read_bytes() == new
    env.data("fsck", "--remote", "origin", "--all", cwd=fresh)
