from __future__ import annotations

from .. import output, push_chunked, resolve, sync
from ..context import Context
from ..errors import GitDataError
from ..names import quote


def push(
    remote: str | None = None,
    refs: list[str] | None = None,
    all_refs: bool = False,
    dry_run: bool = False,
) -> int:
    """Upload every object the history of REF… (default HEAD; --all: every ref) needs and the
    store lacks. Unlike the pre-push hook, this checks the whole history: use it to repair."""
    ctx = Context()
    remote = remote or resolve.download_remote(ctx)
    if remote is None:
        raise GitDataError("no Git remote to push to", "name one: git data push REMOTE")
    sc = sync.scanner(ctx)
    # --all is every branch and tag, as for `git push --all --tags`
    if all_refs:
        tips = ["--branches", "--tags"]
        hits = sc.pointers(tips)
    else:
        tips = sync.resolve_revs(sc, refs or ["HEAD"])
        hits = sc.history(tips)
    store, res = sync.open_for_remote(ctx, remote)
    plan = sync.plan_push(ctx, store, hits, *push_chunked.wanted(ctx, store, res.spec.name))
    if dry_run:
        # a chunked push uploads nothing for a file the store has a record of (the writer
        # looks them up): neither does the dry run list it
        kept = push_chunked.recorded(ctx, store, list(plan.to_upload)) if plan.chunked else set()
        upload = {o: n for o, n in plan.to_upload.items() if o not in kept}
        for oid, size in sorted(upload.items(), key=lambda kv: plan.hits[kv[0]].path):
            hit = plan.hits[oid]
            print(f"upload {hit.pointer.ref} {size} {quote(hit.path, ctx.quote_path)}")
        for hit in sorted(plan.missing.values(), key=lambda h: h.path):
            print(f"missing {hit.pointer.ref} {quote(hit.path, ctx.quote_path)}")
        return 1 if plan.missing else 0
    sync.name_commits(sc, plan, tips, [])
    sync.execute_push(ctx, store, plan)
    output.note(
        f"{len(plan.to_upload)} object(s) uploaded to {store.describe()} ({res.how}), "
        f"{len(plan.present)} already there"
    )
    return 0
