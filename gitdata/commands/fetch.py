from __future__ import annotations

from .. import output, sync
from ..context import Context
from ..globs import PathFilter


def fetch(
    remote: str | None = None,
    all_refs: bool = False,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> int:
    """Download into the cache what HEAD needs (--all: every ref's whole history)."""
    ctx = Context()
    sc = sync.scanner(ctx)
    paths = PathFilter(include or [], exclude or [])
    if all_refs:
        hits = [h for h in sc.pointers(["--all"]).values() if paths.match(h.path)]
    else:
        hits = sync.checked_out(ctx, sync.head_hits(sc, paths))
    result = sync.fetch(ctx, hits, remote)
    if result.failed:
        return 1
    output.note(f"{len(result.done)} object(s) downloaded, {len(hits)} data file(s) wanted")
    return 0
