"""Store gc of a chunked store on S3 (moto) while its listings are cut (docs/chunked-store.md,
8.2 step 7, "fault proxy during gc (cut LIST)"): each ListObjectsV2 a gc run makes (the run
log, the whole objects, the packs, the manifests when planning and at the fence, the run log
before and while deleting) is cut mid-answer, through tests/faultproxy.py: the headers cut
short (drop-mid) or the body cut short (truncate). gc either retries and finishes, or stops
with one error line; a cut listing never makes it take a listed pack or manifest for absent,
so every file of every ref's history reads back afterwards, fsck is clean, and a gc without
faults then finishes with fsck clean again. The store is test_chunked_gc_random's."""

from __future__ import annotations

import os

from conftest import age_for_gc
from faultproxy import DROP_MID, TRUNCATE, FaultProxy, Rule
from s3_fixtures import s3_project
from test_chunked_gc import clone, push_dead_branch
from test_chunked_gc_random import Base, build_base, copy_prefix
from test_store_gc_race import TIMES

RUNLOG = r"prefix=run/chunked/v1/gc/"
MANIFESTS = r"prefix=run/chunked/v1/manifests/"
WHOLES = r"prefix=run/(&|$)"
PACKS = r"prefix=run/chunked/v1/packs/"
#: Per gc run: how its listings are cut (truncate: the share of the body that comes), which
#: (query of the requests, which of them: 1 is the first, -n every one from the nth on), and
#: what gc must do: finish or stop. The run log is listed by the gc-against-gc check,
#: before `deleting` (the planning time check), before each batch of deletions (the 18 min
#: check: manifests, then packs; how many depends on what is dead) and by the clean-up of old
#: run-log keys; the manifests when planning and at the fence. The first runs cut each listing
#: once; the last ones, one for good (the run log from its first batch check on).
#: A page of the whole objects' listing is retried on its own since it was cut once here (the
#: headers, or the whole body) and gc stopped: botocore retries only a body cut inside its XML.
#: Headers whole and not one byte of the body was an empty listing until s3_client refused it:
#: an empty listing of packs made gc delete every old manifest (no record's packs existed).
CASES = [
    (
        "once each",
        DROP_MID,
        0.5,
        [(RUNLOG, 1), (WHOLES, 1), (PACKS, 1), (MANIFESTS, 2), (RUNLOG, 3)],
        "finish",
    ),
    ("once each", TRUNCATE, 0.5, [(WHOLES, 1), (MANIFESTS, 1), (RUNLOG, 2)], "finish"),
    (
        "once each, no body",
        TRUNCATE,
        0.0,
        [(WHOLES, 1), (PACKS, 1), (RUNLOG, 1), (MANIFESTS, 2)],
        "finish",
    ),
    ("once each, no body", TRUNCATE, 0.0, [(MANIFESTS, 1), (RUNLOG, 2), (RUNLOG, 3)], "finish"),
    ("whole objects, for good", TRUNCATE, 0.5, [(WHOLES, -1)], "stop"),
    ("manifests from the fence on, for good", TRUNCATE, 0.5, [(MANIFESTS, -2)], "stop"),
    ("run log from the first batch on, for good", DROP_MID, 0.5, [(RUNLOG, -3)], "stop"),
]


