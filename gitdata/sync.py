"""Where git/ and storage/ meet: upload what pushed commits need, fetch what a checkout needs,
and write cached bytes over pointer files in the worktree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from . import output, push_check, push_chunked, resolve, transfer
from .context import Context
from .errors import GitDataError, StoreError
from .git.index import skip_worktree
from .git.run import run_git
from .git.scan import Hit, Scanner
from .globs import PathFilter
from .names import quote
from .push_chunked import LINK_MIN
from .retry import with_retries
from .storage import Store, open_store
from .storage.chunked import runlog


def scanner(ctx: Context) -> Scanner:
    return Scanner(ctx.cwd)


#: Missing objects whose commit is looked up for a failing push's message.
LIST_LIMIT = 20


def open_for_remote(ctx: Context, remote: str) -> tuple[Store, resolve.Resolution]:
    res = resolve.for_git_remote(ctx, remote)
    return open_store(res.spec), res


@dataclass
class PushPlan:
    hits: dict[str, Hit]
    to_upload: dict[str, int] = field(default_factory=dict)  # oid -> size
    present: set[str] = field(default_factory=set)  # already in the store
    missing: dict[str, Hit] = field(default_factory=dict)  # in neither cache nor store
    chunked: bool = False  # write the chunked format (push_chunked.py)
    seen_empty: bool = False  # chunked: the store had neither FORMAT nor a whole object
    bases: dict[str, str] = field(default_factory=dict)  # oid -> its base's oid, if chunked
    recorded: set[str] = field(default_factory=set)  # not cached, a record in the store
    log: runlog.RunLog | None = None  # the store gc run log before the existence checks (P1)


def plan_push(
    ctx: Context,
    store: Store,
    hits: dict[str, Hit],
    chunked: bool = False,
    seen_empty: bool = False,
) -> PushPlan:
    """Ask the store, in one batch, which candidates it lacks; sort those by what we have.
    `chunked`: only big files are looked for as whole objects (docs/chunked-store.md, 4.1);
    the writer finds the records the store has. `chunked` and `seen_empty`: what
    push_chunked.wanted says."""
    plan = PushPlan(hits, chunked=chunked, seen_empty=seen_empty)
    # P1 (docs/chunked-store.md, 4.8): the run log before anything is seen to exist
    plan.log = push_check.begin(store)
    asked = hits if not chunked else [o for o, h in hits.items() if h.pointer.size >= LINK_MIN]
    # a broken connection or a 503 here must not stop a push that the uploads would survive
    plan.present = with_retries(lambda: store.exists_many(asked))
    # in path order, as a checkout asks for them: the chunked store packs small files in this
    # order, so that a clone's batch of them is one run of each pack (4.5 step 5)
    for oid, hit in sorted(hits.items(), key=lambda kv: kv[1].path):
        if oid in plan.present:
            continue
        size = ctx.cache.size(oid)
        if size is None:
            plan.missing[oid] = hit
        else:
            plan.to_upload[oid] = size
    if chunked and plan.missing:
        plan.recorded = push_chunked.recorded(ctx, store, list(plan.missing))
        # a small file the store keeps whole (pushed by an older gitdata, or with `chunked =
        # false`) and has no record of: present, as it would be to a whole-object push
        looked = set(asked)
        unasked = [o for o in plan.missing if o not in plan.recorded and o not in looked]
        if unasked:
            plan.present |= with_retries(lambda: store.exists_many(unasked))
        found = plan.recorded | plan.present
        plan.missing = {o: h for o, h in plan.missing.items() if o not in found}
    return plan


def execute_push(ctx: Context, store: Store, plan: PushPlan) -> None:
    """Upload the plan's objects; raise, listing files and commits, if anything is missing."""
    failed: dict[str, BaseException] = {}
    manifest: push_chunked.PushManifest | None = None
    runlog.pause("push-P3")
    if plan.chunked and (plan.to_upload or plan.present or plan.recorded):
        failed, manifest = push_chunked.upload(
            ctx, store, plan.to_upload, plan.present, plan.bases, plan.recorded, plan.log,
            seen_empty=plan.seen_empty,
        )  # fmt: skip
    elif plan.to_upload:
        progress = output.Progress(
            f"Uploading to {store.describe()}", len(plan.to_upload), sum(plan.to_upload.values())
        )
        result = transfer.upload(store, ctx.cache, plan.to_upload, ctx.settings.transfers, progress)
        progress.close(len(result.failed))
        failed = result.failed
    problems = [
        f"  {_path(plan.hits[o])} (xxh128:{o}, commit {_short(plan.hits[o])}): "
        "not in the local cache nor in the store"
        for o in sorted(plan.missing, key=lambda o: plan.hits[o].path)
    ] + [
        f"  {_path(plan.hits[o])} (xxh128:{o}): upload failed: {_message(e)}"
        for o, e in sorted(failed.items(), key=lambda kv: plan.hits[kv[0]].path)
    ]
    if problems:
        # one error line, a line per file, the hint (docs/commands.md, "Conventions")
        raise GitDataError(
            f"push stopped: {len(problems)} data file(s) cannot be pushed to "
            f"{store.describe()}; the Git remote was not updated:",
            "`git data fetch --all` from a clone that has the bytes, or restore the files and "
            "commit them again"
            if plan.missing
            else "check the store and push again",
            details=problems,
        )
    # P4-P6: a manifest naming what the push relies on, then the run log check
    assert plan.log is not None
    relied = plan.present | set(plan.to_upload) if manifest is None else manifest.relied
    try:
        push_check.finish(store, ctx.cache, plan.log, relied, ctx.settings.transfers, manifest)
    except StoreError as e:  # the manifest, or the run log after it, could not be written/read
        raise GitDataError(
            f"push stopped: {e.message}; the Git remote was not updated", e.hint
        ) from e


