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
absent from the listing or visible in the refs. Manifests older than the grace period that hold
no record go too (step 2 writes none with records; later steps keep those).

A run (docs/chunked-store.md, 6.3 and 7.1) writes `chunked/v1/gc/<run>.planning`, stops if
another run is active, plans, writes `<run>.deleting`, waits FENCE_DELAY on a directory store
(NFS caches listings), lists the manifests again and keeps everything the new ones name (the
fence), deletes (starting no batch later than `deleting` + 18 min, store time), removes run-log
keys older than 90 days and writes `<run>.done`. A push that overlapped the deletions sees them
in the run log, waits, and uploads again what it relies on. A run with nothing to delete skips
`deleting`, the fence and its wait.
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
from .storage.chunked import manifest_store, refuse_gc_with_packs, runlog
from .storage.chunked.format.common import CorruptManifest

#: Objects or manifests deleted in one batch (one DeleteObjects), between two time checks.
BATCH = 1000


@dataclass
class StorePlan(Plan):
    # manifests read while planning: key -> (store time, the whole objects it names)
    read: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    manifests: list[str] = field(default_factory=list)  # dead manifest keys
    cutoff: float = 0.0  # a manifest older than this (store time) protects nothing


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
    """What `git data gc --remote` would delete from the store of Git remote `remote`."""
    refuse_store(ctx)
    now = time.time() if now is None else now
    if store is None:
        store, _ = sync.open_for_remote(ctx, remote)
    refuse_gc_with_packs(store)  # experimental chunked stores: until step 7 of their design
    plan = StorePlan(where=store.describe())
    old = []
    for o in store.iter_objects():  # listed before the refs are fetched: see the docstring
        if o.mtime >= now - grace:
            plan.young += 1
        else:
            old.append(o)
    named = _read_manifests(store, plan, now - grace)
    plan.referenced += sum(1 for o in old if o.oid in named)  # a push relies on it
    old = [o for o in old if o.oid not in named]
    if not old:
        return store, plan
    sc = sync.scanner(ctx)
    with ExitStack() as fetched:
        # the remotes' branches and tags, fetched into refs of ours: `--all` then sees them
        for name in same_store_remotes(ctx, remote, store):
            fetched.enter_context(fetched_refs(name, ctx.cwd))
        keep = local_keep(ctx, sc)
    for o in old:
        if o.oid in keep:
            plan.referenced += 1
        else:
            plan.remove.append(Candidate(o.oid, o.size, o.mtime, UNREFERENCED))
    return store, plan


def _read_manifests(store: Store, plan: StorePlan, cutoff: float) -> set[str]:
    """Read every manifest: return what the young ones name; note the old ones without
    records as dead (a corrupt old one too: it protects nothing). A young manifest that
    cannot be read stops gc: what it protects cannot be known."""
    keys, _ = manifest_store.list_manifests(store)
    plan.cutoff = cutoff
    named: set[str] = set()
    for k in keys:
        young = k.store_time >= cutoff
        try:
            m = manifest_store.read_manifest(store, k.key)
        except CorruptManifest:
            if young:
                raise
            plan.read[k.key] = (k.store_time, frozenset())
            plan.manifests.append(k.key)
            continue
        wholes = manifest_store.named(m).wholes
        plan.read[k.key] = (k.store_time, wholes)
        if young:
            named |= wholes
        elif not m.records:
            plan.manifests.append(k.key)
    return named


def fence(store: Store, plan: StorePlan) -> int:
    """Step 10: list the manifests again; keep what those written since planning name. That
    is a manifest not read then, or one written again since (a push of the same objects writes
    the same bytes under the same name; its store time tells, and one within a second of the
    cutoff counts as written again, for stores whose times have whole seconds). Returns how
    many planned deletions that saved."""
    keys, _ = manifest_store.list_manifests(store)
    named: set[str] = set()
    again: set[str] = set()
    for k in keys:
        seen = plan.read.get(k.key)
        if seen is not None and k.store_time <= seen[0] and k.store_time < plan.cutoff - 1:
            continue
        if seen is not None and seen[1]:
            wholes = seen[1]
        else:
            wholes = manifest_store.named(manifest_store.read_manifest(store, k.key)).wholes
        named |= wholes
        again.add(k.key)
    plan.manifests = [key for key in plan.manifests if key not in again]
    saved = [c for c in plan.remove if c.oid in named]
    plan.remove = [c for c in plan.remove if c.oid not in named]
    return len(saved)


def remove_stored(store: Store, plan: Plan, until: float | None = None) -> Outcome:
    """Delete the plan's dead manifests, then its objects, BATCH at a time; start no batch once
    the store time is past `until` (None: no limit). A manifest left over goes next time."""
    out = Outcome()
    manifests = plan.manifests if isinstance(plan, StorePlan) else []

    def in_time() -> bool:
        if until is None or runlog.read_log(store).now() < until:
            return True
        output.warn("store gc: its time to delete is over; the next run deletes the rest")
        return False

    for i in range(0, len(manifests), BATCH):
        if not in_time():
            return out
        store.delete_keys(manifests[i : i + BATCH])
    for i in range(0, len(plan.remove), BATCH):
        if not in_time():
            return out
        batch = plan.remove[i : i + BATCH]
        failed = store.delete_many([c.oid for c in batch])
        out.failed.update(failed)
        out.removed += [c for c in batch if c.oid not in failed]
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
    if not plan.remove and not plan.manifests:
        return plan, _expire(store, Outcome())
    if runlog.read_log(store).now() >= now + lim.stale_give_up:
        raise GitDataError(
            "store gc took too long to plan: it deleted nothing", "run it again when it is quiet"
        )
    runlog.write_state(store, run, "deleting")
    head = store.head(runlog.state_key(run, "deleting"))
    td = head.store_time if head is not None else runlog.read_log(store).now()
    runlog.pause("gc-deleting")
    if not store.spec.url.startswith("s3://"):
        time.sleep(lim.fence_delay)  # NFS caches listings up to 60 s (6.3)
    in_use = fence(store, plan)
    runlog.pause("gc-fenced")
    outcome = remove_stored(store, plan, td + lim.delete_cutoff)
    outcome.in_use = in_use
    runlog.pause("gc-deleted")
    return plan, _expire(store, outcome)


def _expire(store: Store, outcome: Outcome) -> Outcome:
    """Remove run-log keys older than 90 days (never this run's)."""
    old = runlog.expired_keys(runlog.read_log(store))
    if old:
        store.delete_keys(old)
    return outcome
