from __future__ import annotations

from .. import output, sync, worktree
from ..context import Context
from ..git.paths import require_worktree
from ..git.scan import Hit
from ..globs import PathFilter


def pull(
    remote: str | None = None, include: list[str] | None = None, exclude: list[str] | None = None
) -> int:
    """`git data fetch`, then `git data checkout`; works even with GIT_DATA_SKIP_SMUDGE set."""
    ctx = Context()
    require_worktree(ctx.paths)
    paths = PathFilter(include or [], exclude or [])
    sc = sync.scanner(ctx)
    files = [f for f in worktree.scan(ctx).pointers if paths.match(f.path)]
    # what HEAD needs, and what any pointer in the worktree names (a stash popped, a file
    # restored from another commit)
    hits = sync.checked_out(ctx, sync.head_hits(sc, paths))
    hits += [Hit(f.pointer, f.path) for f in files]
    fetched = sync.fetch(ctx, hits, remote)
    result = worktree.fill(ctx, files, download=False)
    output.note(f"{len(fetched.done)} object(s) downloaded, {len(result.written)} file(s) written")
    if result.unavailable:
        output.error(
            f"{len(result.unavailable)} file(s) stay pointers",
            "see the errors above; run `git data pull` again when the store is back",
        )
        return 1
    return 1 if fetched.failed else 0