def test_gc_survives_or_stops_cleanly_on_each_cut_listing(env, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", TIMES)
    base: Base = build_base(env, tmp_path, s3.url("run"), s3.endpoint)
    copy_prefix(s3, "run/", "saved/")
    base.s3 = s3
    gc1 = base.clones["gc1"]
    fresh = tmp_path / "fresh"
    env.git("clone", "-q", str(base.bare), str(fresh), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    failures: list[str] = []
    outcomes: list[str] = []
    with FaultProxy(s3.endpoint) as proxy:
        for name, kind, keep, cuts, expect in CASES:
            base.restore()
            env.git("config", "data.remote.origin.endpointUrl", proxy.endpoint, cwd=gc1)
            rules = [
                Rule(
                    kind,
                    ops={"ListObjectsV2"},
                    query=q,
                    nth={n} if n > 0 else range(-n, 999),
                    keep=keep,
                )
                for q, n in cuts
            ]
            proxy.clear()
            proxy.add(*rules)
            r = env.run(
                ["git-data", "gc", "--remote", "origin", "--grace", "0", "--yes"],
                cwd=gc1,
                check=False,
            )
            proxy.clear()
            err = r.stderr.decode(errors="replace")
            case = f"{name} ({kind})"
            outcomes.append(f"{case}: {'finished' if r.returncode == 0 else err.strip()}")
            if not all(rule.fired for rule in rules):
                failures.append(f"{case}: gc made no such listing: {cuts}")
                continue
            lines = [x for x in err.splitlines() if x.startswith("git-data: error:")]
            if expect == "finish" and r.returncode != 0:
                failures.append(f"{case}: a listing cut once was not retried: {err}")
            if expect == "stop" and r.returncode == 0:
                failures.append(f"{case}: gc finished although every such listing was cut")
            if r.returncode != 0 and (len(lines) != 1 or "Traceback" in err):
                failures.append(f"{case}: not one error line ({r.returncode}): {err}")
            failures += [f"{case}: {p}" for p in check_store(env, base, fresh)]
    assert not failures, "\n".join(failures + ["outcomes:"] + outcomes)
    if os.environ.get("GITDATA_GC_SHOW"):
        print("\n".join(outcomes))


def check_store(env, base: Base, fresh) -> list[str]:
    """Every file of every ref's history reads back from the store, fsck is clean; a gc
    without faults finishes, and fsck is clean after it."""
    import shutil

    problems = []
    shutil.rmtree(fresh / ".git" / "data" / "objects", ignore_errors=True)
    gc1 = base.clones["gc1"]
    for args, cwd in (
        (["fetch", "--all"], fresh),
        (["fsck", "--remote", "origin", "--all"], fresh),
        (["gc", "--remote", "origin", "--grace", "0", "--yes"], gc1),
        (["fsck", "--remote", "origin", "--all"], fresh),
    ):
        if args[0] == "gc":
            env.git("config", "--unset", "data.remote.origin.endpointUrl", cwd=gc1)
        r = env.run(["git-data", *args], cwd=cwd, check=False)
        if r.returncode != 0:
            problems.append(f"git data {' '.join(args)}: {(r.stdout + r.stderr).decode().strip()}")
    return problems


def test_a_listing_whose_body_never_came_is_not_an_empty_listing(env, s3):
    """Headers whole, not one byte of the body: botocore parsed that as an empty listing."""
    from gitdata.storage import StoreSpec, open_store

    key = "chunked/v1/gc/20260101T000000Z-abcd1234.done"
    with FaultProxy(s3.endpoint) as proxy:
        store = open_store(StoreSpec(url=s3.url("x"), endpoint_url=proxy.endpoint, name="o"))
        store.put_bytes(key, b"{}\n")
        proxy.add(Rule(TRUNCATE, ops={"ListObjectsV2"}, keep=0.0, limit=2))
        listing, _ = store.list_keys("chunked/v1/gc/")
        assert [k.key for k in listing] == [key]
        assert proxy.count(TRUNCATE) == 2  # refused twice, then the answer came whole


def test_gc_of_a_whole_object_store_retries_a_cut_listing(env, s3):
    """The whole-object layout (`chunked = false`): the listing of the store's objects cut once
    (the headers) is asked for again, and so is the DeleteObjects of the whole objects, whose
    answer is lost: gc finishes and the dead object is gone. (Cut for good: the "whole objects,
    for good" case above, the same listing.)"""
    repo, bare = s3_project(env, s3.url("w"), s3.endpoint, "false", os.urandom(5000))
    push_dead_branch(env, repo, "gone", os.urandom(6000))

    def wholes() -> list[str]:
        return [k for k in s3.keys("w/") if "/chunked/" not in k]

    assert len(wholes()) == 2
    gcer = clone(env, bare, "gcer")
    age_for_gc(True)
    whole_listing = r"prefix=w/(&|$)"
    args = ["git-data", "gc", "--remote", "origin", "--grace", "0", "--yes"]
    with FaultProxy(s3.endpoint) as proxy:
        env.git("config", "data.remote.origin.endpointUrl", proxy.endpoint, cwd=gcer)
        rules = [
            Rule(DROP_MID, ops={"ListObjectsV2"}, query=whole_listing, nth={1}),
            # the batches: the dead manifest's, then the whole object's (done, answer lost)
            Rule(DROP_MID, ops={"DeleteObjects"}, nth={2}),
        ]
        proxy.add(*rules)
        r = env.run(args, cwd=gcer, check=False)
        assert r.returncode == 0 and all(x.fired for x in rules), r.stderr.decode()
        assert len(wholes()) == 1
    env.git("config", "--unset", "data.remote.origin.endpointUrl", cwd=gcer)
    check = clone(env, bare, "check")
    assert (check / "a.bin").read_bytes() == (repo / "a.bin").read_bytes()
    env.data("fsck", "--remote", "origin", cwd=check)
