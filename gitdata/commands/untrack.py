from __future__ import annotations

from .. import attributes, output
from ..git.paths import repo_paths, require_worktree


def untrack(patterns: list[str]) -> int:
    """Stop tracking PATTERN… (the files already committed stay pointers in history)."""
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
    return 0
