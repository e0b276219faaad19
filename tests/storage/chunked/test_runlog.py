"""The store gc run log (storage/chunked/runlog.py; docs/chunked-store.md 3.5, 4.8, 6.3): the
rules as functions of listings, and the log on a real directory store."""

from __future__ import annotations

import os
import re
import time

import pytest

from gitdata.storage import StoreSpec, open_store
from gitdata.storage.chunked import manifest_store, runlog
from gitdata.storage.chunked.runlog import Limits, Run, RunLog

LIM = Limits()  # the design's: 20 min, 6 h, 120 s
T = 1_800_000_000.0


def log(at: float | None, **runs: dict[str, float]) -> RunLog:
    return RunLog({name: Run(name, dict(times)) for name, times in runs.items()}, [], at)


def test_limits_are_the_designs_unless_the_test_setting_shortens_them(monkeypatch):
    monkeypatch.delenv(runlog.TEST_TIMES, raising=False)
    lim = runlog.limits()
    assert (lim.deadline, lim.stale, lim.fence_delay) == (1200, 21600, 120)
    assert (lim.delete_cutoff, lim.stale_give_up) == (1080, 18000)  # 18 min, 5 h
    monkeypatch.setenv(runlog.TEST_TIMES, "deadline=10,fence=0.5")
    lim = runlog.limits()
    assert (lim.deadline, lim.stale, lim.fence_delay, lim.delete_cutoff) == (10, 21600, 0.5, 9)


def test_overlapping_is_p6():
    l0 = log(T, old={"planning": T - 100, "deleting": T - 50, "done": T - 10})
    t1 = T + 30
    l2 = log(
        T + 31,
        old={"planning": T - 100, "deleting": T - 50, "done": T - 10},  # done in L0
        planning={"planning": T + 5},  # deletes nothing yet
        overlapped={"planning": T - 60, "deleting": T - 20},  # deleting across P1..P4
        finished_since={"planning": T - 60, "deleting": T - 20, "done": T + 20},  # not in L0
        after_m={"planning": T, "deleting": t1 + 1.5},  # its fence saw M
        slack={"planning": T, "deleting": t1 + 0.5},  # within 1 s: counted
        expired={"planning": T - 3000, "deleting": T - 1200},  # deadline passed before L0
        in_time={"planning": T - 3000, "deleting": T - 1199},
    )
    got = sorted(r.run for r in runlog.overlapping(l0, l2, t1, LIM))
    assert got == ["finished_since", "in_time", "overlapped", "slack"]
    # no store time for the manifest: every deleting run not done in L0 counts
    got = sorted(r.run for r in runlog.overlapping(l0, l2, None, LIM))
    assert got == ["after_m", "finished_since", "in_time", "overlapped", "slack"]


def test_active_runs_and_gc_against_gc():
    lim = Limits(deadline=20, stale=60)
    now = T + 30
    lg = log(
        now,
        me={"planning": T + 29},
        done={"planning": T, "deleting": T + 1, "done": T + 2},
        stale={"planning": T - 31},
        dead_deleter={"planning": T - 20, "deleting": T + 10},  # deadline at T + 30
    )
    assert runlog.blocking(lg, "me", lim) is None
    assert not lg.runs["stale"].active(now, lim) and not lg.runs["dead_deleter"].active(now, lim)
    lg.runs["deleter"] = Run("deleter", {"planning": T + 29.5, "deleting": T + 29.9})
    blocker = runlog.blocking(lg, "me", lim)
    assert blocker is not None and blocker.run == "deleter"  # deleting: always goes first
    del lg.runs["deleter"]
    lg.runs["earlier"] = Run("earlier", {"planning": T + 28})
    blocker = runlog.blocking(lg, "me", lim)
    assert blocker is not None and blocker.run == "earlier"
    # two runs with the same store time (S3 has whole seconds) both stop: one of them may have
    # read the log before the other wrote `planning`, seen nobody and gone on, so no run id
    # may let the other proceed too (the CI run of stop 18 caught two gc runs at once)
    a = log(now, a={"planning": T + 29}, b={"planning": T + 29})
    for me, other in (("a", "b"), ("b", "a")):
        blocker = runlog.blocking(a, me, lim)
        assert blocker is not None and blocker.run == other


def test_the_log_on_a_directory_store(tmp_path):
    store = open_store(StoreSpec(url=str(tmp_path / "store")))
    empty = runlog.read_log(store)
    assert empty.runs == {} and empty.time is None  # no store yet: nothing, no time
    run = runlog.new_run_id()
    assert re.fullmatch(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}", run)
    runlog.write_state(store, run, "planning")
    runlog.write_state(store, run, "deleting")
    got = runlog.read_log(store)
    assert set(got.runs) == {run} and set(got.runs[run].times) == {"planning", "deleting"}
    assert got.time is not None and got.runs[run].deleting is not None
    assert got.runs[run].deleting <= got.time
    assert runlog.who(store, got.runs[run]).endswith(f"(pid {os.getpid()})")
    # keys older than 90 days are for gc to remove
    old = tmp_path / "store" / "chunked" / "v1" / "gc" / f"{run}.planning"
    os.utime(old, (time.time() - 91 * 86400,) * 2)
    assert runlog.expired_keys(runlog.read_log(store)) == [runlog.state_key(run, "planning")]


def test_wait_for_returns_once_the_run_is_done_or_past_its_deadline(tmp_path):
    store = open_store(StoreSpec(url=str(tmp_path / "store")))
    run = runlog.new_run_id()
    runlog.write_state(store, run, "deleting")
    lim = Limits(deadline=0.5, poll=0.05)
    started = time.monotonic()
    said: list[str] = []
    waiting = runlog.read_log(store).runs[run]
    runlog.wait_for(store, [waiting], lim, said.append)
    assert 0.3 < time.monotonic() - started < 5
    assert said and said[0].startswith(f"waiting for store gc {run} on ")
    runlog.write_state(store, run, "done")
    started = time.monotonic()
    runlog.wait_for(store, [waiting], Limits(deadline=60, poll=0.05))
    assert time.monotonic() - started < 1


def test_pause_waits_for_the_test(tmp_path, monkeypatch):
    monkeypatch.setenv(runlog.TEST_PAUSE, f"{tmp_path}:a,b")
    (tmp_path / "a.go").touch()
    runlog.pause("a")
    runlog.pause("c")  # not named: no file, no wait
    assert (tmp_path / "a.reached").exists() and not (tmp_path / "c.reached").exists()


@pytest.mark.parametrize("oids", [["0" * 32], ["1" * 32, "f" * 32]])
def test_a_push_manifest_names_its_whole_objects(tmp_path, oids):
    store = open_store(StoreSpec(url=str(tmp_path / "store")))
    key = manifest_store.put_wholes(store, oids)
    assert manifest_store.put_wholes(store, reversed(oids)) == key  # same objects, same name
    m = manifest_store.read_manifest(store, key)
    assert manifest_store.named(m).wholes == set(oids) and m.records == ()
    keys, when = manifest_store.list_manifests(store)
    assert [k.key for k in keys] == [key] and when is not None
