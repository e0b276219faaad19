"""Store gc (`git data gc --remote NAME`): which stored objects nobody needs any more, and
deleting them without losing one that a branch, or a push under way, needs.

A stored object is KEPT when any of these references it:
  1. a commit reachable from a branch or tag of Git remote NAME, fetched at gc time, or of any
     other Git remote of this repository whose bytes go to the same store;
  2. whatever this repository keeps by the local rules 1-4 of gc.py (its own unpushed work);
  3. a manifest younger than the grace period names it (every push writes one, naming what it
     uploaded or found already there: docs/chunked-store.md, 4.8), or a manifest gc had not read
     when it planned (the fence, below);
  4. nothing, but it is younger than the grace period (default 14d; age is the store's
     modification time): a teammate's push uploads bytes before its ref moves.
The store is listed before the refs are fetched, so a push that lands during gc is either
absent from the listing or visible in the refs.

Packs and manifests (storage/chunked/gc.py): each live oid without a whole object has one
chosen record, from the newest manifest whose packs and whole objects exist; a pack stays when
a chosen record or a young manifest names it, or when it is young; a manifest older than the
grace period stays only while it holds a chosen record. Mostly dead old packs, and whole
objects that records name in part, are repacked (storage/chunked/repack.py, repack_whole.py)
and more than 16 old manifests compacted into one; the new packs and the compacted manifest are
written before `deleting`, so before anything is deleted.

A run (docs/chunked-store.md, 6.3 and 7.1) writes `chunked/v1/gc/<run>.planning`, stops if
another run is active, plans, writes `<run>.deleting`, waits FENCE_DELAY on a directory store
(NFS caches listings), lists the manifests again and keeps everything the new ones name (the
fence), deletes (starting no batch later than `deleting` + 18 min, store time), removes run-log
keys older than 90 days and a directory store's temporaries untouched for a day (what killed
pushes left in `<root>/tmp/`), and writes `<run>.done`. A push that overlapped the deletions
sees them in the run log, waits, and uploads (or packs) again what it relies on. A run with
nothing to delete skips `deleting`, the fence and its wait. Test-only: GIT_DATA_TEST_KILL
names points where a run SIGKILLs itself (storage/chunked/gc.py).
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from . import output, resolve, sync
from .context import Context
from .errors import GitDataError
from .gc import UNREFERENCED, Candidate, Outcome, Plan, local_keep
from .git.remote_refs import fetched_refs
from .storage import Store
from .storage.chunked import gc as chunked_gc
from .storage.chunked import repack, repack_whole, runlog
from .storage.chunked.gc import ChunkedPlan
from .storage.chunked.reader import pack_key

#: Objects or manifests deleted in one batch (one DeleteObjects), between two time checks.
BATCH = 1000
#: A temporary file of a directory store's `tmp/` not written for this long is a killed push's.
LEFTOVER_AGE = 86400.0
#: why a whole object that records still name goes: its live ranges are copied into packs first
REPACKED = "mostly dead: its live ranges go into packs"


@dataclass
class StorePlan(Plan):
    chunked: ChunkedPlan | None = None  # packs and manifests (storage/chunked/gc.py)
    repack: list[bytes] = field(default_factory=list)  # packs to repack (7.1 step 7)
    repacked: list[str] = field(default_factory=list)  # the new packs a repack wrote (hex)
    repack_whole: dict[str, int] = field(default_factory=dict)  # whole objects to repack: size

    @property
    def manifests(self) -> list[str]:
        """Dead manifest keys."""
        return self.chunked.dead_manifests if self.chunked is not None else []

    @property
    def packs(self) -> list[Candidate]:
        """Dead packs, as candidates named by their id (hex)."""
        if self.chunked is None:
            return []
        return [
            Candidate(pid.hex(), k.size, k.store_time, UNREFERENCED)
            for pid, k in sorted(self.chunked.dead_packs.items())
        ]

    def work(self) -> bool:
        """Whether the run writes or deletes anything."""
        c = self.chunked
        return bool(self.remove or self.manifests or self.packs or self.repack or (c and c.compact))


@dataclass
class StoreOutcome(Outcome):
    packs: list[Candidate] = field(default_factory=list)  # deleted packs
    manifests: int = 0  # deleted manifests
    compacted: str | None = None  # the compacted manifest written
    repacked: list[str] = field(default_factory=list)  # new packs written by repack


def refuse_store(ctx: Context) -> None:
    if os.path.exists(os.path.join(ctx.paths.common_dir, "shallow")):
        raise GitDataError(
            "this repository is shallow: gc cannot see what the older history of the remote "
            "references",
            "run it from a full clone, or `git fetch --unshallow` first",
        )


def same_store_remotes(ctx: Context, remote: str, store: Store) -> list[str]:
    """`remote` and every other Git remote of this repository whose bytes go to `store`."""
    names = [remote]
    for name in sorted(ctx.settings.git_remotes):
        if name == remote:
            continue
        try:
            spec = resolve.for_git_remote(ctx, name).spec
        except GitDataError:
            continue
        if _same_url(spec.url, store.spec.url) and spec.endpoint_url == store.spec.endpoint_url:
            names.append(name)
    return names


def _same_url(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        if u.startswith("file://"):
            u = u[len("file://") :]
        return os.path.realpath(u) if u.startswith("/") else u.rstrip("/")

    return norm(a) == norm(b)


def plan_store(
    ctx: Context, remote: str, grace: float, now: float | None = None, store: Store | None = None
) -> tuple[Store, StorePlan]:
    """What `git data gc --remote` would delete from the store of Git remote `remote`, and
    which packs it would repack and which manifests it would compact (nothing is written)."""
    refuse_store(ctx)
    now = time.time() if now is None else now
    if store is None:
        store, _ = sync.open_for_remote(ctx, remote)
    cutoff = now - grace
    plan = StorePlan(where=store.describe())
    old = []
    every = set()
    for o in store.iter_objects():  # listed before the refs are fetched: see the docstring
        every.add(o.oid)
        if o.mtime >= cutoff:
            plan.young += 1
        else:
            old.append(o)
    packs = chunked_gc.list_packs(store)
    read = chunked_gc.read_all(store, cutoff)
    young_named = chunked_gc.plan(read, packs, every, (), cutoff)  # what needs no refs
    keep: set[str] = set()
    if (
        any(o.oid not in young_named.wholes for o in old)
        or young_named.dead_packs
        or any(
            s.manifest is not None and s.manifest.records and not young_named.young(s)
            for s in read.values()
        )
    ):  # something old may go: which records are live decides
        sc = sync.scanner(ctx)
        with ExitStack() as fetched:
            # the remotes' branches and tags, fetched into refs of ours: `--all` then sees them
            for name in same_store_remotes(ctx, remote, store):
                fetched.enter_context(fetched_refs(name, ctx.cwd))
            keep = local_keep(ctx, sc)
    cp = plan.chunked = chunked_gc.plan(read, packs, every, keep, cutoff)
    for o in old:
        if o.oid in keep or o.oid in cp.wholes:
            plan.referenced += 1
        else:
            plan.remove.append(Candidate(o.oid, o.size, o.mtime, UNREFERENCED))
    ranges = repack.live_ranges(cp)
    want = repack.candidates(cp, ranges)
    if want:
        plan.repack = repack.confirm(store, cp, ranges, want)
    by_oid = {o.oid: o for o in old}
    for oid in repack_whole.candidates(
        cp, repack_whole.term_ranges(cp), [(o.oid, o.size) for o in old], keep
    ):  # counted as referenced above: dead once repacked
        o = by_oid[oid]
        plan.repack_whole[oid] = o.size
        plan.referenced -= 1
        plan.remove.append(Candidate(o.oid, o.size, o.mtime, REPACKED))
    if plan.repack or plan.repack_whole:  # the rewritten records go into the compacted manifest
        cp.compact = sorted({c.key for c in cp.chosen.values() if not cp.young(read[c.key])})
    return store, plan


def prepare(ctx: Context, store: Store, plan: StorePlan) -> None:
    """Steps 7 and 8: write the new packs of a repack, then the compacted manifest; what they
    replace joins the dead set. Nothing is deleted yet."""
    cp = plan.chunked
    if cp is None:
        return
    if plan.repack:
        done = repack.repack(store, cp, repack.live_ranges(cp), plan.repack, ctx.cache.tmp_dir)
        plan.repacked = [c.pid.hex() for c in done.packs]
        runlog.pause("gc-repacked")
    if plan.repack_whole:
        ranges = repack_whole.term_ranges(cp)
        done, failed = repack_whole.repack_wholes(
            store, cp, ranges, plan.repack_whole, ctx.cache.tmp_dir
        )
        plan.repacked += [c.pid.hex() for c in done.packs]
        for oid, why in sorted(failed.items()):
            output.warn(
                f"store gc: whole object xxh128:{oid} was not repacked and stays: {why} "
                "(`git data fsck --remote NAME --full` says which files need it)"
            )
            del plan.repack_whole[oid]  # nor is it reported as repacked
        plan.remove = [c for c in plan.remove if c.oid not in failed]
        runlog.pause("gc-repacked")
    if cp.compact:
        chunked_gc.write_compacted(store, cp, chunked_gc.records_to_compact(cp))
        runlog.pause("gc-compacted")


def fence(store: Store, plan: StorePlan) -> int:
    """Step 10: list the manifests again; keep what those written since planning name (packs,
    whole objects, and those manifests themselves). That is a manifest not read then, or one
    written again since (a push of the same objects writes the same bytes under the same name;
    its store time tells, and one within a second of the cutoff counts as written again, for
    stores whose times have whole seconds). Returns how many planned deletions that saved."""
    assert plan.chunked is not None
    saved = chunked_gc.fence(store, plan.chunked)
    named = plan.chunked.fenced_wholes
    saved += sum(1 for c in plan.remove if c.oid in named)
    plan.remove = [c for c in plan.remove if c.oid not in named]
    return saved


def remove_stored(store: Store, plan: Plan, until: float | None = None) -> StoreOutcome:
    """Delete the plan's dead manifests, then its packs, then its whole objects, BATCH at a
    time; start no batch once the store time is past `until` (None: no limit). What is left
    over goes next time."""
    out = StoreOutcome()
    manifests: list[str] = plan.manifests if isinstance(plan, StorePlan) else []
    packs: list[Candidate] = plan.packs if isinstance(plan, StorePlan) else []

    def in_time() -> bool:
        if until is None or runlog.read_log(store).now() < until:
            return True
        output.warn("store gc: its time to delete is over; the next run deletes the rest")
        return False

    for i in range(0, len(manifests), BATCH):
        if not in_time():
            return out
        batch = manifests[i : i + BATCH]
        out.manifests += len(batch) - len(store.delete_keys(batch))
    chunked_gc.kill_point("gc-manifests-deleted")
    for i in range(0, len(packs), BATCH):
        if not in_time():
            return out
        pbatch = packs[i : i + BATCH]
        failed = store.delete_keys([pack_key(bytes.fromhex(c.oid)) for c in pbatch])
        for c in pbatch:
            why = failed.get(pack_key(bytes.fromhex(c.oid)))
            if why is None:
                out.packs.append(c)
            else:
                out.failed[c.oid] = why
    chunked_gc.kill_point("gc-packs-deleted")
    for i in range(0, len(plan.remove), BATCH):
        if not in_time():
            return out
        wbatch = plan.remove[i : i + BATCH]
        wfailed = store.delete_many([c.oid for c in wbatch])
        out.failed.update(wfailed)
        out.removed += [c for c in wbatch if c.oid not in wfailed]
    return out


def collect(ctx: Context, remote: str, grace: float, dry_run: bool) -> tuple[Plan, Outcome | None]:
    """One store gc run: plan, and (unless `dry_run`) the deletion phase under the run log."""
    refuse_store(ctx)
    store, _ = sync.open_for_remote(ctx, remote)
    if dry_run:
        return plan_store(ctx, remote, grace, store=store)[1], None
    lim = runlog.limits()
    run = runlog.new_run_id()
    runlog.write_state(store, run, "planning")
    try:
        outcome = _run(ctx, store, remote, grace, run, lim)
    except BaseException:
        try:
            runlog.write_state(store, run, "done")
        except Exception:  # the store is failing: the run is over by its time limits anyway
            pass
        raise
    runlog.write_state(store, run, "done")
    return outcome


def _run(
    ctx: Context, store: Store, remote: str, grace: float, run: str, lim: runlog.Limits
) -> tuple[Plan, Outcome]:
    log = runlog.read_log(store)
    other = runlog.blocking(log, run, lim)
    if other is not None:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(other.since()))
        raise GitDataError(
            f"another store gc is running since {since} on {runlog.who(store, other)}",
            "wait for it to finish; a run that was killed counts as over 6 hours after it "
            f"started (or delete {runlog.state_key(other.run, 'planning')} from the store if "
            "you know it is dead)",
        )
    mine = log.runs.get(run)
    now = mine.planning if mine is not None and mine.planning is not None else log.now()
    runlog.pause("gc-planning")
    _, plan = plan_store(ctx, remote, grace, now, store=store)
    runlog.pause("gc-planned")
    if not plan.work():
        return plan, _expire(store, StoreOutcome())
    prepare(ctx, store, plan)
    outcome = StoreOutcome(compacted=plan.chunked.compacted if plan.chunked else None)
    outcome.repacked = plan.repacked
    if not (plan.remove or plan.manifests or plan.packs):
        return plan, _expire(store, outcome)
    if runlog.read_log(store).now() >= now + lim.stale_give_up:
        raise GitDataError(
            "store gc took too long to plan: it deleted nothing", "run it again when it is quiet"
        )
    runlog.write_state(store, run, "deleting")
    head = store.head(runlog.state_key(run, "deleting"))
    td = head.store_time if head is not None else runlog.read_log(store).now()
    runlog.pause("gc-deleting")
    chunked_gc.kill_point("gc-deleting")
    if not store.spec.url.startswith("s3://"):
        time.sleep(lim.fence_delay)  # NFS caches listings up to 60 s (6.3)
    in_use = fence(store, plan)
    runlog.pause("gc-fenced")
    removed = remove_stored(store, plan, td + lim.delete_cutoff)
    removed.in_use = in_use
    removed.compacted, removed.repacked = outcome.compacted, outcome.repacked
    runlog.pause("gc-deleted")
    chunked_gc.kill_point("gc-deleted")
    _forget_packs(ctx, store, [bytes.fromhex(c.oid) for c in removed.packs])
    return plan, _expire(store, removed)


def _forget_packs(ctx: Context, store: Store, pids: list[bytes]) -> None:
    """This clone's local index forgets the packs gc deleted (other clones learn it when a
    read meets a 404, or when a push checks what it relies on)."""
    if not pids:
        return
    from .storage.chunked.index import LocalIndex, LocalIndexError, index_path

    try:
        index = LocalIndex(index_path(ctx.paths.data_dir))
    except LocalIndexError:
        return
    try:
        sid = index.store_id(store.describe())
        for pid in pids:
            index.drop_pack(sid, pid)
    finally:
        index.close()


def _expire(store: Store, outcome: Outcome) -> Outcome:
    """Remove run-log keys older than 90 days (never this run's), and what killed pushes left
    in a directory store's `tmp/` a day ago or more (Store.remove_leftovers)."""
    log = runlog.read_log(store)
    old = runlog.expired_keys(log)
    if old:
        store.delete_keys(old)
    outcome.temporaries = store.remove_leftovers(log.now() - LEFTOVER_AGE)
    return outcome
