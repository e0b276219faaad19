"""gc: which objects nobody needs any more, and removing them without losing one that is needed.

Local cache (`git data gc`). A cached object is KEPT when any of these references it:
  1. a commit reachable from any ref (branches, tags, remote-tracking refs, notes, refs/stash,
     every worktree's own refs such as refs/bisect/*), from any worktree's HEAD, or from a
     pseudo-ref of any worktree (ORIG_HEAD, MERGE_HEAD, FETCH_HEAD, a rebase in progress, ...);
  2. a commit reachable from any reflog entry, either side (the stash's entries are the reflog
     of refs/stash; each worktree's HEAD has its own reflog);
  3. any worktree's index, at any stage (staged files, both sides of a conflict);
  4. a pointer file sitting in any worktree, tracked or not, staged or not, ignored or not
     (`git stash pop` of a big file, a file restored by a command that runs no hook): its
     bytes may exist nowhere else;
  5. nothing, but its file is younger than the grace period (`--grace`, default 1h): `git add`
     writes the object before the index that names it, and a gc in between must not take it.
With `--keep-recent DAYS`, rules 1 and 2 narrow to each worktree's HEAD commit and the commits of
the last DAYS days (committer date) on local branches; an object that only older history needs
is removed only if the data remote, asked now, confirms that it holds it. Rules 3 to 5 stand,
so an unpushed object is never removed.

Refused: a bare repository (its data/objects is the store its clones push to), a cache moved
by `data.cachedir` (other repositories may share it, and gc cannot see their refs), a history
with missing objects (gc cannot prove what it would need).

Store gc (`git data gc --remote NAME`) is in store_gc.py; it uses the rules above as its rule 2.

Removal itself re-checks: a cached object is renamed aside and its mtime read again before
it is deleted (Cache.remove_if_older), so one a `git add` touched meanwhile goes back.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from . import resolve, sync, worktree
from .context import Context
from .errors import GitDataError, UsageError
from .git import config as git_config
from .git.roots import commits_since, pseudo_refs, worktree_heads, worktree_paths
from .git.scan import Scanner
from .pointer import is_oid
from .storage import open_store

GRACE_LOCAL = "1h"
GRACE_STORE = "14d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

#: Temporaries younger than this stay whatever the grace period: one may be a `git add` or a
#: download still writing, and they hold nothing worth a race (`--grace 0` is about objects).
TEMPORARY_MIN_AGE = 3600

UNREFERENCED = "unreferenced"
OLD_HISTORY = "only old history needs it; the store has it"


def parse_duration(text: str) -> float:
    """Seconds in `30m`, `2h`, `14d`, `1w`, `45s`, or `0`."""
    m = re.fullmatch(r"(\d+)([smhdw]?)", text.strip())
    if m is None or (not m.group(2) and int(m.group(1)) != 0):
        raise UsageError(f"bad duration '{text}'", "write it like 30m, 2h, 14d, 1w, or 0 for none")
    return int(m.group(1)) * _UNITS.get(m.group(2), 1)


@dataclass(frozen=True)
class Candidate:
    oid: str
    size: int
    mtime: float
    reason: str = ""


@dataclass
class Plan:
    where: str  # the cache root, or the store's description
    remove: list[Candidate] = field(default_factory=list)
    referenced: int = 0  # kept: something references it
    young: int = 0  # kept: younger than the grace period
    unconfirmed: int = 0  # kept (--keep-recent): the store did not confirm it holds it
    store: str | None = None  # the store asked (--keep-recent)


@dataclass
class Outcome:
    removed: list[Candidate] = field(default_factory=list)
    in_use: int = 0  # planned, but touched or rewritten meanwhile: kept
    failed: dict[str, str] = field(default_factory=dict)
    temporaries: int = 0  # stale temporary files removed
    stat_entries: int = 0  # stale stat-cache entries removed

    @property
    def bytes(self) -> int:
        return sum(c.size for c in self.removed)


# --- what is referenced -----------------------------------------------------------------------


#: What `git gc` keeps, in git's own words: every ref and reflog entry, every worktree's HEAD
#: and index (all stages; split and sparse indexes too). Reflog entries naming pruned objects
#: are skipped by git, as in its own gc; a missing object of live history fails the walk.
LIVE = ("--all", "--reflog", "--indexed-objects")


def local_keep(ctx: Context, sc: Scanner) -> set[str]:
    """Local rules 1-4: every pointer git's own gc would keep alive, or a pseudo-ref, or a file
    of any worktree."""
    pseudo = sc.existing(pseudo_refs(ctx.paths.common_dir))
    return set(sc.pointers(LIVE, pseudo)) | worktree_keep(ctx)


def worktree_keep(ctx: Context) -> set[str]:
    """Rule 4: what the pointer files of every worktree name, ignored files included."""
    return {
        f.pointer.oid
        for top in worktree_paths(ctx.cwd)
        for f in worktree.scan(ctx, top=top, ignored=True, classify=False).pointers
    }


def recent_keep(ctx: Context, sc: Scanner, since: float) -> set[str]:
    """--keep-recent: pointers in each worktree's HEAD, index and files, and in the commits of
    local branches dated `since` or later (their trees, not their history)."""
    commits = worktree_heads(ctx.cwd) | set(commits_since(since, ctx.cwd))
    return set(sc.pointers(["--no-walk", "--indexed-objects"], commits)) | worktree_keep(ctx)


# --- the local cache --------------------------------------------------------------------------


def refuse_local(ctx: Context) -> None:
    if ctx.paths.bare:
        raise GitDataError(
            "this is a bare repository: its data/objects is the store its clones push to",
            "collect it from a clone with `git data gc --remote NAME`",
        )
    cachedir = git_config.last(ctx.git_config, "data.cachedir")
    if cachedir:
        raise GitDataError(
            f"the cache {ctx.cache.root} is set by data.cachedir and may be shared by other "
            "repositories, whose refs gc cannot see",
            "gc collects only a repository's own cache; `git data fsck` still checks this one",
        )


def plan_local(
    ctx: Context, grace: float, keep_recent: int | None = None, now: float | None = None
) -> Plan:
    """What `git data gc` would remove from the cache, and why the rest stays."""
    refuse_local(ctx)
    now = time.time() if now is None else now
    plan = Plan(where=ctx.cache.root)
    old = []
    for oid, st in ctx.cache.iter_stat():
        if st.st_mtime >= now - grace:
            plan.young += 1
        else:
            old.append(Candidate(oid, st.st_size, st.st_mtime))
    if not old:
        return plan  # nothing could go: spare the walk
    sc = sync.scanner(ctx)
    keep = local_keep(ctx, sc)
    history_only = []
    for c in old:
        if c.oid not in keep:
            plan.remove.append(Candidate(c.oid, c.size, c.mtime, UNREFERENCED))
        elif keep_recent is None:
            plan.referenced += 1
        else:
            history_only.append(c)
    if history_only:
        assert keep_recent is not None
        recent = recent_keep(ctx, sc, now - keep_recent * 86400)
        candidates = [c for c in history_only if c.oid not in recent]
        plan.referenced += len(history_only) - len(candidates)
        if candidates:
            store = open_store(resolve.for_download(ctx).spec)
            plan.store = store.describe()
            from .fsck import readable_in  # whole objects, or records whose packs exist

            confirmed = readable_in(ctx, store, {c.oid: c.size for c in candidates})
            for c in candidates:
                if c.oid in confirmed:
                    plan.remove.append(Candidate(c.oid, c.size, c.mtime, OLD_HISTORY))
                else:
                    plan.unconfirmed += 1
    return plan


def remove_local(ctx: Context, plan: Plan, cutoff: float) -> Outcome:
    """Remove what the plan says, re-checking each object's age at the last moment; then drop
    stale temporaries, stat-cache entries and chunk lists (the chunked store's local index) of
    objects no longer cached."""
    out = Outcome()
    _restore_aside(ctx)
    for c in plan.remove:
        try:
            freed = ctx.cache.remove_if_older(c.oid, cutoff)
        except OSError as e:
            out.failed[c.oid] = e.strerror or str(e)
            continue
        if freed is None:
            out.in_use += 1
        else:
            out.removed.append(Candidate(c.oid, freed, c.mtime, c.reason))
    stale = min(cutoff, time.time() - TEMPORARY_MIN_AGE)
    out.temporaries = _remove_stale(ctx.cache.tmp_dir, stale)
    out.stat_entries = _clean_stat_cache(ctx, stale)
    from .storage.chunked.index import prune_index  # the chunked store's local index (7.2)

    prune_index(ctx.paths.data_dir, ctx.cache.has)
    return out


def _restore_aside(ctx: Context) -> None:
    """Put back what an interrupted gc had renamed aside (Cache.remove_if_older) but not yet
    deleted or restored: only a later gc may decide about it."""
    for name in _listdir(ctx.cache.tmp_dir):
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "gc" or not is_oid(parts[1]) or not parts[2].isdigit():
            continue
        if _alive(int(parts[2])):
            continue  # another gc, at work
        aside = os.path.join(ctx.cache.tmp_dir, name)
        try:
            if ctx.cache.has(parts[1]):
                os.unlink(aside)
            else:
                os.rename(aside, ctx.cache.path(parts[1]))
        except OSError:
            continue


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _remove_stale(directory: str, cutoff: float) -> int:
    """Temporaries a crash or an interrupted download left behind, older than `cutoff`."""
    n = 0
    for name in _listdir(directory):
        if name.startswith("gc-"):
            continue  # another gc's, at work (_restore_aside handles the abandoned ones)
        path = os.path.join(directory, name)
        try:
            if os.lstat(path).st_mtime < cutoff:
                os.unlink(path)
                n += 1
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
    return n


def _clean_stat_cache(ctx: Context, cutoff: float) -> int:
    """Entries naming an object no longer cached can never hit; leftovers of an interrupted
    write (`*.tmp`) older than `cutoff` are dead too. One small read per entry."""
    root = ctx.stat_cache.root
    n = 0
    for name in _listdir(root):
        path = os.path.join(root, name)
        try:
            if name.endswith(".tmp"):
                stale = os.lstat(path).st_mtime < cutoff
            else:
                with open(path) as f:
                    oid = f.read(200).strip().rpartition(" ")[2]
                stale = not is_oid(oid) or not ctx.cache.has(oid)
            if stale:
                os.unlink(path)
                n += 1
        except (OSError, UnicodeDecodeError):
            continue
    return n


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
