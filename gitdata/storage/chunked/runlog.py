"""The store gc run log (docs/chunked-store.md, 3.5, 4.8 and 6.3): what lets a push and a store
gc run at the same time without a lock and without losing an object the push relies on.

Each gc run writes empty-ish keys `chunked/v1/gc/<run>.<state>`, one per state (`planning`,
`deleting`, `done`), each written once; one LIST of `chunked/v1/gc/` tells every run's states and
their times on the store's clock. A push lists the log before its existence checks (P1) and
after its manifest (P5), and waits for the runs whose deletions may have overlapped it (P6).

Time limits, on the store's clock (`Limits`): RUN_DEADLINE (a run's deletions are over by its
`deleting` time + 20 min: it starts none after + 18 min), RUN_STALE (a run with only `planning`
older than 6 h is over; it must write `deleting` before its `planning` is 5 h old),
FENCE_DELAY (a directory store's gc waits 120 s between `deleting` and its fence listing, for
NFS's cached directory listings).

Test-only settings, read from the environment (never set them outside the test suite):
- GIT_DATA_TEST_RUNLOG_TIMES="deadline=S,stale=S,fence=S,poll=S" shortens RUN_DEADLINE,
  RUN_STALE, FENCE_DELAY and the wait's polling interval to S seconds each (any subset; the
  18 min and 5 h inner limits scale with them);
- GIT_DATA_TEST_PAUSE="DIR:point1,point2" makes the process stop at each named point (`pause`):
  it creates DIR/<point>.reached and waits until the test creates DIR/<point>.go, so that a
  test can interleave a push and a gc deterministically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ...errors import GitDataError
from .. import Store

GC_PREFIX = "chunked/v1/gc/"
STATES = ("planning", "deleting", "done")

RUN_DEADLINE = 20 * 60.0
RUN_STALE = 6 * 3600.0
FENCE_DELAY = 120.0
#: Run-log keys older than this are removed by gc.
LOG_KEEP = 90 * 86400.0
#: Clock differences between a store's servers (6.3: `Td <= t1 + 1 s`).
CLOCK_SLACK = 1.0
#: How often a waiting push lists the run log again.
POLL = 5.0

TEST_TIMES = "GIT_DATA_TEST_RUNLOG_TIMES"
TEST_PAUSE = "GIT_DATA_TEST_PAUSE"


@dataclass(frozen=True)
class Limits:
    deadline: float = RUN_DEADLINE
    stale: float = RUN_STALE
    fence_delay: float = FENCE_DELAY
    poll: float = POLL

    @property
    def delete_cutoff(self) -> float:
        """No delete request starts later than `deleting` + this (18 of the 20 minutes)."""
        return self.deadline * 0.9

    @property
    def stale_give_up(self) -> float:
        """A run writes `deleting` before its `planning` is this old, or gives up (5 of 6 h)."""
        return self.stale * 5 / 6


def limits() -> Limits:
    """The time limits: the design's, or the test setting's (see the module docstring)."""
    text = os.environ.get(TEST_TIMES, "")
    if not text:
        return Limits()
    names = {"deadline": "deadline", "stale": "stale", "fence": "fence_delay", "poll": "poll"}
    values: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() in names:
            values[names[name.strip()]] = float(value)
    return Limits(**values)


def pause(point: str) -> None:
    """A test hook: stop here while the test says so (GIT_DATA_TEST_PAUSE; module docstring).
    Does nothing unless that test-only variable names `point`."""
    setting = os.environ.get(TEST_PAUSE, "")
    directory, _, points = setting.rpartition(":")
    if not directory or point not in points.split(","):
        return
    with open(os.path.join(directory, point + ".reached"), "w"):
        pass
    go = os.path.join(directory, point + ".go")
    until = time.monotonic() + 300
    while not os.path.exists(go) and time.monotonic() < until:
        time.sleep(0.02)


@dataclass
class Run:
    """One gc run as the log shows it: the store time of each state it wrote (None: not yet)."""

    run: str
    times: dict[str, float] = field(default_factory=dict)

    @property
    def planning(self) -> float | None:
        return self.times.get("planning")

    @property
    def deleting(self) -> float | None:
        return self.times.get("deleting")

    @property
    def done(self) -> float | None:
        return self.times.get("done")

    def deletions_end(self, lim: Limits) -> float | None:
        """When its deletions are over for sure (None: it has not started any)."""
        if self.deleting is None:
            return None
        return self.done if self.done is not None else self.deleting + lim.deadline

    def active(self, now: float, lim: Limits) -> bool:
        """Not done and not over by its time limits at store time `now`."""
        if self.done is not None:
            return False
        if self.deleting is not None:
            return now < self.deleting + lim.deadline
        return self.planning is not None and now < self.planning + lim.stale

    def since(self) -> float:
        return min(self.times.values())


@dataclass
class RunLog:
    """One LIST of the run log: every run, every key (for the 90-day clean-up), and the store
    time of the listing (None when the store does not tell it)."""

    runs: dict[str, Run]
    keys: list[tuple[str, float]]
    time: float | None

    def now(self) -> float:
        return self.time if self.time is not None else time.time()


def read_log(store: Store) -> RunLog:
    """The run log, in one LIST of `chunked/v1/gc/` (key-level calls refuse any other name)."""
    listing, when = store.list_keys(GC_PREFIX)
    runs: dict[str, Run] = {}
    keys = []
    for k in listing:
        name, _, state = k.key[len(GC_PREFIX) :].rpartition(".")
        runs.setdefault(name, Run(name)).times[state] = k.store_time
        keys.append((k.key, k.store_time))
    return RunLog(runs, keys, when)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(4).hex()


def state_key(run: str, state: str) -> str:
    return f"{GC_PREFIX}{run}.{state}"


def write_state(store: Store, run: str, state: str) -> None:
    """Write `state` of `run`; the body is for people (host, pid, version), never for decisions."""
    import socket

    from ... import __version__

    body = {"host": socket.gethostname(), "pid": os.getpid(), "gitdata": __version__}
    store.put_bytes(state_key(run, state), json.dumps(body).encode() + b"\n")


def who(store: Store, run: Run) -> str:
    """`host` (pid N) from a run's key, for messages; `?` when it cannot be read."""
    state = "deleting" if run.deleting is not None else "planning"
    try:
        body = json.loads(store.get_bytes(state_key(run.run, state)))
        return f"{body['host']} (pid {body['pid']})"
    except (GitDataError, ValueError, KeyError, TypeError):
        return "?"


