"""`git data migrate import --from-dvc`: a DVC project's data becomes data files, in one new
commit on the current branch (docs/migrating.md, "From DVC").

1. Checks: a work tree without changes, no merge/rebase/cherry-pick/revert under way, the
   filter installed. A run killed after the branch moved is finished first (dvc_commit).
2. The outs of the `.dvc` files and `dvc.lock` files of HEAD (dvc_files); those already in Git
   (a second run) are done. A directory out expands through its `.dir` listing.
3. Every file's bytes into the gitdata cache, verified against DVC's md5 (dvc_objects): from
   the work tree when DVC checked it out there, else DVC's cache, else the DVC remote. Anything
   missing or different stops the run here, with the list, before anything else changed.
4. Data files the work tree lacks, or has as links into DVC's cache, are written as files.
5. One commit: pointers at the outs' paths, the `.dvc` files gone, DVC's lines gone from the
   `.gitignore` files (one left empty goes too), `.gitattributes` lines for the paths, and with
   --keep-remote the DVC remote as the default data remote in `.gitdata.toml`. Then the branch
   moves and the work tree and index follow.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from concurrent.futures import ThreadPoolExecutor

from .. import attributes, hooks, output, remotes
from ..context import Context
from ..errors import GitDataError, UsageError
from ..git import config as git_config
from ..git.paths import require_worktree
from ..git.run import run_git
from ..pointer import Pointer
from ..statcache import same_file
from ..worktree import write_worktree_file
from . import dvc_commit, dvc_files, plan, safety
from .dvc_files import Out
from .dvc_objects import Found, Progress, Sources, Wanted, listing_entries, verify
from .rewrite import kill_point
from .selection import Selection

_UNESCAPE = re.compile(r"\\(.)")
#: gitdata's objects go into this folder of a DVC remote kept with --keep-remote, apart from
#: DVC's own (`files/md5/`, and DVC 2's two-hex-digit folders).
REMOTE_SUBDIR = "gitdata"


def import_dvc(
    sel: Selection,
    no_rewrite: bool = True,
    dvc_remote: str | None = None,
    keep_remote: bool = False,
) -> int:
    if sel.everything or sel.refs or sel.above is not None:
        raise UsageError(
            "--from-dvc converts the current branch's DVC files: --everything, REF… and --above "
            "do not apply",
            "select outs with --include and --exclude; --rewrite rewrites the history of "
            "--everything or REF…",
        )
    ctx = Context()
    top = require_worktree(ctx.paths)
    owed = dvc_commit.pending(ctx)
    if owed is not None:
        output.note("finishing the import that was interrupted")
        _sync(ctx, *owed)
        return 0
    head = _check_ready(ctx)
    files = dvc_commit.tracked(ctx, ["**/*.dvc", "**/dvc.lock"], "glob")
    outs = [o for o in dvc_files.read_outs(top, files) if sel.paths.match(o.path)]
    in_git = set(dvc_commit.tracked(ctx, [o.path for o in outs]))
    todo = [o for o in outs if o.path not in in_git and not _has_under(in_git, o.path)]
    dvc_gone = [f for f in files if not f.endswith("dvc.lock") and _all_done(top, f, sel)]
    if not todo and not dvc_gone:
        output.note("nothing to import: no DVC out of HEAD is left outside Git")
        return 0
    roots = list(dict.fromkeys(dvc_files.dvc_root(top, f) for f in files))
    remote = find_remote(roots, dvc_remote)
    if keep_remote and remote is None:
        raise GitDataError(
            "--keep-remote: this DVC project has no default remote",
            "name the one to keep: --dvc-remote NAME|URL|DIR",
        )
    sources = Sources(ctx.cache, [dvc_files.cache_dir(r) for r in roots], remote)
    found = gather(ctx, top, todo, sources)
    kill_point("dvc-gathered")
    _check_found(found, remote)
    for path, p in found.pointers.items():
        if path not in found.from_worktree:
            _write(ctx, top, path, p, found.modes.get(path, 0o100644))
    changes = _changes(ctx, top, todo, dvc_gone, found, keep_remote and remote)
    n, nbytes = len(found.pointers), sum(p.size for p in found.pointers.values())
    message = (
        "Import DVC-tracked data into gitdata\n\n"
        f"git data migrate import --from-dvc: {len(todo)} DVC out(s), {n} file(s), "
        f"{output.human_bytes(nbytes)}; {len(dvc_gone)} .dvc file(s) removed.\n"
    )
    new = dvc_commit.commit(ctx, head, changes, message)
    dvc_commit.move_branch(ctx, head, new, "git data migrate import --from-dvc")
    kill_point("dvc-after-ref")
    _sync(ctx, head, new)
    hooks.install_in(ctx.paths, quiet=True)
    output.note(
        f"imported {n} file(s), {output.human_bytes(nbytes)}, from {len(todo)} DVC out(s) in "
        f"commit {new[:7]}"
    )
    advise(ctx, top, remote, keep_remote)
    return 0


def _check_ready(ctx: Context) -> str:
    """HEAD's commit id, once the repository is fit for a new commit made behind git's back."""
    top = safety.require_clean(ctx)
    head = run_git(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=top, check=False)
    if head.returncode != 0:
        raise GitDataError("HEAD has no commit yet", "commit the DVC files first")
    if not git_config.last(ctx.git_config, "filter.data.process"):
        raise GitDataError(
            "the data filter is not installed", "run `git data install`, then the import again"
        )
    return head.stdout.decode().strip()


def _has_under(paths: set[str], folder: str) -> bool:
    return any(p.startswith(folder + "/") for p in paths)


def _all_done(top: str, dvc_file: str, sel: Selection) -> bool:
    """Whether every out of `dvc_file` is selected: imported by this run, or before."""
    return all(sel.paths.match(o.path) for o in dvc_files.read_dvc_file(top, dvc_file))


def find_remote(roots: list[str], name_or_url: str | None) -> dvc_files.DvcRemote | None:
    """The remote `--dvc-remote` names, else the default remote of the first DVC project (of
    several in one repository, `dvc init --subdir`) that has one."""
    if name_or_url is not None:
        return dvc_files.remote_for_url(roots[0], name_or_url)
    return next((r for r in map(dvc_files.remote, roots) if r is not None), None)


def gather(ctx: Context, top: str, outs: list[Out], sources: Sources) -> Found:
    """Every file of `outs` into the cache, or the list of what is missing or differs. The
    files go min(4, cores) at a time: md5 and the copies run outside the GIL, and a DVC
    remote in S3 answers each request after a round trip."""
    found = Found()
    wanted: list[Wanted] = []
    for o in outs:
        if not o.is_dir:
            wanted.append(Wanted(o.path, o.md5, o.legacy))
            continue
        listing = sources.read_listing(o.md5, o.legacy)
        files = listing_entries(listing, o.path, o.legacy) if listing is not None else None
        if files is None:
            found.missing.append(f"  {o.path}/ (the listing {o.dvc_name})")
            continue
        _warn_unrecorded(top, o.path, {w.path for w in files})
        wanted += files
    progress = output.Progress("importing", len(wanted), sum(o.size or 0 for o in outs))

    def one(w: Wanted) -> None:
        _one(ctx, top, w, sources, found, progress.advance)
        progress.object_done()

    with ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="dvc") as pool:
        for _ in pool.map(one, wanted):  # re-raises the first failure
            pass
    progress.close()
    found.missing.sort()
    found.modified.sort()
    return found


def _one(
    ctx: Context, top: str, w: Wanted, sources: Sources, found: Found, progress: Progress
) -> None:
    full = os.path.join(top, w.path)
    if os.path.isfile(full):  # checked out by DVC (a copy, or a link into its cache)
        st = os.lstat(full)
        known = verify(full, w.md5, w.legacy, progress)
        if known is None:
            found.modified.append(f"  {w.path}")
            return
        after = os.lstat(full)
        if stat.S_ISREG(after.st_mode) and after.st_nlink == 1 and same_file(st, after):
            found.from_worktree.add(w.path)  # else it is written anew, a file of its own
            ctx.stat_cache.record(after, known.oid)
            if after.st_mode & stat.S_IXUSR:
                w.executable = True
        p = sources.store(w.md5, w.legacy, known=known, copy_from=full)
    else:
        p = sources.store(w.md5, w.legacy, progress)
    if p is None:
        found.missing.append(f"  {w.path} (md5 {w.md5})")
        return
    found.pointers[w.path] = p
    found.modes[w.path] = 0o100755 if w.executable else 0o100644


def _warn_unrecorded(top: str, folder: str, recorded: set[str]) -> None:
    extra = []
    for d, _dirs, names in os.walk(os.path.join(top, folder)):
        for name in names:
            rel = posixpath.join(os.path.relpath(d, top).replace(os.sep, "/"), name)
            if rel not in recorded:
                extra.append(rel)
    if extra:
        output.warn(
            f"{len(extra)} file(s) in '{folder}' are not in what DVC recorded (e.g. "
            f"'{sorted(extra)[0]}'); they stay, untracked"
        )


def _check_found(found: Found, remote: dvc_files.DvcRemote | None) -> None:
    if found.modified:
        raise GitDataError(
            f"{len(found.modified)} file(s) in the work tree differ from what DVC recorded",
            "record them with `dvc commit` and commit the .dvc files, or put the recorded "
            "version back with `dvc checkout`; then run the import again",
            found.modified,
        )
    if found.missing:
        where = f"the DVC remote {remote.url}" if remote is not None else "a DVC remote (none set)"
        raise GitDataError(
            f"the bytes of {len(found.missing)} DVC file(s) are in neither the work tree, "
            f"DVC's cache nor {where}",
            "run `dvc pull` (or `dvc fetch`) first, or name the DVC remote that has them: "
            "--dvc-remote NAME|URL|DIR; nothing was changed",
            found.missing,
        )


def _write(ctx: Context, top: str, path: str, p: Pointer, mode: int) -> None:
    """A file of its own at `path`: a temporary renamed over whatever is there (a link into
    DVC's cache, a hard link to it), so that the path is never without the bytes."""
    full = os.path.join(top, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    write_worktree_file(ctx, p, os.fsencode(full), mode)


def _changes(
    ctx: Context,
    top: str,
    outs: list[Out],
    dvc_gone: list[str],
    found: Found,
    remote: dvc_files.DvcRemote | None | bool,
) -> dict[str, dvc_commit.Change]:
    changes: dict[str, dvc_commit.Change] = {f: None for f in dvc_gone}
    for path, p in found.pointers.items():
        # an empty file stays empty, as `git add` keeps it (clean passes it through)
        changes[path] = (found.modes[path], p.encode() if p.size else b"")
    # DVC's line in the .gitignore beside each out: `/name`
    ignores: dict[str, set[str]] = {}
    for o in outs:
        folder, _, name = o.path.rpartition("/")
        ignores.setdefault(posixpath.join(folder, ".gitignore"), set()).add("/" + name)
    in_git = set(dvc_commit.tracked(ctx, list(ignores)))
    for gi, entries in ignores.items():
        if gi not in in_git:
            continue
        with open(os.path.join(top, gi), "rb") as f:
            lines = f.read().decode("utf-8", "surrogateescape").splitlines()
        # DVC escapes `\[]!*#?` with a backslash (pathspec's escape): compare unescaped
        kept = [ln for ln in lines if _UNESCAPE.sub(r"\1", ln.strip()).rstrip("/") not in entries]
        if len(kept) != len(lines):
            text = "".join(ln + "\n" for ln in kept)
            changes[gi] = (
                (0o100644, text.encode("utf-8", "surrogateescape")) if text.strip() else None
            )
    new_lines = []
    for o in outs:
        pattern, rest = plan.attribute_lines(Selection(), [o.path.encode()])[0].split(" ", 1)
        new_lines.append(f"{pattern}/** {rest}" if o.is_dir else f"{pattern} {rest}")
    try:
        with open(os.path.join(top, attributes.FILE), "rb") as f:
            old: bytes | None = f.read()
    except FileNotFoundError:
        old = None
    new = plan.merge_attributes(old, new_lines, from_lfs=False)
    if new is not None and new != old:
        changes[attributes.FILE] = (0o100644, new)
    if isinstance(remote, dvc_files.DvcRemote):
        changes[".gitdata.toml"] = (0o100644, _remote_config(top, remote))
    return changes


def _remote_config(top: str, remote: dvc_files.DvcRemote) -> bytes:
    """`.gitdata.toml` with the DVC remote as the default data remote."""
    import tomli_w

    from ..config import parse_config_file

    url = remote.url.rstrip("/") + "/" + REMOTE_SUBDIR
    cf = remotes.ConfigFile.load(top)
    if cf.remotes.get(remote.name, {}).get("url") != url:
        remotes.check_remote(remote.name, url, remote.endpoint_url)
        remotes.add_to_file(cf, remote.name, url, remote.endpoint_url, remote.region, True)
    text = tomli_w.dumps(cf.doc)
    parse_config_file(text)
    return text.encode()


def _sync(ctx: Context, old: str, new: str) -> None:
    top = ctx.paths.toplevel
    assert top is not None

    def write_data(path: str, text: bytes, mode: int) -> None:
        from ..pointer import parse

        p = parse(text)
        assert p is not None
        full = os.path.join(top, path)
        if os.path.islink(full) or not os.path.isfile(full):
            if ctx.cache.has(p.oid):
                _write(ctx, top, path, p, mode)

    dvc_commit.sync(ctx, old, new, write_data)


def advise(ctx: Context, top: str, remote: dvc_files.DvcRemote | None, keep_remote: bool) -> None:
    if remote is not None and not keep_remote:
        url = remote.url.rstrip("/") + "/" + REMOTE_SUBDIR
        output.note(
            f"to push the data where DVC did: git data remote add {remote.name} "
            f"{url} --default (or run the import with --keep-remote)"
        )
    for name in ("pre-commit", "post-checkout", "pre-push.legacy", "post-checkout.legacy"):
        try:
            with open(os.path.join(ctx.paths.hooks_dir, name), "rb") as f:
                dvc_hook = b"dvc git-hook" in f.read(4096)
        except OSError:
            dvc_hook = False
        if dvc_hook:
            output.note("DVC's git hooks are installed here: `dvc uninstall` removes them")
            break
    if os.path.isdir(os.path.join(top, ".dvc")):
        output.note(
            "DVC's own files stay (.dvc/, dvc.yaml, dvc.lock): see docs/migrating.md, 'From DVC'"
        )
