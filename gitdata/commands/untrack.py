from __future__ import annotations

import os

from .. import attributes, output, sync, worktree
from ..context import Context
from ..errors import GitDataError
from ..git.paths import repo_paths, require_worktree
from ..git.run import run_git
from ..git.scan import Hit
from ..globs import PathFilter
from ..names import quote


def untrack(patterns: list[str]) -> int:
    """Stop tracking PATTERN…, and stage the files it covered again with their bytes, so that the
    next commit stores them in Git itself instead of keeping their pointers. History keeps its
    pointers: clones of older commits still need gitdata for them."""
    top = require_worktree(repo_paths())
    if not patterns:
        for p in attributes.tracked(top):
            print(p)
        return 0
    removed = attributes.untrack(top, patterns)
    for p in removed:
        output.note(f"untracked '{p}'")
    for p in sorted(set(patterns) - set(removed)):
        output.note(f"'{p}' was not tracked")
    if removed:
        return restage_untracked(Context(), PathFilter(removed))
    return 0


def restage_untracked(ctx: Context, covered: PathFilter) -> int:
    """Give the bytes back to Git for every staged pointer at a path that `covered` matches and
    no data pattern tracks any more: bytes into the worktree where it holds the pointer
    (downloaded if need be), then `git add --renormalize` of those files and .gitattributes."""
    top = ctx.paths.toplevel
    assert top is not None
    strays = [f for f in worktree.index_strays(ctx, sync.scanner(ctx)) if covered.match(f.path)]
    if not strays:
        return 0
    pointers = worktree.scan(ctx, only=[f.path for f in strays]).all
    sync.fetch(ctx, [Hit(f.pointer, f.path) for f in pointers])
    missing = [f for f in pointers if not ctx.cache.has(f.pointer.oid)]
    for f in pointers:
        if f not in missing:
            worktree.write_worktree_file(ctx, f.pointer, os.path.join(os.fsencode(top), f.path),
                                         f.mode)  # fmt: skip
    ready = [f.path for f in strays if f.path not in {m.path for m in missing}]
    if ready:
        run_git(["--literal-pathspecs", "add", "--renormalize", "--", attributes.FILE,
                 *(os.fsdecode(p) for p in ready)], cwd=top)  # fmt: skip
        output.note(
            f"{len(ready)} file(s) staged with their bytes (and {attributes.FILE}): commit them"
        )
    if missing:
        raise GitDataError(
            f"{len(missing)} file(s) stay pointers, their bytes could not be had: "
            + ", ".join(quote(f.path, ctx.quote_path) for f in missing[:10]),
            "get their bytes (`git data track` the pattern again and `git data pull`), then "
            "untrack again; or remove the files",
        )
    return 0
