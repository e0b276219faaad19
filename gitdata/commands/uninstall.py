from __future__ import annotations

from .. import attributes, hooks, output
from ..errors import GitDataError
from ..git import config as git_config
from ..git.paths import repo_paths

#: What `filter=data` runs once gitdata is uninstalled: without any driver git would store the
#: raw bytes of every tracked file in history, silently. This refuses them, in one readable line,
#: and lets through what is safe: pointers (checked-out files gitdata never filled) and empty
#: files. Plain sh, since gitdata itself may be gone; git substitutes the quoted path for %f.
GUARD_CLEAN = (
    'h=$(head -c 17); if [ -z "$h" ]; then exit 0; fi; '
    'if [ "$h" = "version gitdata/1" ]; then printf %s "$h"; exec cat; fi; '
    'echo >&2 "git-data: error: "%f" is tracked by gitdata (filter=data in .gitattributes), '
    'but gitdata is uninstalled: git would store its raw bytes in history"; '
    "echo >&2 \"hint: run 'git data install' again, or 'git data untrack' its pattern (then "
    'add the file again)"; exit 1'
)
GUARD = {
    "filter.data.clean": GUARD_CLEAN,
    "filter.data.smudge": "cat",  # pointers stay pointers; no bytes are lost either way
    "filter.data.required": "true",
}


def uninstall(scope: str | None = None) -> int:
    """Remove the filter and merge driver from git config and our hooks from the current
    repository (a user's own hooks are put back). A guard stays in the filter's place, so that
    `git add` of a tracked file fails loudly instead of committing its bytes into history."""
    scope = scope or "global"
    for section in ("filter.data", "merge.data"):
        git_config.remove_section(section, scope)
    for key, value in GUARD.items():
        git_config.set_value(key, value, scope)
    # only our key: other `diff.data.*` settings are the user's; an empty section goes too
    git_config.unset_value("diff.data.textconv", scope)
    if not git_config.has_keys("diff.data.", scope):
        git_config.remove_section("diff.data", scope)
    output.note(
        f"filter 'data' removed from the {scope} git config; a guard stays: `git add` of a file "
        "that .gitattributes gives filter=data now fails instead of storing its bytes "
        f"(`git config --{scope} --remove-section filter.data` removes the guard too)"
    )
    try:
        paths = repo_paths()
    except GitDataError:
        return 0
    removed = hooks.uninstall(paths.hooks_dir, hooks.HOOKS + hooks.OBSOLETE)
    if removed:
        output.note(f"hooks removed from {paths.hooks_dir}: {', '.join(removed)}")
    if paths.toplevel:
        tracked = attributes.tracked(paths.toplevel)
        if tracked:
            output.warn(
                "this repository still tracks "
                + ", ".join(f"'{p}'" for p in tracked)
                + " with gitdata: `git data untrack` them to store such files in Git itself"
            )
    return 0
