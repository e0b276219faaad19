from __future__ import annotations

import json
import os

from .. import fsck, hooks, output, resolve, sync, worktree
from ..context import Context
from ..git.scan import Hit
from ..names import json_fields, quote
from ..pointer import Pointer


def status(as_json: bool = False, remote: str | None = None) -> int:
    """What the next push will upload (data files in commits the remote does not have yet,
    judged by the remote-tracking refs), which worktree files are still pointers (whatever the
    index says), which pointers sit at paths no data pattern tracks, and with --remote, which
    data files of HEAD the store itself lacks."""
    ctx = Context()
    sc = sync.scanner(ctx)
    target = resolve.download_remote(ctx)
    head = sc.commit_sha("HEAD")
    to_push: dict[str, Hit] = {}
    if head:
        theirs = list(sc.refs((f"refs/remotes/{target}/",)).values()) if target else []
        to_push = sc.introduced([head], theirs)
    scan = worktree.scan(ctx) if ctx.paths.toplevel else worktree.Scan()
    ignored = worktree.ignored_pointers(ctx) if ctx.paths.toplevel else []
    strays = {f.path: f for f in scan.strays}
    if ctx.paths.toplevel:
        for f in worktree.index_strays(ctx, sc):
            strays.setdefault(f.path, f)
    lacking: list[Hit] | None = None
    store_name = None
    if remote is not None:
        store, _ = sync.open_for_remote(ctx, remote or target or "origin")
        store_name = store.describe()
        hits = sync.head_hits(sc) if head else []
        # whole objects, or records whose packs exist (a chunked store)
        present = fsck.readable_in(ctx, store, {h.pointer.oid: h.pointer.size for h in hits})
        lacking = [h for h in hits if h.pointer.oid not in present]
    hook_problem = _hook_problem(ctx)

    cached = ctx.cache.has
    if as_json:
        doc: dict[str, object] = {
            "remote": target,
            "to_push": [_entry(h.path, h.pointer, cached) for h in _by_path(to_push.values())],
            "pointers": [
                {**_entry(f.path, f.pointer, cached), "staged": f.staged} for f in scan.pointers
            ],
            "stray_pointers": [
                {**_entry(f.path, f.pointer, cached), "staged": f.staged}
                for f in _by_path(strays.values())
            ],
            "ignored_pointers": [_entry(f.path, f.pointer, cached) for f in ignored],
            "hooks": hook_problem,
        }
        if lacking is not None:
            doc["store"] = {
                "where": store_name,
                "missing": [_entry(h.path, h.pointer, cached) for h in _by_path(lacking)],
            }
        print(json.dumps(doc, indent=2))
        return 0

    name = f"'{target}'" if target else "(no remote)"
    qp = ctx.quote_path
    _section(f"Data files in commits not yet on {name}", _by_path(to_push.values()),
             lambda h: "" if cached(h.pointer.oid) else "bytes not in the cache", qp)  # fmt: skip
    _section("Worktree files that are still pointers", scan.pointers,
             lambda f: "run `git data checkout`" if cached(f.pointer.oid)
             else "bytes not here: run `git data pull`", qp)  # fmt: skip
    if strays:
        _section("Pointers at paths no data pattern tracks (a commit would store the pointer "
                 "text, not the data)", _by_path(strays.values()), _stray_hint, qp)  # fmt: skip
    if ignored:
        _section("Ignored files that are pointers (gc keeps their bytes)", ignored,
                 lambda f: "" if cached(f.pointer.oid) else "bytes not here", qp)  # fmt: skip
    if lacking is not None:
        _section(f"Data files of HEAD that {store_name} lacks", _by_path(lacking),
                 lambda h: "`git data push` uploads it" if cached(h.pointer.oid)
                 else "no copy here either", qp)  # fmt: skip
    if hook_problem:
        output.warn(hook_problem)
    return 0


def _by_path(items):  # type: ignore[no-untyped-def]
    return sorted(items, key=lambda x: x.path)


def _entry(path: bytes, p: Pointer, cached) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {**json_fields(path), "oid": p.ref, "size": p.size, "cached": cached(p.oid)}


def _section(title: str, items, note, quote_path: bool) -> None:  # type: ignore[no-untyped-def]
    items = list(items)
    total = sum(i.pointer.size for i in items)
    print(f"{title}: {len(items)}" + (f" ({output.human_bytes(total)})" if items else ""))
    names = [quote(i.path, quote_path) for i in items]
    width = max((len(n) for n in names), default=0)
    for n, i in zip(names, items):
        extra = note(i)
        print(f"  {n:<{width}}  {output.human_bytes(i.pointer.size):>10}" + (
            f"  {extra}" if extra else ""))  # fmt: skip


def _stray_hint(f: worktree.PointerFile) -> str:
    if f.staged:  # committed or staged as a pointer under a name no pattern covers
        return (
            "`git data track` its pattern; or `git add --renormalize` it once the file "
            "holds its bytes, to store them in Git"
        )
    return "`git data track` its pattern (then `git data checkout`), or delete the file"


def _hook_problem(ctx: Context) -> str | None:
    """Why a push would not upload data from here, if it would not."""
    paths = ctx.paths
    hook = os.path.join(paths.hooks_dir, "pre-push")
    if paths.bare or hooks.is_ours(hook) or hooks.calls_us(hook, "pre-push"):
        return None
    if hooks.in_worktree(paths.hooks_dir, paths.toplevel, paths.common_dir):
        return hooks.worktree_hooks_hint(paths.hooks_dir)
    return "the pre-push hook is not installed here: run `git data install`"