def _path(hit: Hit) -> str:
    return quote(hit.path)


def _short(hit: Hit) -> str:
    return hit.commit[:9] if hit.commit else "?"


def _message(e: BaseException) -> str:
    return e.message if isinstance(e, GitDataError) else str(e)


def pre_push(ctx: Context, remote: str, url: str, lines: Iterable[str]) -> None:
    """The pre-push hook: upload the bytes the pushed commits bring and the store lacks.

    Commits the remote already has are excluded so that a push costs what it adds, not the
    whole history. The remote's own value for each pushed ref (from git's stdin, fresh from the
    remote) is trusted. When a ref is new there (a new branch, a tag, a force-push over commits we
    do not have), remote-tracking refs stand in; they can be stale (a deleted branch whose bytes
    were collected), so for those refs every pointer of the pushed snapshot is checked as well.
    """
    sc = scanner(ctx)
    include: list[str] = []
    exclude: list[str] = []
    snapshot_tips: list[str] = []
    pairs = [(p[1], p[3]) for p in (line.split() for line in lines) if len(p) == 4]
    # one lookup for every ref (a push of 1,000 tags); a deletion (zeros) names no commit, tags
    # are peeled, a tag of a tree or blob has no history
    shas = sc.commit_shas([sha for pair in pairs for sha in pair])
    for local, theirs in zip(shas[0::2], shas[1::2]):
        if local is None:
            continue
        include.append(local)
        if theirs is not None:
            exclude.append(theirs)
        else:
            snapshot_tips.append(local)
    if not include:
        return
    if snapshot_tips:
        exclude += _remote_tips(ctx, sc, remote, url)
    hits = sc.introduced(include, exclude)
    for tip in snapshot_tips:
        for h in sc.snapshot(tip):
            hits.setdefault(h.pointer.oid, h)
    if not hits:
        return
    store, res = open_for_remote(ctx, remote)
    chunked, seen_empty = push_chunked.wanted(ctx, store, res.spec.name)
    plan = plan_push(ctx, store, hits, chunked, seen_empty)
    if chunked and plan.to_upload:
        todo = [plan.hits[o] for o in plan.to_upload]
        plan.bases = push_chunked.bases(sc, todo, exclude)
    name_commits(sc, plan, include, exclude)
    execute_push(ctx, store, plan)


