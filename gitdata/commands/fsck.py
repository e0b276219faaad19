from __future__ import annotations

import os

from .. import fsck as service
from .. import output, sync
from ..context import Context
from ..errors import GitDataError


def fsck(remote: str | None = None, all_history: bool = False) -> int:
    """Re-hash every cached object (moving corrupt ones to data/bad/), then check that every
    pointer in HEAD (--all: in all history) has its bytes in the cache or in REMOTE's store."""
    ctx = Context()
    store = sync.open_for_remote(ctx, remote)[0] if remote else None
    verified = service.verify_cache(ctx, os.cpu_count() or 1)
    for c in sorted(verified.corrupt, key=lambda c: c.oid):
        moved = f"; moved to {c.moved_to}" if c.moved_to else ""
        print(f"corrupt xxh128:{c.oid}: {c.problem}{moved}")

    sc = sync.scanner(ctx)
    if all_history:
        tips = list(sc.refs().values()) + [h for h in [sc.commit_sha("HEAD")] if h]
    else:
        tips = [h for h in [sc.commit_sha("HEAD")] if h]
    wanted = service.pointers(sc, tips, all_history)
    missing = service.without_bytes(ctx, wanted, store)
    hits = service.paths_of(sc, tips, missing, all_history) if missing else {}
    where = f"the cache nor {store.describe()}" if store else "the cache"
    for oid in sorted(missing, key=lambda o: hits[o].path if o in hits else b""):
        h = hits.get(oid)
        path = os.fsdecode(h.path) if h else "?"
        commit = f" (commit {h.commit[:9]})" if h and h.commit and all_history else ""
        print(f"missing xxh128:{oid} {path}{commit}: not in {where}")

    scope = "all history" if all_history else "HEAD"
    output.note(
        f"fsck: {verified.objects} cached object(s) verified "
        f"({output.human_bytes(verified.bytes)}); {len(wanted)} data object(s) in {scope}"
    )
    if verified.corrupt or missing:
        hint = []
        if verified.corrupt:
            hint.append(f"corrupt objects are in {os.path.join(ctx.paths.data_dir, 'bad')}")
        hint.append("`git data fetch" + (" --all" if all_history else "") + "` gets bytes back")
        raise GitDataError(
            f"{len(verified.corrupt)} corrupt object(s), {len(missing)} data object(s) without "
            "their bytes",
            "; ".join(hint),
        )
    return 0
