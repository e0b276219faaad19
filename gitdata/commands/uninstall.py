from __future__ import annotations

from .. import hooks, output
from ..errors import GitDataError
from ..git import config as git_config
from ..git.paths import repo_paths


def uninstall(scope: str | None = None) -> int:
    """Remove the filter from git config and our hooks from the current repository (a user's own
    hooks are put back)."""
    scope = scope or "global"
    git_config.remove_section("filter.data", scope)
    # only our key: other `diff.data.*` settings are the user's; an empty section goes too
    git_config.unset_value("diff.data.textconv", scope)
    if not git_config.has_keys("diff.data.", scope):
        git_config.remove_section("diff.data", scope)
    output.note(f"filter and diff driver 'data' removed from the {scope} git config")
    try:
        paths = repo_paths()
    except GitDataError:
        return 0
    removed = hooks.uninstall(paths.hooks_dir)
    if removed:
        output.note(f"hooks removed from {paths.hooks_dir}: {', '.join(removed)}")
    return 0
