"""What must hold before history is rewritten, and the worktree afterwards."""

from __future__ import annotations

import os

from .. import output
from ..context import Context
from ..errors import GitDataError
from ..git import config as git_config
from ..git.paths import require_worktree
from ..git.run import run_git
from .rewrite import pending_checkout, recover

#: Files in the git dir that say an operation is half done, and its name.
IN_PROGRESS = (
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase or am"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
)


def require_clean(ctx: Context) -> str:
    """The top of the worktree, once it is known to have no change and no operation in
    progress; a GitDataError otherwise."""
    top = require_worktree(ctx.paths)
    if recover(ctx):  # a run killed after its refs moved
        check_out(ctx, top)
    for name, what in IN_PROGRESS:
        if os.path.exists(os.path.join(ctx.paths.git_dir, name)):
            raise GitDataError(
                f"{what} is in progress", "finish it or abort it, then run git data migrate"
            )
    # with our filter: a file git must re-read to compare is cleaned as `git status` would
    out = run_git(
        ["status", "--porcelain", "-z", "--untracked-files=no", "--ignore-submodules"],
        cwd=top,
        filters=True,
    ).stdout
    if out:
        raise GitDataError(
            "the worktree has changes", "commit or stash them, then run git data migrate"
        )
    return top


def check_out(ctx: Context, top: str) -> None:
    """Write the worktree and index of the new HEAD (git runs our filter; big files are written
    when it closes, before this returns)."""
    cfg = git_config.read_config(top)
    if not git_config.last(cfg, "filter.data.process"):
        output.warn(
            "the data filter is not installed: data files were checked out as pointers; "
            "run `git data install` and `git data checkout`"
        )
    run_git(["reset", "-q", "--hard", "HEAD"], cwd=top, filters=True)
    try:
        os.unlink(pending_checkout(ctx))
    except FileNotFoundError:
        pass
