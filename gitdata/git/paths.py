"""Where a repository keeps things, from one `git rev-parse` call.

git's own rules decide (GIT_DIR, GIT_COMMON_DIR, worktrees, core.hooksPath), so we ask git rather
than guess; `--path-format=absolute` needs git 2.31 (and gitdata as a whole 2.32).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from ..errors import GitDataError
from .run import run_git


@dataclass(frozen=True)
class RepoPaths:
    git_dir: str  # this worktree's git dir (.git, or .git/worktrees/<name>)
    common_dir: str  # shared by all worktrees: objects, refs, our cache
    hooks_dir: str  # honours core.hooksPath
    index_file: str  # honours GIT_INDEX_FILE
    toplevel: str | None  # None in a bare repository
    bare: bool

    @property
    def data_dir(self) -> str:
        """gitdata's own state for the whole repository: <common dir>/data."""
        return os.path.join(self.common_dir, "data")

    @property
    def worktree_data_dir(self) -> str:
        """gitdata's state for this worktree only (pending checkouts)."""
        return os.path.join(self.git_dir, "data")


@cache
def repo_paths(cwd: str | None = None) -> RepoPaths:
    proc = run_git(
        [
            "rev-parse",
            "--is-bare-repository",
            "--path-format=absolute",
            "--git-dir",
            "--git-common-dir",
            "--git-path",
            "hooks",
            "--git-path",
            "index",
            "--show-toplevel",  # last: it fails in a bare repository, after the others printed
        ],
        cwd=cwd,
        check=False,
    )
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 5:
        raise GitDataError(
            "not in a git repository",
            "run this inside a git repository, or `git init` one first",
        )
    bare = lines[0] == "true"
    toplevel = lines[5] if len(lines) > 5 and not bare else None
    return RepoPaths(
        git_dir=lines[1],
        common_dir=lines[2],
        hooks_dir=lines[3],
        index_file=lines[4],
        toplevel=toplevel,
        bare=bare,
    )


def require_worktree(paths: RepoPaths) -> str:
    if paths.toplevel is None:
        raise GitDataError("this command needs a work tree", "run it in a non-bare repository")
    return paths.toplevel
