from __future__ import annotations

from .. import output, sync
from ..context import Context
from ..git.paths import require_worktree


def checkout(pathspecs: list[str] | None = None) -> int:
    """Replace pointer files in the worktree by their bytes from the cache."""
    ctx = Context()
    require_worktree(ctx.paths)
    files = sync.pointer_files(ctx, pathspecs or [])
    result = sync.materialize(ctx, files, download=False)
    output.note(f"{len(result.written)} file(s) written")
    if result.unavailable:
        output.error(
            f"{len(result.unavailable)} file(s) stay pointers: their bytes are not in the cache",
            "run `git data pull` to download them",
        )
        return 1
    return 0
