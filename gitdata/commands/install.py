from __future__ import annotations

from .. import hooks, output
from ..errors import GitDataError
from ..git import config as git_config
from ..git.paths import repo_paths


def filter_config(skip_smudge: bool) -> dict[str, str]:
    skip = " --skip" if skip_smudge else ""
    return {
        "filter.data.process": f"git-data filter-process{' --skip-smudge' if skip_smudge else ''}",
        "filter.data.clean": "git-data clean -- %f",
        "filter.data.smudge": f"git-data smudge{skip} -- %f",
        "filter.data.required": "true",
        "merge.data.name": "gitdata: keep ours when both sides changed a data file",
        "merge.data.driver": "git-data merge-driver %O %A %B %P",
    }


#: The diff driver: one readable line per version of a data file in `git diff`, `git log -p`
#: and `git show` (commands/textconv.py). Not `diff.data.cachetextconv`: the line says whether
#: the bytes are cached, which a cached answer would stop telling.
DIFF_CONFIG = {"diff.data.textconv": "git-data textconv"}


def install(scope: str | None = None, skip_smudge: bool = False) -> int:
    """Register the `data` filter in git config and the hooks in the current repository."""
    scope = scope or "global"
    try:
        paths = repo_paths()
    except GitDataError:
        if scope == "local":
            raise
        paths = None
    for key, value in {**filter_config(skip_smudge), **DIFF_CONFIG}.items():
        git_config.set_value(key, value, scope)
    output.note(f"filter, merge and diff drivers 'data' installed in the {scope} git config")
    if paths is not None:
        changed = hooks.install_in(paths)
        if changed:
            output.note(f"hooks installed in {paths.hooks_dir}: {', '.join(changed)}")
    return 0