# --- a push (4.8, P1 and P5-P6) ---------------------------------------------------------------


def overlapping(l0: RunLog, l2: RunLog, t1: float | None, lim: Limits) -> list[Run]:
    """P6: the runs whose deletions may have overlapped a push that listed `l0` (P1), wrote its
    manifest at store time `t1` (P4; None: unknown, so every run counts) and listed `l2` (P5)."""
    t0 = l0.time
    out = []
    for run in l2.runs.values():
        td = run.deleting
        if td is None:
            continue  # planning runs delete nothing yet
        before = l0.runs.get(run.run)
        if before is not None and before.done is not None:
            continue  # finished before P1: the existence checks saw its result
        if t1 is not None and td > t1 + CLOCK_SLACK:
            continue  # its fence listing came after the manifest: it keeps what M names
        if t0 is not None and td + lim.deadline <= t0:
            continue  # its deletions were over before P1
        out.append(run)
    return out


def wait_for(
    store: Store, runs: list[Run], lim: Limits, say: Callable[[str], None] | None = None
) -> RunLog:
    """Wait until each of `runs` has `done` or the store time is past its deletion deadline;
    return the last listing (the one that showed them over)."""
    if say is not None:
        for run in runs:
            say(f"waiting for store gc {run.run} on {who(store, run)} to finish")
    while True:
        log = read_log(store)
        now = log.now()
        if all(not _deleting(log.runs.get(r.run, r), now, lim) for r in runs):
            return log
        time.sleep(lim.poll)


def _deleting(run: Run, now: float, lim: Limits) -> bool:
    end = run.deletions_end(lim)
    return run.done is None and end is not None and now < end


# --- gc against gc (6.3) ----------------------------------------------------------------------


def blocking(log: RunLog, me: str, lim: Limits) -> Run | None:
    """Another active run that goes before run `me`: one that is deleting, or one whose
    `planning` is as old as mine or older (store time). A tie stops both: S3's whole seconds
    make one, and the other run may have read the log before mine was written, and gone on
    (a tie broken by run id let both proceed)."""
    mine = log.runs.get(me)
    my_time = mine.planning if mine is not None and mine.planning is not None else log.now()
    now = log.now()
    for run in sorted(log.runs.values(), key=lambda r: r.run):
        if run.run == me or not run.active(now, lim):
            continue
        if run.deleting is not None or (run.planning or 0.0) <= my_time:
            return run
    return None


def expired_keys(log: RunLog) -> list[str]:
    """Run-log keys older than 90 days (store time), for gc to remove."""
    now = log.now()
    return [key for key, when in log.keys if when < now - LOG_KEEP]
