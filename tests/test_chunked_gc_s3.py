"""The deterministic chunked push-vs-gc races of tests/test_chunked_gc.py, on S3 (moto): a push
that relies on a pack a paused gc is about to delete, a whole gc between a paused push's pack
upload and its manifest, and a gc SIGKILLed mid-way then run again (the pointers-only push of a
copied record while gc repacks is test_chunked_gc_random's, parametrized over both stores).

Each scenario is test_chunked_gc.py's own function; only the set-up differs. moto costs a few
seconds a process, so the set-up is built once per test and restored between scenarios: the
clones and the bare repository are copied back, the store's prefix copied back from a saved one
(the copies get a new LastModified: conftest.age_for_gc waits until they are old for gc). All
scenarios run and every failure is reported. GITDATA_GC_S3_ALL=1 also runs the scenarios the
default leaves out: the kill points but `gc-packs-deleted` (the directory store's test kills at
each; a point before `deleting` waits RUN_STALE)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path

from conftest import Env, age_for_gc, write
from test_chunked_gc import (
    GC_PAUSES,
    KILL_POINTS,
    PUSH_PAUSES,
    clone,
    gc_killed_then_gc_again,
    gc_while_push_is_paused,
    push_dead_branch,
    push_mostly_dead,
    push_while_gc_is_paused,
)
from test_chunked_gc_random import copy_prefix
from test_store_gc_race import TIMES, Race, setup_race

ALL = bool(os.environ.get("GITDATA_GC_S3_ALL"))
#: after the dead manifests and packs went in DeleteObjects, before the whole objects and `done`
KILLS = KILL_POINTS if ALL else ["gc-packs-deleted"]


class Saved:
    """Directories of a test and a prefix of its bucket, as they were when saved."""

    def __init__(self, s3, prefix: str, dirs: list[Path], where: Path) -> None:
        self.s3, self.prefix, self.dirs, self.where = s3, prefix, dirs, where
        for d in dirs:
            shutil.copytree(d, where / d.name, symlinks=True)
        copy_prefix(s3, prefix, "saved/")

    def restore(self) -> None:
        for d in self.dirs:
            shutil.rmtree(d)
            shutil.copytree(self.where / d.name, d, symlinks=True)
        copy_prefix(self.s3, "saved/", self.prefix)
        age_for_gc(True)


def run_all(saved: Saved, cases: list[tuple[str, Callable[[], None]]]) -> None:
    failures = []
    for i, (name, case) in enumerate(cases):
        if i:
            saved.restore()
        try:
            case()
        except Exception:  # noqa: BLE001 - reported with the others below
            failures.append(f"{name}:\n{traceback.format_exc()}")
    assert not failures, "\n".join(failures)


class Tracked(Race):
    """A Race whose processes are released and waited for after each scenario, whatever it
    did: none stays paused into the next one."""

    procs: list[subprocess.Popen]

    def start(self, args: list[str], cwd: Path, points: list[str], name: str) -> subprocess.Popen:
        proc = super().start(args, cwd, points, name)
        self.procs.append(proc)
        return proc

    def release(self) -> None:
        for point in GC_PAUSES + PUSH_PAUSES + ["gc-planning", "push-P2", "push-P5", "push-P6"]:
            self.go(point)
        for proc in self.procs:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_chunked_push_and_gc_races_on_s3(env, s3, request, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    env.git("config", "--global", "data.chunked", "true")
    race = setup_race(env, "s3", request, tmp_path)  # the store's prefix: race/
    saved = Saved(s3, "race/", [race.repo, race.gcer, race.bare], tmp_path / "saved")

    def scenario(fn: Callable[[Race, str], None], point: str, n: int) -> Callable[[], None]:
        def run() -> None:
            pauses = tmp_path / f"pauses-{n}"
            pauses.mkdir()
            fields = {f.name: getattr(race, f.name) for f in dataclasses.fields(race)}
            one = Tracked(**fields | {"pauses": pauses})
            one.procs = []
            try:
                fn(one, point)
            finally:
                one.release()

        return run

    points = [(push_while_gc_is_paused, p) for p in GC_PAUSES]
    points += [(gc_while_push_is_paused, p) for p in PUSH_PAUSES]
    cases = [(f"{fn.__name__}[{p}]", scenario(fn, p, n)) for n, (fn, p) in enumerate(points)]
    run_all(saved, cases)


def test_gc_killed_then_gc_again_on_s3(env: Env, s3, tmp_path, monkeypatch):
    """A mostly dead pack (repacked) and a dead branch's pack (deleted), as on the directory
    store; gc killed at each point of KILLS, then run again."""
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{s3.url("cg")}"\nendpoint_url = "{s3.endpoint}"\n'
    write(repo / ".gitdata.toml", (toml + "chunked = true\n").encode())
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    live = {**push_mostly_dead(env, repo), "base.txt": b"base"}
    push_dead_branch(env, repo, "gone", os.urandom(70_000))
    gcer = clone(env, bare, "gcer")
    saved = Saved(s3, "cg/", [gcer], tmp_path / "saved")
    age_for_gc(True)

    def killed(point: str) -> Callable[[], None]:
        def run() -> None:
            gc_killed_then_gc_again(env, gcer, bare, live, point, f"-{point}")
            assert len([k for k in s3.keys("cg/") if k.endswith(".pack")]) == 1

        return run

    run_all(saved, [(point, killed(point)) for point in KILLS])
