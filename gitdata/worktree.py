"""Data files in the worktree: which are still pointers, writing their bytes, and finishing what
a git command left as pointers.

A pointer file in the worktree names its content, so writing the bytes over it changes nothing
git would store there: the clean filter turns those bytes back into the same pointer. Whether
the index stages that pointer or something else (a `git stash pop` of a modified file) or
nothing (an untracked file) does not matter for the write; it matters for re-staging, which is
done only where the index stages exactly that pointer, so a user's staged state never changes.

Who calls `finish`: every filter process when git closes its input, which git does at the very
end of the command that started it, and waits for (sub-process.c: the exit handler closes the
pipes and then `finish_command`). So whatever git command wrote files through smudge
(checkout, clone, stash, reset --hard, restore, merge --abort, am, rebase, read-tree -u,
checkout-index, cherry-pick) has written them and its index by then; the big files it got as
pointers are written and re-staged before the user gets the prompt back, with no hook.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import output, pending
from .context import Context
from .errors import GitError
from .git.index import (
    blob_id,
    data_paths,
    ignored_files,
    index_stat,
    ls_files,
    restage,
    untracked,
)
from .git.index_file import record_stat
from .git.scan import Scanner
from .peek import peek
from .pointer import LENGTHS, Pointer, parse
from .statcache import MIN_SIZE


@dataclass(frozen=True)
class PointerFile:
    """A worktree file whose content is a pointer."""

    path: bytes  # top-relative
    pointer: Pointer
    mode: int  # the index's mode, else the file's
    staged: bool  # the stage-0 index entry is exactly this pointer


@dataclass
class Scan:
    pointers: list[PointerFile] = field(default_factory=list)  # at paths a data pattern tracks
    strays: list[PointerFile] = field(default_factory=list)  # at paths no data pattern tracks

    @property
    def all(self) -> list[PointerFile]:
        return self.pointers + self.strays


def read_pointer(full: bytes | str) -> Pointer | None:
    """The pointer the regular file `full` holds, or None (any other file: one stat)."""
    try:
        st = os.lstat(full)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size not in LENGTHS:
        return None
    try:
        with open(full, "rb") as f:
            return parse(f.read(LENGTHS.stop))
    except OSError:
        return None


def scan(
    ctx: Context,
    pathspecs: Sequence[str] = (),
    only: Iterable[bytes] | None = None,
    with_untracked: bool = True,
    ignored: bool = False,
    top: str | None = None,
    classify: bool = True,
) -> Scan:
    """Every file of the worktree (tracked, and untracked unless told otherwise; ignored ones
    with `ignored`) that is a pointer, whatever the index says; `only`: just those paths.
    `top` scans another worktree of the repository. Without `classify` (gc keeps them all)
    the attributes are not asked: every pointer file comes back in `pointers`."""
    top = top or ctx.paths.toplevel
    assert top is not None
    found: list[PointerFile] = []
    if only is not None:
        paths = sorted(set(only))
        entries = {p: e for p, (e, _) in index_stat(paths, top).items()}
    else:
        # pathspecs are relative to where the user is; none means the whole worktree
        where = ctx.cwd if pathspecs else top
        entries = {e.path: e for e in ls_files(pathspecs or [":/"], where, all_stages=True)}
        paths = list(entries)
        if with_untracked:
            paths += untracked(pathspecs, where, ignored=ignored)
    btop = os.fsencode(top)
    for path in paths:
        full = os.path.join(btop, path)
        p = read_pointer(full)
        if p is None:
            continue
        e = entries.get(path)
        if e is not None and e.mode in (0o100644, 0o100755):
            mode = e.mode
        else:
            mode = 0o100755 if os.stat(full).st_mode & stat.S_IXUSR else 0o100644
        staged = e is not None and e.stage == 0 and e.stages(p.encode())
        found.append(PointerFile(path, p, mode, staged))
    if not classify:
        return Scan(found)
    data = data_paths([f.path for f in found], top)
    return Scan([f for f in found if f.path in data], [f for f in found if f.path not in data])


def ignored_pointers(ctx: Context) -> list[PointerFile]:
    """Pointer files among the files git ignores: no commit takes them and no command fills
    them, but they name data (gc keeps their bytes), so `git data status` lists them."""
    top = ctx.paths.toplevel
    assert top is not None
    found = []
    for path in ignored_files(top):
        full = os.path.join(os.fsencode(top), path)
        p = read_pointer(full)
        if p is not None:
            mode = 0o100755 if os.stat(full).st_mode & stat.S_IXUSR else 0o100644
            found.append(PointerFile(path, p, mode, False))
    return found


@dataclass
class Filled:
    written: list[bytes] = field(default_factory=list)
    unavailable: list[PointerFile] = field(default_factory=list)
    unstaged: list[bytes] = field(default_factory=list)  # re-staging must wait (index locked)


def fill(
    ctx: Context,
    files: Sequence[PointerFile],
    download: bool = True,
    remote: str | None = None,
    also: Iterable[bytes] = (),
) -> Filled:
    """Replace pointer files by their bytes from the cache (downloading what is missing), then
    re-stage, where the index stages exactly that pointer, these, the files of `also` and those
    on the worktree's pending list (a git command left them there when the index was locked),
    so that `git status` is clean; what must wait again goes back on the list."""
    result = Filled()
    if download and files:
        from . import sync
        from .git.scan import Hit

        sync.fetch(ctx, [Hit(f.pointer, f.path) for f in files], remote)
    top = os.fsencode(ctx.paths.toplevel or "")
    for f in files:
        if not ctx.cache.has(f.pointer.oid):
            result.unavailable.append(f)
            continue
        write_worktree_file(ctx, f.pointer, os.path.join(top, f.path), f.mode)
        result.written.append(f.path)
    data_dir = ctx.paths.worktree_data_dir
    stage = {*result.written, *also, *pending.take(data_dir)}
    result.unstaged = restage_stale(ctx, sorted(stage))
    pending.put_back(data_dir, result.unstaged)
    return result


def restage_stale(ctx: Context, paths: Sequence[bytes]) -> list[bytes]:
    """Re-stage those of `paths` whose worktree file holds the bytes of the pointer the index
    stages, but whose size the index does not know yet (it would call them modified). Returns
    the paths left for later because another git process holds the index lock."""
    top = ctx.paths.toplevel
    if not paths or top is None:
        return []
    stale: dict[bytes, tuple[str, os.stat_result]] = {}
    for path, (entry, size) in index_stat(paths, top).items():
        full = os.path.join(os.fsencode(top), path)
        try:
            st = os.stat(full)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size == size:
            continue
        p = _known_pointer(ctx, full, st)
        if p is not None and blob_id(p.encode(), len(entry.blob)) == entry.blob:
            stale[path] = (entry.blob, st)
    recorded = record_stat(ctx.paths.index_file, stale) if stale else set()
    if recorded is None:
        return sorted(stale)  # another git command holds the index lock
    rest = sorted(p for p in stale if p not in recorded)
    try:
        restage(top, rest)
    except GitError as e:
        if "index.lock" not in e.message:
            raise
        return rest
    return []


def _known_pointer(ctx: Context, full: bytes, st: os.stat_result) -> Pointer | None:
    """The pointer of a worktree file's content (peek.py): from the stat cache for a big file we
    wrote or hashed, by hashing for a small one; None when unknown (then it is not ours to
    re-stage)."""
    try:
        with open(full, "rb", buffering=0) as f:
            return peek(f, st, ctx.stat_cache, hash_limit=MIN_SIZE - 1).pointer
    except OSError:
        return None


def finish(ctx: Context, left: Iterable[bytes] = ()) -> int:
    """Write the big files that smudge left as pointers (`left`, and those recorded in the
    worktree's pending list), and re-stage them; what must wait for the index lock goes back
    on the list. Returns 1 when some bytes could not be had."""
    if ctx.paths.toplevel is None or ctx.settings.skip_smudge:
        return 0  # the list stays for `git data checkout`
    paths = set(left) | pending.take(ctx.paths.worktree_data_dir)
    if not paths:
        return 0
    result = fill(ctx, scan(ctx, only=paths).pointers, also=paths)
    if result.unavailable:
        output.error(
            f"{len(result.unavailable)} file(s) are still pointers: their bytes could not be had",
            "run `git data pull` once the store has them",
        )
        return 1
    return 0


def write_worktree_file(ctx: Context, p: Pointer, target: bytes, mode: int) -> None:
    """Copy the cached object over `target` atomically, with the index's executable bit, and
    remember its stat data so that re-staging it does not hash it again. Its mtime is the last
    nanosecond of the second before: written into the index this second (git/index_file.py),
    git, which may compare whole seconds, trusts it rather than reading it again.

    The temporary file gets a fresh name created with O_EXCL: a fixed name could be a symlink
    that a repository committed next to the file, and following it would write the file's
    bytes anywhere the user can write."""
    import tempfile

    from .cache import disk_error
    from .fsutil import copy_into, umask

    tmp: bytes | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=b".gitdata-", suffix=b".tmp")
        with open(fd, "wb") as fout:
            copy_into(ctx.cache.path(p.oid), fout)
            os.fchmod(fd, (0o777 if mode == 0o100755 else 0o666) & ~umask())
        now = time.time_ns()
        os.utime(tmp, ns=(now, now // 10**9 * 10**9 - 1), follow_symlinks=False)
        os.rename(tmp, target)
        tmp = None
    except OSError as e:
        raise disk_error(e, os.fsdecode(target)) from e
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
    ctx.stat_cache.record(os.stat(target), p.oid)


def index_strays(ctx: Context, sc: Scanner) -> list[PointerFile]:
    """Index entries that stage a pointer at a path no data pattern tracks (`git mv` to another
    extension, an untracked pattern): the next commit would keep the pointer text as the file,
    and clones would get it. `staged` is True for all of them."""
    top = ctx.paths.toplevel
    assert top is not None
    blobs = {h.blob: h.pointer for h in sc.pointers(["--no-walk", "--indexed-objects"]).values()}
    if not blobs:
        return []
    entries = [e for e in ls_files([":/"], top) if e.blob in blobs]
    data = data_paths([e.path for e in entries], top)
    return [PointerFile(e.path, blobs[e.blob], e.mode, True) for e in entries if e.path not in data]
