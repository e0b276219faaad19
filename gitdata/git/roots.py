"""What keeps objects alive beyond git's own `--all --reflog --indexed-objects`, and the inputs
of `gc --keep-recent`: pseudo-refs, each worktree's HEAD, recent commits of local branches.

A repository has one main worktree (its git dir is the common dir) and any number of linked ones
(`<common dir>/worktrees/<name>`), each with its own HEAD, index, reflog and pseudo-refs. A
worktree whose directory is gone still counts until `git worktree prune`, as it does for
`git gc`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .run import run_git, stream_git

#: Files in a worktree's git dir that name commits git may come back to (`git reset ORIG_HEAD`,
#: a merge or rebase in progress, the last fetch). git gc does not protect all of them; we do,
#: because keeping a few more objects costs little and losing one costs a lot.
PSEUDO_REFS = (
    "ORIG_HEAD",
    "MERGE_HEAD",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "BISECT_HEAD",
    "AUTO_MERGE",
    "FETCH_HEAD",
    "rebase-merge/orig-head",
    "rebase-merge/onto",
    "rebase-merge/stopped-sha",
    "rebase-apply/orig-head",
)


def worktree_git_dirs(common_dir: str) -> list[str]:
    """The main worktree's git dir and every linked one's (prunable ones included)."""
    out = [common_dir]
    base = os.path.join(common_dir, "worktrees")
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        names = []
    for name in names:
        d = os.path.join(base, name)
        if os.path.isfile(os.path.join(d, "HEAD")):
            out.append(d)
    return out


def pseudo_refs(common_dir: str) -> set[str]:
    """Ids at the start of each line of the PSEUDO_REFS files of every worktree."""
    out = set()
    for git_dir in worktree_git_dirs(common_dir):
        for name in PSEUDO_REFS:
            try:
                with open(os.path.join(git_dir, name), "rb") as f:
                    text = f.read(1 << 20).decode("ascii", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                word = line.split(None, 1)[0] if line.strip() else ""
                if len(word) in (40, 64) and all(c in "0123456789abcdef" for c in word):
                    out.add(word)
    return out


def worktree_heads(cwd: str | None = None) -> set[str]:
    """The commit each worktree has checked out (none for an unborn branch)."""
    out = run_git(["worktree", "list", "--porcelain", "-z"], cwd=cwd).stdout
    return {
        rec[len(b"HEAD ") :].decode("ascii")
        for rec in out.split(b"\0")
        if rec.startswith(b"HEAD ") and rec[len(b"HEAD ") :].strip(b"0")
    }


def worktree_paths(cwd: str | None = None) -> list[str]:
    """The top directory of every worktree that still exists (the main one unless bare)."""
    out = run_git(["worktree", "list", "--porcelain", "-z"], cwd=cwd).stdout
    paths = []
    for block in out.split(b"\0\0"):
        recs = block.split(b"\0")
        if recs and recs[0].startswith(b"worktree ") and b"bare" not in recs[1:]:
            path = os.fsdecode(recs[0][len(b"worktree ") :])
            if os.path.isdir(path):
                paths.append(path)
    return paths


def commits_since(since: float, cwd: str | None = None) -> Iterator[str]:
    """Commits of local branches whose committer date is `since` (epoch seconds) or later. All
    history is looked at: dates are not monotonic (rebases, skewed clocks), so `--since`, which
    stops at the first older commit, could miss some."""
    for line in stream_git(["log", "--branches", "--format=%H %ct"], cwd=cwd):
        sha, _, when = line.partition(b" ")
        if int(when) >= since:
            yield sha.decode("ascii")
