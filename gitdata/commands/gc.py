from __future__ import annotations

import json
import time

from .. import gc as service
from .. import output, store_gc
from ..context import Context
from ..errors import UsageError


def gc(
    dry_run: bool = False,
    as_json: bool = False,
    grace: str | None = None,
    keep_recent: int | None = None,
    remote: str | None = None,
    yes: bool = False,
) -> int:
    """Delete cache objects nothing references (with --remote: store objects no branch or tag
    of that remote references); the keep rules are in gitdata/gc.py and store_gc.py."""
    ctx = Context()
    if remote is not None:
        if keep_recent is not None:
            raise UsageError("--keep-recent is for the local cache", "run it without --remote")
        if not (yes or dry_run):
            raise UsageError(
                f"`git data gc --remote {remote}` deletes from a store others may use",
                "add --yes to go ahead, or --dry-run to see what would go",
            )
        seconds = service.parse_duration(grace or service.GRACE_STORE)
        plan, outcome = store_gc.collect(ctx, remote, seconds, dry_run)
    else:
        if keep_recent is not None and keep_recent < 0:
            raise UsageError("--keep-recent takes a number of days, 0 or more", "e.g. 30")
        seconds = service.parse_duration(grace or service.GRACE_LOCAL)
        now = time.time()
        plan = service.plan_local(ctx, seconds, keep_recent, now)
        outcome = None if dry_run else service.remove_local(ctx, plan, now - seconds)
    if as_json:
        doc = _document(plan, outcome, remote, seconds)
        if isinstance(plan, store_gc.StorePlan):
            doc["chunked"] = _chunked(plan, outcome)
        print(json.dumps(doc, indent=2))
    else:
        _report(plan, outcome, grace or (service.GRACE_STORE if remote else service.GRACE_LOCAL))
    if outcome is not None and outcome.failed:
        output.error_list(
            f"{len(outcome.failed)} object(s) could not be removed from {plan.where}",
            [
                f"  {'xxh128:' if len(oid) == 32 else 'pack '}{oid}: {why}"
                for oid, why in sorted(outcome.failed.items())
            ],
        )
        return 1
    return 0


def _document(
    plan: service.Plan, outcome: service.Outcome | None, remote: str | None, grace: float
) -> dict[str, object]:
    gone = plan.remove if outcome is None else outcome.removed
    return {
        "dry_run": outcome is None,
        "remote": remote,
        "location": plan.where,
        "grace_seconds": grace,
        "removed": [
            {"oid": f"xxh128:{c.oid}", "size": c.size, "reason": c.reason}
            for c in sorted(gone, key=lambda c: c.oid)
        ],
        "objects": len(gone),
        "bytes": sum(c.size for c in gone),
        "kept": {
            "referenced": plan.referenced,
            "young": plan.young,
            "unconfirmed": plan.unconfirmed,
            "in_use": outcome.in_use if outcome else 0,
        },
        "store_asked": plan.store,
        "failed": [
            {"oid": f"xxh128:{oid}", "error": why}
            for oid, why in sorted((outcome.failed if outcome else {}).items())
        ],
        "temporaries_removed": outcome.temporaries if outcome else 0,
        "stat_entries_removed": outcome.stat_entries if outcome else 0,
    }


def _chunked(plan: store_gc.StorePlan, outcome: service.Outcome | None) -> dict[str, object]:
    """Packs and manifests of a store gc (docs/chunked-store.md, 7.1)."""
    done = outcome if isinstance(outcome, store_gc.StoreOutcome) else None
    packs = plan.packs if done is None else done.packs
    cp = plan.chunked
    return {
        "packs_removed": [
            {"pack": c.oid, "size": c.size, "reason": c.reason}
            for c in sorted(packs, key=lambda c: c.oid)
        ],
        "manifests_removed": len(plan.manifests) if done is None else done.manifests,
        "packs_kept": {
            "referenced": cp.live_packs if cp else 0,
            "young": cp.young_packs if cp else 0,
        },
        "repacked": [p.hex() for p in plan.repack],
        "repacked_whole": list(plan.repack_whole),
        "new_packs": done.repacked if done else [],
        "compacted": len(cp.compact) if cp else 0,
        "compacted_into": done.compacted if done else None,
    }


def _report(plan: service.Plan, outcome: service.Outcome | None, grace: str) -> None:
    if isinstance(plan, store_gc.StorePlan):
        _report_chunked(plan, outcome)
    kept = [f"{plan.referenced} referenced", f"{plan.young} younger than {grace}"]
    if plan.unconfirmed:
        kept.append(f"{plan.unconfirmed} not confirmed by {plan.store}")
    if outcome is None:
        for c in sorted(plan.remove, key=lambda c: c.oid):
            print(f"would remove xxh128:{c.oid} {c.size} ({c.reason})")
        n, size = len(plan.remove), sum(c.size for c in plan.remove)
        output.note(
            f"gc: would remove {n} object(s), {output.human_bytes(size)} ({size} bytes) from "
            f"{plan.where}; kept {', '.join(kept)}"
        )
        return
    if outcome.in_use:
        kept.append(f"{outcome.in_use} in use again")
    extra = ""
    if outcome.temporaries:
        extra = f"; {outcome.temporaries} stale temporary file(s) removed"
    output.note(
        f"gc: removed {len(outcome.removed)} object(s), {output.human_bytes(outcome.bytes)} "
        f"({outcome.bytes} bytes) freed from {plan.where}; kept {', '.join(kept)}{extra}"
    )


def _report_chunked(plan: store_gc.StorePlan, outcome: service.Outcome | None) -> None:
    """The packs and manifests of a store gc, when the store has any."""
    doc = _chunked(plan, outcome)
    cp = plan.chunked
    if cp is None or not (cp.packs or plan.manifests or cp.compact or plan.repack_whole):
        return  # a store of whole objects whose manifests all stay: nothing to say
    packs = plan.packs if not isinstance(outcome, store_gc.StoreOutcome) else outcome.packs
    verb = "would remove" if outcome is None else "removed"
    rep = "would repack" if outcome is None else "repacked"
    if outcome is None:
        for c in packs:
            print(f"would remove pack {c.oid} {c.size} ({c.reason})")
        for pid in plan.repack:
            print(f"would repack pack {pid.hex()}")
        for oid in plan.repack_whole:
            print(f"would repack whole object xxh128:{oid}")
    size = sum(c.size for c in packs)
    compact = (
        f"; {'would compact' if outcome is None else 'compacted'} {doc['compacted']} manifest(s)"
        if doc["compacted"]
        else ""
    )
    wholes = f" and {len(plan.repack_whole)} whole object(s)" if plan.repack_whole else ""
    output.note(
        f"gc: {verb} {len(packs)} pack(s), {output.human_bytes(size)} ({size} bytes), and "
        f"{doc['manifests_removed']} manifest(s); {rep} "
        f"{len(plan.repack)} pack(s){wholes}{compact}; kept {cp.live_packs} referenced pack(s), "
        f"{cp.young_packs} young"
    )
