"""`git data diff`: the data files that changed between two versions (two revisions, a revision
and the index, or a revision and the worktree), as added, deleted, modified and renamed files
with their sizes, and totals per top-level directory.

git finds the changed paths (git/diff.py, its own pathspec and index rules); the blobs on either
side are read in bulk (Scanner.blob_pointers: one `cat-file --batch-check` for sizes, one
`cat-file --batch` for those small enough to be pointers). A side is a data file only when it is
a pointer: other files are not listed, and a path that stops (or starts) being a pointer counts
as deleted (added).

The worktree. git reports a file whose stat data differs from its index entry with the null id
("look at the worktree"), since our filter is off in every git call we make. Running the clean
filter (`git hash-object --path`, or git's own `git diff`) would store the bytes in the cache as a
side effect, so the file is peeked instead (peek.py): a file that holds a pointer is parsed; one
whose stat data the stat cache knows is not read; anything else is hashed once, as `git add`
would (`git status` reads it as well). Only paths with `filter=data` are hashed: an edited
README.md is never read. Hashing records the stat data, so the next diff does not read the file
again.

Renames: a deleted and an added path with the same oid are one rename (an exact rename: data
files are compared by oid, never by similarity); same base names are paired first.

Not here yet: a chunked store (docs/chunked-store.md) knows how many bytes two versions of a
file share; each Change would then carry `changed_bytes` (and the totals their sum), computed by
the store from the two oids. A store of whole objects can only say "all of them", so the field
is left out rather than filled with a number that means nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .context import Context
from .errors import GitDataError, UsageError
from .filters import NEVER_FILTERED
from .git import diff as gitdiff
from .git.index import data_paths
from .git.paths import require_worktree
from .git.scan import Scanner
from .peek import peek
from .pointer import Pointer
from .statcache import same_file

WORKTREE = "worktree"
INDEX = "index"


@dataclass(frozen=True)
class Endpoints:
    """What is compared: `old` is a tree id; `new` a tree id, INDEX or WORKTREE."""

    old_name: str  # as the user named it ("HEAD" when nothing was named)
    old: str
    old_commit: str | None
    new_name: str
    new: str
    new_commit: str | None = None


@dataclass(frozen=True)
class Change:
    status: str  # "A", "D", "M", "R"
    path: bytes  # the new path (the old one for a deletion)
    old: Pointer | None
    new: Pointer | None
    old_path: bytes | None = None  # renames only

    @property
    def old_size(self) -> int:
        return self.old.size if self.old is not None else 0

    @property
    def new_size(self) -> int:
        return self.new.size if self.new is not None else 0

    @property
    def delta(self) -> int:
        return self.new_size - self.old_size


@dataclass
class Totals:
    files: int = 0
    old_size: int = 0
    new_size: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def delta(self) -> int:
        return self.new_size - self.old_size


def endpoints(ctx: Context, revs: Sequence[str], cached: bool) -> Endpoints:
    """Read `git data diff`'s revisions as `git diff` does: none (HEAD against the worktree, or
    the index with `cached`), one, two, or `A..B` / `A...B` (from the merge base of A and B)."""
    if len(revs) > 2:
        raise UsageError("at most two revisions", "git data diff [REV [REV]] [-- PATH...]")
    if len(revs) == 1 and ".." in revs[0]:
        a, dots, b = revs[0].partition("...") if "..." in revs[0] else revs[0].partition("..")
        a, b = a or "HEAD", b or "HEAD"
        if dots == "...":
            base = gitdiff.merge_base(a, b, ctx.cwd)
            if base is None:
                raise GitDataError(f"no merge base of '{a}' and '{b}'", "name two revisions")
            a = base
        revs = [a, b]
    if len(revs) == 2 and cached:
        raise UsageError("--cached compares a revision with the index", "name one revision")
    names = list(revs) or ["HEAD"]
    sc = Scanner(ctx.cwd)
    trees = sc.trees(names)
    commits = sc.commit_shas(names)
    for name, tree in zip(names, trees):
        if tree is None and not (name == "HEAD" and len(names) == 1):
            raise GitDataError(f"unknown revision '{name}'", "name a branch, tag or commit")
    # a HEAD that names nothing is a branch with no commit yet: everything is new
    old = trees[0] or gitdiff.empty_tree(ctx.cwd)
    if len(names) == 2:
        assert trees[1] is not None
        return Endpoints(names[0], old, commits[0], names[1], trees[1], commits[1])
    if cached:
        return Endpoints(names[0], old, commits[0], INDEX, INDEX)
    require_worktree(ctx.paths)
    return Endpoints(names[0], old, commits[0], WORKTREE, WORKTREE)


def changes(ctx: Context, ends: Endpoints, pathspecs: Sequence[str] = ()) -> list[Change]:
    """The data files that differ between the two ends, sorted by path."""
    if ends.new in (INDEX, WORKTREE):
        raw = gitdiff.diff_index(ends.old, ends.new == INDEX, pathspecs, ctx.cwd)
    else:
        raw = gitdiff.diff_trees(ends.old, ends.new, pathspecs, ctx.cwd)
    raw = [r for r in raw if r.status != "U"]  # a conflict has no single new side to show
    blobs = [r.old_blob for r in raw if r.old_is_file and not gitdiff.is_null(r.old_blob)]
    blobs += [r.new_blob for r in raw if r.new_is_file and not gitdiff.is_null(r.new_blob)]
    pointers = Scanner(ctx.cwd).blob_pointers(blobs)
    in_worktree = [r.path for r in raw if r.new_is_file and gitdiff.is_null(r.new_blob)]
    worktree = worktree_pointers(ctx, in_worktree) if in_worktree else {}
    found = []
    for r in raw:
        old = pointers.get(r.old_blob) if r.old_is_file else None
        if not r.new_is_file:
            new = None
        elif gitdiff.is_null(r.new_blob):
            new = worktree.get(r.path)
        else:
            new = pointers.get(r.new_blob)
        if old is None and new is None or old == new:
            continue
        status = "M" if old is not None and new is not None else "D" if new is None else "A"
        found.append(Change(status, r.path, old, new))
    return sorted(pair_renames(found), key=lambda c: c.path)


def worktree_pointers(ctx: Context, paths: Sequence[bytes]) -> dict[bytes, Pointer]:
    """The pointer each worktree file would be committed as, for those that would be one."""
    top = os.fsencode(require_worktree(ctx.paths))
    tracked = data_paths(paths, os.fsdecode(top))
    found = {}
    for path in paths:
        cleaned = path in tracked and os.path.basename(path) not in _NEVER
        p = _peek_file(ctx, os.path.join(top, path), cleaned)
        if p is not None:
            found[path] = p
    return found


_NEVER = {os.fsencode(n) for n in NEVER_FILTERED}


def _peek_file(ctx: Context, full: bytes, cleaned: bool) -> Pointer | None:
    try:
        f = open(full, "rb", buffering=0)
    except (FileNotFoundError, NotADirectoryError):
        return None  # removed since git looked: nothing to commit
    except OSError as e:
        name = os.fsdecode(full)
        raise GitDataError(f"cannot read {name}: {e.strerror}", "check the file") from e
    with f:
        st = os.fstat(f.fileno())
        look = peek(f, st, ctx.stat_cache)
    if look.is_pointer:
        return look.pointer
    if not cleaned:
        return None  # committed as it is: ordinary content
    if look.oid is not None and not _same_stat(st, full):
        raise GitDataError(
            f"{os.fsdecode(full)} changed while it was being read", "run the command again"
        )
    if look.oid is not None:
        ctx.stat_cache.record(st, look.oid)  # a no-op under statcache.MIN_SIZE
    return look.pointer  # None for an empty file: committed empty, not as a pointer


def _same_stat(st: os.stat_result, full: bytes) -> bool:
    try:
        return same_file(st, os.stat(full))
    except OSError:
        return False


def pair_renames(found: Iterable[Change]) -> list[Change]:
    """Pair each deleted file with an added file of the same oid into a rename (same base
    names first, then in path order); the rest stay as they are."""
    found = list(found)
    added: dict[Pointer, list[Change]] = {}
    deleted: dict[Pointer, list[Change]] = {}
    for c in found:
        if c.status == "A":
            added.setdefault(c.new, []).append(c)  # type: ignore[arg-type]
        elif c.status == "D":
            deleted.setdefault(c.old, []).append(c)  # type: ignore[arg-type]
    paired: set[int] = set()
    renames = []
    for p, gone in deleted.items():
        new = sorted(added.get(p, ()), key=lambda c: c.path)
        if not new:
            continue
        gone = sorted(gone, key=lambda c: c.path)
        for same_name in (True, False):
            for d in gone:
                for a in new:
                    if id(d) in paired or id(a) in paired:
                        continue
                    if same_name and os.path.basename(d.path) != os.path.basename(a.path):
                        continue
                    paired |= {id(d), id(a)}
                    renames.append(Change("R", a.path, p, p, old_path=d.path))
    return [c for c in found if id(c) not in paired] + renames


def top_dir(path: bytes) -> bytes:
    """The top-level directory of `path` with its slash (`b"./"` for a file at the top)."""
    head, sep, _ = path.partition(b"/")
    return head + b"/" if sep else b"./"


def totals(found: Sequence[Change]) -> tuple[Totals, dict[bytes, Totals]]:
    """Overall totals, and totals per top-level directory. A rename across directories counts
    in both: its old size where it was, its new size where it is."""
    overall = Totals()
    dirs: dict[bytes, Totals] = {}
    for c in found:
        overall.files += 1
        overall.old_size += c.old_size
        overall.new_size += c.new_size
        overall.by_status[c.status] = overall.by_status.get(c.status, 0) + 1
        old_dir = top_dir(c.old_path or c.path) if c.old is not None else None
        new_dir = top_dir(c.path) if c.new is not None else None
        for d in {old_dir, new_dir} - {None}:
            t = dirs.setdefault(d, Totals())  # type: ignore[arg-type]
            t.files += 1
            t.by_status[c.status] = t.by_status.get(c.status, 0) + 1
        if old_dir is not None:
            dirs[old_dir].old_size += c.old_size
        if new_dir is not None:
            dirs[new_dir].new_size += c.new_size
    return overall, dict(sorted(dirs.items()))
