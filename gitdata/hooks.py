"""Hook shims: render, install (keeping the user's own hook as `<hook>.legacy`), uninstall.

A shim is tiny and self-identifying (the marker line), so it can be upgraded in place and told
apart from a user's hook. A user's hook is never destroyed: it moves to `<hook>.legacy`, and
`git-data hook` runs it first, with the same arguments and stdin; `uninstall` moves it back.
"""

from __future__ import annotations

import os
import stat
import subprocess

from .errors import GitDataError
from .fsutil import replace_file
from .git.paths import RepoPaths
from .output import warn

MARKER = "# gitdata hook shim"
HOOKS = ("pre-push",)
#: Shims earlier versions installed to write big files after a checkout; the filter process now
#: does that itself when git closes it (worktree.finish), for every git command, so these only
#: cost a Python start per commit and checkout. `install` removes them (a user's hook they had
#: kept as `.legacy` goes back), and `git-data hook` still answers them until then.
OBSOLETE = ("post-checkout", "post-merge", "post-commit", "post-rewrite")
LEGACY = ".legacy"


def render(name: str) -> str:
    # Without git-data, a pre-push must stop (the bytes would not reach the store); the
    # post-* hooks only make big files appear, so they warn and let git go on.
    status = 2 if name == "pre-push" else 0
    return f"""#!/bin/sh
{MARKER} v1: `git data install` writes it, `git data uninstall` removes it.
command -v git-data >/dev/null 2>&1 || {{
  echo >&2 "git-data: error: this repository uses gitdata, but git-data is not on your PATH"
  echo >&2 "hint: install gitdata (./install.sh), or delete $0"
  exit {status}
}}
exec git-data hook {name} "$@"
"""


def install_in(paths: RepoPaths, quiet: bool = False) -> list[str]:
    """Install the shims where this repository's hooks live, unless that is inside the work
    tree (then say what to do instead, unless `quiet`)."""
    if paths.bare:
        return []
    if in_worktree(paths.hooks_dir, paths.toplevel, paths.common_dir):
        if not quiet:
            warn(worktree_hooks_hint(paths.hooks_dir))
        return []
    return install(paths.hooks_dir, quiet=quiet)


def is_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(4096)
    except OSError:
        return False


def calls_us(path: str, name: str) -> bool:
    """A user's hook that runs `git-data hook NAME` itself (as worktree_hooks_hint says)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f"git-data hook {name}" in f.read(1 << 16)
    except OSError:
        return False


def install(hooks_dir: str, names: tuple[str, ...] = HOOKS, quiet: bool = False) -> list[str]:
    """Install the shims; return the names installed or upgraded. A user's hook is moved to
    `<name>.legacy` unless one is there already, in which case that hook is left alone.
    Obsolete shims of ours are removed."""
    changed = []
    uninstall(hooks_dir, OBSOLETE)
    os.makedirs(hooks_dir, exist_ok=True)
    for name in names:
        path = os.path.join(hooks_dir, name)
        text = render(name)
        if os.path.lexists(path):
            if is_ours(path):
                with open(path, encoding="utf-8") as f:
                    if f.read() == text:
                        continue
            else:
                legacy = path + LEGACY
                if os.path.lexists(legacy):
                    if not quiet:
                        warn(
                            f"hook {path} is not gitdata's and {legacy} exists: left both alone; "
                            f'call `git-data hook {name} "$@"` from your hook yourself'
                        )
                    continue
                os.rename(path, legacy)
        replace_file(path, text.encode("utf-8"), 0o755)
        changed.append(name)
    return changed


def missing(hooks_dir: str, names: tuple[str, ...] = HOOKS) -> bool:
    """Whether `install` has work to do: a shim is missing, or an obsolete one is left."""
    return any(not is_ours(os.path.join(hooks_dir, n)) for n in names) or any(
        is_ours(os.path.join(hooks_dir, n)) for n in OBSOLETE
    )


def in_worktree(hooks_dir: str, toplevel: str | None, git_dir: str) -> bool:
    """A `core.hooksPath` inside the work tree (committed hooks, husky style): the team's files,
    which gitdata must not rename or add to (a `git add -A` would commit our shims)."""
    if toplevel is None:
        return False
    hooks_dir, top, gd = (os.path.realpath(p) for p in (hooks_dir, toplevel, git_dir))
    inside = os.path.commonpath([hooks_dir, top]) == top
    return inside and os.path.commonpath([hooks_dir, gd]) != gd


def worktree_hooks_hint(hooks_dir: str) -> str:
    return (
        f"core.hooksPath is {hooks_dir}, inside the work tree, so its hooks belong to the "
        "project: gitdata did not change them. For `git push` to upload data, add the line "
        f'`git-data hook pre-push "$@" || exit $?` near the top of {hooks_dir}/pre-push (it '
        "reads the hook's standard input, so before anything else reads it), or point "
        "core.hooksPath outside the work tree"
    )


def uninstall(hooks_dir: str, names: tuple[str, ...] = HOOKS) -> list[str]:
    removed = []
    for name in names:
        path = os.path.join(hooks_dir, name)
        if is_ours(path):
            os.unlink(path)
            removed.append(name)
            legacy = path + LEGACY
            if os.path.lexists(legacy):
                os.rename(legacy, path)
    return removed


def run_legacy(hooks_dir: str, name: str, args: list[str], stdin: bytes) -> int:
    """Run the user's own hook, if any, first and with the same arguments and stdin."""
    legacy = os.path.join(hooks_dir, name + LEGACY)
    try:
        st = os.stat(legacy)
    except FileNotFoundError:
        return 0
    if not st.st_mode & stat.S_IXUSR:
        return 0  # git skips hooks that are not executable; so do we
    try:
        return subprocess.run([legacy, *args], input=stdin).returncode
    except OSError as e:
        raise GitDataError(f"cannot run {legacy}: {e.strerror}", "make it executable") from e
