"""What a push relies on, and the run log check (docs/chunked-store.md, 4.8 and 6.3): the push
side of the protocol that keeps a concurrent store gc from deleting an object a push needs.

P1 lists the run log before the existence checks (`begin`); after the uploads, the push writes
one manifest naming every object it uploaded or found present (P4) and lists the run log again
(P5); if a gc run's deletions may have overlapped it (P6), it waits for them to be over, checks
that everything the manifest names still exists (whole objects, and packs), uploads again from
the cache the whole objects that are missing, packs again the files whose packs are missing,
writes the manifest again, and goes back to P5 (at most ROUNDS times)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from . import output, transfer
from .cache import Cache
from .errors import GitDataError
from .storage import Store
from .storage.chunked import runlog

#: Waits and re-checks before a push gives up.
ROUNDS = 3


def begin(store: Store) -> runlog.RunLog:
    """P1: the run log as it is before any existence check."""
    runlog.pause("push-P1")
    log = runlog.read_log(store)
    runlog.pause("push-P2")
    return log


class Manifest(Protocol):
    """A push's manifest other than whole objects only (push_chunked.PushManifest)."""

    def put(self, store: Store) -> None: ...

    def check_packs(self, store: Store, log: runlog.RunLog, force: bool = False) -> bool: ...


def finish(
    store: Store,
    cache: Cache,
    l0: runlog.RunLog,
    relied: Collection[str],
    workers: int,
    manifest: Manifest | None = None,
) -> None:
    """P4-P6 for a push that uploaded or found present the whole objects `relied` (oids);
    `manifest`, when the push wrote records and packs too (it names `relied` as well)."""
    if not relied and manifest is None:
        return  # relies on nothing: nothing a gc could take from it
    from .storage.chunked import manifest_store  # the manifest format: only when pushing

    def put() -> None:
        if manifest is None:
            manifest_store.put_wholes(store, relied)
        else:
            manifest.put(store)

    runlog.pause("push-P4")
    put()
    lim = runlog.limits()
    t1: float | None = None
    for _ in range(ROUNDS):
        runlog.pause("push-P5")
        l2 = runlog.read_log(store)
        if t1 is None:
            # the store time of a listing made after the manifest's PUT was answered: at or
            # after the manifest became visible, so the comparison with `deleting` errs
            # towards waiting (the store calls do not return a PUT's Date)
            t1 = l2.time
        runlog.pause("push-P6")
        overlap = runlog.overlapping(l0, l2, t1, lim)
        if not overlap:
            return
        l0 = runlog.wait_for(store, overlap, lim, output.note)
        # the run may have taken the manifest too (one of the same name it found old): write
        # it again, then check what it names
        put()
        _repair(store, cache, relied, workers)
        if manifest is not None and manifest.check_packs(store, l0, force=True):
            put()  # files packed again, or records found again: a new manifest
        # t1 again, after the manifest as it is now: a run that deleted between the first PUT
        # and this one did not see what this one names
        t1 = None
    raise GitDataError(
        f"a store gc is deleting what this push needs from {store.describe()}; the Git remote "
        "was not updated",
        "retry the push",
    )


def _repair(store: Store, cache: Cache, relied: Collection[str], workers: int) -> None:
    """Upload again, from the cache, whatever the manifest names and the store lost."""
    present = store.exists_many(relied)
    lost = [oid for oid in relied if oid not in present]
    if not lost:
        return
    sizes = {}
    gone = []
    for oid in lost:
        size = cache.size(oid)
        if size is None:
            gone.append(oid)
        else:
            sizes[oid] = size
    output.note(f"uploading again {len(lost)} object(s) a store gc deleted meanwhile")
    failed = dict(transfer.upload(store, cache, sizes, workers).failed)
    failed.update({oid: GitDataError("not in the local cache") for oid in gone})
    if failed:
        raise GitDataError(
            f"a store gc deleted {len(failed)} object(s) this push relies on, and they cannot "
            f"be uploaded again to {store.describe()}; the Git remote was not updated:",
            "`git data fetch --all` from a clone that has the bytes, then push again",
            details=[
                f"  xxh128:{oid}: {e.message if isinstance(e, GitDataError) else e}"
                for oid, e in sorted(failed.items())
            ],
        )
