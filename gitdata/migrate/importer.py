"""`git data migrate import`: big files or git-lfs pointers in history become data files."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from .. import output
from ..context import Context
from ..errors import GitDataError, IntegrityError, UsageError
from ..git.history import BlobReader
from ..names import quote
from ..pointer import SIZE_CUTOFF, Pointer
from ..pointer import parse as parse_pointer
from . import lfs, plan, rewrite, safety
from .selection import Selection


class Importer:
    """The rewrite's converter: each chosen version's bytes into the cache, its pointer into
    Git; each blob once, however many commits hold it."""

    def __init__(self, ctx: Context, choice: plan.Choice, from_lfs: bool, reader: BlobReader):
        self.ctx, self.choice, self.from_lfs, self.reader = ctx, choice, from_lfs, reader
        self.memo: dict[str, bytes | None] = {}
        self.progress = output.Progress("Converting", len(choice.convert), choice.nbytes)

    def convert(self, path: bytes, mode: bytes, blob: str) -> bytes | None:
        if self.from_lfs and os.path.basename(path) == b".gitattributes":  # below the top
            if blob not in self.memo:
                data = self.reader.read_all(blob)
                new = plan.merge_attributes(data, [], True)
                self.memo[blob] = None if new == data else new
            return self.memo[blob]
        if path not in self.choice.paths:
            return None
        if blob not in self.memo:
            if blob in self.choice.convert:  # preconvert did them all, unless not called
                self._one(blob, self.reader)
            else:  # a version the plan did not see (it should see them all): decided here
                self.memo[blob] = None if self.from_lfs else self._late(blob)
        return self.memo[blob]

    def _late(self, blob: str) -> bytes | None:
        if self.reader.open(blob) <= SIZE_CUTOFF:
            data = self.reader.read_rest()
            if parse_pointer(data) is not None:
                return None
            return Pointer(self.ctx.cache.store_bytes(data), len(data)).encode()
        oid, size = self.ctx.cache.store_stream(self.reader)
        return Pointer(oid, size).encode()

    def preconvert(self, workers: int) -> None:
        """Every chosen version into the cache before any commit is written, largest first,
        `workers` at a time: each with its own `git cat-file`, so git inflates on as many
        cores while this process copies and hashes."""
        blobs = sorted(self.choice.convert, key=lambda b: -self.choice.convert[b])
        local = threading.local()
        readers: list[BlobReader] = []

        def one(blob: str) -> None:
            reader = getattr(local, "reader", None)
            if reader is None:
                reader = local.reader = BlobReader(self.ctx.cwd)
                readers.append(reader)
            self._one(blob, reader)

        ok = False
        pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="migrate")
        try:
            for done in as_completed([pool.submit(one, b) for b in blobs]):
                done.result()
            ok = True
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for reader in readers:
                reader.close() if ok else reader.kill()

    def _one(self, blob: str, reader: BlobReader) -> None:
        self.memo[blob] = self._pointer(blob, reader).encode()
        self.progress.object_done()
        rewrite.kill_point("converting")

    def _pointer(self, blob: str, reader: BlobReader) -> Pointer:
        cache = self.ctx.cache
        lp = self.choice.lfs.get(blob)
        if lp is not None:
            path = lfs.object_path(self.ctx.paths.common_dir, lp.sha256)
            with open(path, "rb", buffering=0) as f:
                src = lfs.Sha256Reader(f)
                oid, size = cache.store_stream(src, progress=self.progress.advance)
            if src.sha.hexdigest() != lp.sha256 or size != lp.size:
                raise IntegrityError(
                    f"git-lfs object {lp.sha256} does not hash to its name ({size} bytes)",
                    "it is damaged: delete it and run `git lfs fetch --all`, then migrate again",
                )
            return Pointer(oid, size)
        if reader.open(blob) <= SIZE_CUTOFF:
            data = reader.read_rest()
            self.progress.advance(len(data))
            return Pointer(cache.store_bytes(data), len(data))
        oid, size = cache.store_stream(reader, progress=self.progress.advance)
        return Pointer(oid, size)

    def attributes(self, content: bytes | None) -> bytes | None:
        return plan.merge_attributes(content, self.choice.lines, self.from_lfs)


def import_(sel: Selection, no_rewrite: bool = False, from_lfs: bool = False) -> int:
    ctx = Context()
    top = safety.require_clean(ctx)
    refs = plan.target_refs(ctx, sel)
    from_lfs = from_lfs or plan.lfs_detected(ctx, refs)
    if not from_lfs and not sel.include and sel.above is None:
        raise UsageError(
            "say which files to convert: --include GLOB, --above SIZE or both",
            "`git data migrate info` shows what takes the space",
        )
    if no_rewrite:
        if sel.refs or sel.everything:
            raise UsageError(
                "--no-rewrite converts the current branch only",
                "drop REF… and --everything, or drop --no-rewrite",
            )
        h = plan.tree(ctx, refs)
    else:
        h = plan.scan(ctx, refs)
    choice = plan.choose(ctx, sel, h, from_lfs)
    if from_lfs:
        missing = plan.lfs_missing(ctx, choice)
        if missing:
            raise GitDataError(
                f"{len(missing)} git-lfs object(s) are not in .git/lfs/objects:",
                "run `git lfs fetch --all` first, then git data migrate import again",
                [f"  sha256:{p.sha256} ({p.size} bytes)" for p in missing],
            )
    if not choice.convert:
        output.note("nothing to migrate: no file version of the selected history needs converting")
        return 0
    reader = BlobReader(top)
    try:
        conv = Importer(ctx, choice, from_lfs, reader)
        conv.preconvert(min(4, os.cpu_count() or 1))
        if no_rewrite:
            msg = _message(choice, from_lfs)
            result = rewrite.commit_on_top(ctx, refs[0], conv, reader, h.files, msg)
        else:
            result = rewrite.rewrite(ctx, refs, conv, reader)
        conv.progress.close()
    finally:
        reader.close()
    if not result.updates:  # only versions already converted: the same commits again
        rewrite.clear_work_refs(ctx.cwd)
        output.note("nothing to migrate: the rewritten history is the history there is")
        return 0
    rewrite.finish(ctx, result, backup=not no_rewrite)
    safety.check_out(ctx, top, choice.paths, conv.memo.get)
    _report(choice, result, no_rewrite)
    return 0


def _message(choice: plan.Choice, from_lfs: bool) -> bytes:
    what = "git-lfs files" if from_lfs else "large files"
    paths = sorted(quote(p) for p in choice.paths)
    body = "".join(f"- {p}\n" for p in paths[:50])
    more = f"- and {len(paths) - 50} more\n" if len(paths) > 50 else ""
    return f"Convert {what} to gitdata data files\n\n{body}{more}".encode()


def _report(choice: plan.Choice, result: rewrite.Result, no_rewrite: bool) -> None:
    what = f"{len(choice.convert)} file version(s), {output.human_bytes(choice.nbytes)}"
    if no_rewrite:
        output.note(f"converted {what}, in one new commit")
        return
    refs = ", ".join(ref for ref, _, _ in result.updates)
    output.note(
        f"converted {what}, in {len(result.commit_map)} commit(s); rewrote {refs}; "
        f"old tips under {rewrite.BACKUP}, commit map in .git/data/migrate/commit-map"
    )
