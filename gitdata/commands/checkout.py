from __future__ import annotations

from .. import output, worktree
from ..context import Context
from ..git.paths import require_worktree


def checkout(pathspecs: list[str] | None = None) -> int:
    """Write the bytes over every worktree file that is a pointer (tracked or not, whatever the
    index stages), from the cache; re-stage those whose index entry is that pointer."""
    ctx = Context()
    require_worktree(ctx.paths)
    files = worktree.scan(ctx, pathspecs or []).pointers
    result = worktree.fill(ctx, files, download=False)
    output.note(f"{len(result.written)} file(s) written")
    if result.unstaged:
        output.error(
            f"{len(result.unstaged)} file(s) were written but not re-staged: another git "
            "command holds the index",
            "run `git data checkout` again when it is done",
        )
        return 1
    if result.unavailable:
        output.error(
            f"{len(result.unavailable)} file(s) stay pointers: their bytes are not in the cache",
            "run `git data pull` to download them",
        )
        return 1
    return 0
