"""What keeps objects alive in git's eyes, as gc must see it: every ref, every reflog entry, and
each worktree's HEAD, own refs, pseudo-refs and index.

A repository has one main worktree (its git dir is the common dir) and any number of linked ones
(`<common dir>/worktrees/<name>`, what `git worktree list` shows), each with its own HEAD, index,
HEAD reflog and per-worktree refs (refs/bisect/, refs/worktree/, refs/rewritten/). A worktree
whose directory is gone still counts until `git worktree prune`, as it does for `git gc`.

Refs are read with pygit2 (which refuses a repository whose refs it cannot read, such as
reftable, rather than seeing none). Reflogs are read from their files, as `git gc` does: a
reflog can outlive its ref. Indexes are read by git: libgit2 refuses split and sparse indexes
("unsupported mandatory extension"), and git knows every index format it writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pygit2
from pygit2.enums import RepositoryOpenFlag

from ..errors import GitDataError
from .run import run_git, split_z

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

_PER_WORKTREE = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")


@dataclass
class Worktree:
    git_dir: str
    name: str  # "" for the main worktree


@dataclass
class Roots:
    """Object ids (hex, not peeled) that gc must treat as live, by where they came from."""

    refs: dict[str, str] = field(default_factory=dict)  # ref name -> id, every worktree's
    heads: set[str] = field(default_factory=set)  # each worktree's HEAD commit
    reflogs: set[str] = field(default_factory=set)  # both sides of every reflog entry
    pseudo: set[str] = field(default_factory=set)  # ORIG_HEAD, MERGE_HEAD, FETCH_HEAD, ...
    index: set[str] = field(default_factory=set)  # blobs (and sparse-dir trees) of each index

    def history(self) -> set[str]:
        """Every id whose history keeps objects alive (refs, HEADs, reflogs, pseudo-refs)."""
        return set(self.refs.values()) | self.heads | self.reflogs | self.pseudo


def worktrees(common_dir: str) -> list[Worktree]:
    """The main worktree and every linked one (prunable ones included)."""
    out = [Worktree(common_dir, "")]
    base = os.path.join(common_dir, "worktrees")
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        names = []
    for name in names:
        d = os.path.join(base, name)
        if os.path.isfile(os.path.join(d, "HEAD")):
            out.append(Worktree(d, name))
    return out


def gc_roots(common_dir: str) -> Roots:
    """Everything every worktree of the repository at `common_dir` keeps alive."""
    roots = Roots()
    for wt in worktrees(common_dir):
        try:
            repo = pygit2.Repository(wt.git_dir, RepositoryOpenFlag.NO_SEARCH)
        except (pygit2.GitError, KeyError) as e:
            raise GitDataError(
                f"cannot read worktree '{wt.name or 'main'}' ({wt.git_dir}): {e}",
                "repair it (`git worktree repair`) or remove it (`git worktree prune`)",
            ) from e
        main = not wt.name
        for ref in repo.references.iterator():
            # a linked worktree sees the shared refs too: read them once, from the main one
            if not main and not ref.name.startswith(_PER_WORKTREE):
                continue
            target = _target(ref)
            if target is not None:
                roots.refs[ref.name if main else f"worktrees/{wt.name}/{ref.name}"] = target
        if not repo.head_is_unborn:
            roots.heads.add(str(repo.head.target))
        roots.reflogs |= reflog_ids(wt.git_dir)
        roots.pseudo |= pseudo_refs(wt.git_dir)
        roots.index |= index_objects(wt.git_dir)
    return roots


def _target(ref: pygit2.Reference) -> str | None:
    try:
        return str(ref.resolve().target)
    except (KeyError, pygit2.GitError):
        return None  # a symbolic ref to nothing (an unborn branch)


def reflog_ids(git_dir: str) -> set[str]:
    """Both ids of every entry of every reflog under `git_dir`/logs: HEAD's and the refs' in the
    common dir, a linked worktree's HEAD and own refs in its git dir. A line is
    `<old id> <new id> <who> <when>\t<message>`."""
    out: set[str] = set()
    for top, _, names in os.walk(os.path.join(git_dir, "logs")):
        for name in names:
            try:
                with open(os.path.join(top, name), "rb") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                out.update(w.decode("ascii", "replace") for w in line.split(b" ", 2)[:2])
    return out


def pseudo_refs(git_dir: str) -> set[str]:
    """Ids at the start of each line of the PSEUDO_REFS files present in `git_dir`."""
    out = set()
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


def index_objects(git_dir: str) -> set[str]:
    """Every object the index of this worktree names, at every stage (a conflict's sides
    included), and the trees of sparse directories. None when there is no index."""
    index = os.path.join(git_dir, "index")
    if not os.path.exists(index):
        return set()
    # GIT_INDEX_FILE too: an inherited one would make git read another index than this.
    proc = run_git(
        ["ls-files", "--stage", "-z"],
        cwd=git_dir,
        env={"GIT_DIR": git_dir, "GIT_INDEX_FILE": index},
    )
    out = set()
    for rec in split_z(proc.stdout):
        meta = rec.partition(b"\t")[0].split(b" ")
        if len(meta) == 3:
            out.add(meta[1].decode("ascii"))
    return out
