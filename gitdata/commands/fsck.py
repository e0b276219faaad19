from __future__ import annotations

import os

from .. import fsck as service
from .. import output, sync
from ..context import Context
from ..errors import GitDataError, UsageError
from ..git.scan import Hit
from ..names import quote


def fsck(remote: str | None = None, all_history: bool = False, full: bool = False) -> int:
    """Re-hash every cached object (moving corrupt ones to data/bad/), then check that every
    pointer in HEAD (--all: in all history) has its bytes in the cache, or with --remote, in
    REMOTE's store itself (--full: read and hash what a read would use there)."""
    ctx = Context()
    if full and not remote:
        raise UsageError("--full checks a store: give it with --remote NAME")
    store = sync.open_for_remote(ctx, remote)[0] if remote else None
    verified = service.verify_cache(ctx, os.cpu_count() or 1)
    for c in sorted(verified.corrupt, key=lambda c: c.oid):
        moved = f"; moved to {c.moved_to}" if c.moved_to else ""
        print(f"corrupt xxh128:{c.oid}: {c.problem}{moved}")

    sc = sync.scanner(ctx)
    wanted = service.pointers(sc, all_history)
    found = service.check_remote(ctx, wanted, store, full) if store else None
    missing = found.missing if found else service.without_bytes(ctx, wanted)
    where = store.describe() if store else "the cache"
    for n, oid in enumerate(sorted(missing, key=lambda o: wanted[o].path)):
        h = wanted[oid]
        # in history, name a commit that has it (a walk each: for the first few only)
        commit = sc.introducing_commit(h, ["--all"], []) if all_history and n < 20 else ""
        commit = f" (commit {commit[:9]})" if commit and commit != "?" else ""
        print(f"missing xxh128:{oid} {quote(h.path, ctx.quote_path)}{commit}: not in {where}")

    bad = _report_store(ctx, wanted, found) if found else 0

    scope = "all history" if all_history else "HEAD"
    read = (
        f"; {found.objects_read} stored object(s) read ({output.human_bytes(found.bytes_read)})"
        if found and full else ""
    )  # fmt: skip
    output.note(
        f"fsck: {verified.objects} cached object(s) verified "
        f"({output.human_bytes(verified.bytes)}); {len(wanted)} data object(s) in {scope}{read}"
    )
    if verified.corrupt or missing or bad:
        hint = []
        if verified.corrupt:
            hint.append(f"corrupt objects are in {os.path.join(ctx.paths.data_dir, 'bad')}")
        if bad:
            hint.append(
                "push the files named with them again from a clone that has them "
                "(`git data push --all`): the bytes go into new packs"
            )
        elif store is not None:
            hint.append(
                "`git data push" + (" --all" if all_history else "") + "` from a clone "
                "that has the bytes puts them back in the store"
            )
        else:
            hint.append("`git data fetch" + (" --all" if all_history else "") + "` gets bytes back")
        stored = f", {bad} corrupt stored object(s) or record(s)" if bad else ""
        raise GitDataError(
            f"{len(verified.corrupt)} corrupt object(s), {len(missing)} data object(s) without "
            f"their bytes{stored}",
            "; ".join(hint),
        )
    return 0


def _report_store(ctx: Context, wanted: dict[str, Hit], found: service.RemoteCheck) -> int:
    """Print the store's corrupt packs and whole objects (with the files that need them) and
    the records a read cannot use; warn of the rest. Returns how many errors were printed."""
    for w in found.warnings:
        output.warn(f"fsck: {w}")

    def paths(oids: set[str]) -> str:
        names = sorted(quote(wanted[o].path, ctx.quote_path) for o in oids)
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return ", ".join(names[:5]) + more

    for name, (why, oids) in sorted(found.corrupt.items()):
        print(f"corrupt {name} (needed by {paths(oids)}): {why}")
    for oid, why in sorted(found.bad.items(), key=lambda b: wanted[b[0]].path):
        print(f"bad record xxh128:{oid} {quote(wanted[oid].path, ctx.quote_path)}: {why}")
    return len(found.corrupt) + len(found.bad)
