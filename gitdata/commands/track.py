from __future__ import annotations

from .. import attributes, hooks, output
from ..git.paths import repo_paths, require_worktree


def track(patterns: list[str]) -> int:
    """Track PATTERN… with gitdata (.gitattributes); with none, list the tracked patterns."""
    paths = repo_paths()
    top = require_worktree(paths)
    hooks.install_in(paths, quiet=not patterns)
    if not patterns:
        for p in attributes.tracked(top):
            print(p)
        return 0
    added, already = attributes.track(top, patterns)
    for p in added:
        output.note(f"tracking '{p}'")
    for p in already:
        output.note(f"'{p}' is already tracked")
    return 0