def name_commits(sc: Scanner, plan: PushPlan, include: list[str], exclude: list[str]) -> None:
    """Find, for the messages, the commit that brings each object missing everywhere (a walk
    each: only for the few a failing push lists)."""
    for oid, hit in sorted(plan.missing.items(), key=lambda kv: kv[1].path)[:LIST_LIMIT]:
        plan.missing[oid] = plan.hits[oid] = replace(
            hit, commit=sc.introducing_commit(hit, include, exclude)
        )


def _remote_tips(ctx: Context, sc: Scanner, remote: str, url: str) -> list[str]:
    """What the remote is believed to have: its remote-tracking refs, or, for a push to a bare
    URL, those of any remote with that URL, else what `git ls-remote` says."""
    names = (
        [remote]
        if remote in ctx.settings.git_remotes
        else [name for name, u in ctx.settings.git_remotes.items() if u == url]
    )
    if names:
        prefixes = tuple(f"refs/remotes/{n}/" for n in names)
        return list(sc.refs(prefixes).values())
    proc = run_git(["ls-remote", "--heads", "--tags", url], check=False)
    lines = proc.stdout.decode("ascii", "replace").splitlines()
    return [sha for sha in sc.commit_shas([ln.split("\t", 1)[0] for ln in lines]) if sha]


def resolve_revs(sc: Scanner, revs: Sequence[str]) -> list[str]:
    """The commits `revs` name (tags peeled); an unknown one is the user's error."""
    shas = sc.commit_shas(revs)
    for r, sha in zip(revs, shas):
        if sha is None:
            raise GitDataError(f"unknown revision '{r}'", "name a branch, tag or commit")
    return [sha for sha in shas if sha]


def head_hits(sc: Scanner, paths: PathFilter | None = None) -> list[Hit]:
    """Every pointer file of HEAD (none before the first commit), optionally filtered."""
    head = sc.commit_sha("HEAD")
    hits = sc.snapshot(head) if head else []
    return [h for h in hits if paths is None or paths.match(h.path)]


def checked_out(ctx: Context, hits: list[Hit]) -> list[Hit]:
    """`hits` less the files a sparse checkout leaves out (the skip-worktree bit): fetch and
    pull download only what the worktree can hold."""
    outside = skip_worktree(ctx.cwd) if hits and ctx.paths.toplevel else set()
    return [h for h in hits if h.path not in outside] if outside else hits


def fetch(ctx: Context, hits: Sequence[Hit], remote: str | None = None) -> transfer.TransferResult:
    """Download into the cache the objects of `hits` that it lacks; report each failure."""
    need = {h.pointer.oid: h.pointer.size for h in hits if not ctx.cache.has(h.pointer.oid)}
    if not need:
        return transfer.TransferResult()
    res = resolve.for_download(ctx, remote)
    store = open_store(res.spec)
    progress = output.Progress(
        f"Downloading from {store.describe()}", len(need), sum(need.values())
    )
    chunked = transfer.chunked_reader(store, ctx.paths.data_dir)
    result = transfer.download(store, ctx.cache, need, ctx.settings.transfers, progress, chunked)
    progress.close(len(result.failed))
    if result.failed:
        paths: dict[str, list[str]] = {}
        for h in hits:
            paths.setdefault(h.pointer.oid, []).append(quote(h.path))
        lines = [
            f"  {', '.join(sorted(paths[oid]))} (xxh128:{oid}): {_message(e)}"
            for oid, e in sorted(result.failed.items(), key=lambda kv: paths[kv[0]])
        ]
        output.error_list(
            f"cannot get the bytes of {len(lines)} file(s) from {store.describe()}:",
            lines,
            "run the command again once the store has them; GIT_DATA_SKIP_SMUDGE=1 makes "
            "checkouts leave pointers instead",
        )
    return result
