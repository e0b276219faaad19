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
from .output import warn

MARKER = "# gitdata hook shim"
HOOKS = ("pre-push", "post-checkout", "post-merge", "post-commit", "post-rewrite")
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


def is_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(4096)
    except OSError:
        return False


def install(hooks_dir: str, names: tuple[str, ...] = HOOKS, quiet: bool = False) -> list[str]:
    """Install the shims; return the names installed or upgraded. A user's hook is moved to
    `<name>.legacy` unless one is there already, in which case that hook is left alone."""
    changed = []
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
    return any(not is_ours(os.path.join(hooks_dir, n)) for n in names)


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
