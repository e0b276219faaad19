from __future__ import annotations

import os

from .. import fsck as service
from .. import output, sync
from ..context import Context
from ..errors import GitDataError
from ..names import quote


def fsck(remote: str | None = None, all_history: bool = False) -> int:
    """Re-hash every cached object (moving corrupt ones to data/bad/), then check that every
    pointer in HEAD (--all: in all history) has its bytes in the cache, or with --remote, in
    REMOTE's store itself."""
    ctx = Context()
    store = sync.open_for_remote(ctx, remote)[0] if remote else None
    verified = service.verify_cache(ctx, os.cpu_count() or 1)
    for c in sorted(verified.corrupt, key=lambda c: c.oid):
        moved = f"; moved to {c.moved_to}" if c.moved_to else ""
        print(f"corrupt xxh128:{c.oid}: {c.problem}{moved}")

    sc = sync.scanner(ctx)
    wanted = service.pointers(sc, all_history)
    missing = service.without_bytes(ctx, wanted, store)
    where = store.describe() if store else "the cache"
    for n, oid in enumerate(sorted(missing, key=lambda o: wanted[o].path)):
        h = wanted[oid]
        # in history, name a commit that has it (a walk each: for the first few only)
        commit = sc.introducing_commit(h, ["--all"], []) if all_history and n < 20 else ""
        commit = f" (commit {commit[:9]})" if commit and commit != "?" else ""
        print(f"missing xxh128:{oid} {quote(h.path, ctx.quote_path)}{commit}: not in {where}")

    scope = "all history" if all_history else "HEAD"
    output.note(
        f"fsck: {verified.objects} cached object(s) verified "
        f"({output.human_bytes(verified.bytes)}); {len(wanted)} data object(s) in {scope}"
    )
    if verified.corrupt or missing:
        hint = []
        if verified.corrupt:
            hint.append(f"corrupt objects are in {os.path.join(ctx.paths.data_dir, 'bad')}")
        if store is not None:
            hint.append(
                "`git data push" + (" --all" if all_history else "") + "` from a clone "
                "that has the bytes puts them back in the store"
            )
        else:
            hint.append("`git data fetch" + (" --all" if all_history else "") + "` gets bytes back")
        raise GitDataError(
            f"{len(verified.corrupt)} corrupt object(s), {len(missing)} data object(s) without "
            "their bytes",
            "; ".join(hint),
        )
    return 0
