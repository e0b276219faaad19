"""`git data migrate export`: data files in history become ordinary files again."""

from __future__ import annotations

import os

from .. import output, sync
from ..context import Context
from ..errors import GitDataError
from ..git.history import BlobReader, BlobWriter
from ..git.scan import Hit, cat_blobs
from ..pointer import LENGTHS, Pointer
from ..pointer import parse as parse_pointer
from . import plan, rewrite, safety
from .selection import Selection


class Exporter:
    """The rewrite's converter: a pointer at a selected path becomes the blob of its bytes
    (written by git from the cache file, each once); `filter=data` lines leave
    `.gitattributes`."""

    def __init__(
        self, ctx: Context, sel: Selection, pointers: dict[str, Pointer], reader: BlobReader
    ) -> None:
        self.ctx, self.sel, self.pointers, self.reader = ctx, sel, pointers, reader
        self.writer = BlobWriter(ctx.cwd)
        self.memo: dict[str, str] = {}
        self.nested: dict[str, bytes | None] = {}

    def convert(self, path: bytes, mode: bytes, blob: str) -> bytes | str | None:
        if os.path.basename(path) == b".gitattributes":  # below the top
            if blob not in self.nested:
                data = self.reader.read_all(blob)
                new = plan.remove_attributes(data, self.sel.include)
                self.nested[blob] = None if new == data else (new or b"")
            return self.nested[blob]
        p = self.pointers.get(blob)
        if p is None or not self.sel.paths.match(path):
            return None
        if blob not in self.memo:
            self.memo[blob] = self.writer.write(self.ctx.cache.path(p.oid))
            rewrite.kill_point("converting")
        return self.memo[blob]

    def attributes(self, content: bytes | None) -> bytes | None:
        return plan.remove_attributes(content, self.sel.include)


def export(sel: Selection) -> int:
    ctx = Context()
    top = safety.require_clean(ctx)
    refs = plan.target_refs(ctx, sel)
    h = plan.scan(ctx, refs)
    small = {
        blob: path
        for path, versions in h.versions.items()
        if sel.paths.match(path)
        for blob, size in versions.items()
        if size in LENGTHS
    }
    pointers: dict[str, Pointer] = {}
    hits = []
    for blob, path, data in cat_blobs(small.items(), (), ctx.cwd):
        p = parse_pointer(data) if data is not None else None
        if p is not None:
            pointers[blob] = p
            hits.append(Hit(p, path, blob))
    fetched = sync.fetch(ctx, hits)
    if fetched.failed:
        raise GitDataError(
            f"cannot export: the bytes of {len(fetched.failed)} data file(s) are missing",
            "nothing changed; push them from a clone that has them, then export again",
        )
    reader = BlobReader(top)
    conv = Exporter(ctx, sel, pointers, reader)
    try:
        result = rewrite.rewrite(ctx, refs, conv, reader)
    finally:
        reader.close()
        conv.writer.close()
    if not result.updates:
        rewrite.clear_work_refs(ctx.cwd)
        output.note("nothing to export: no data file and no filter=data line in the history")
        return 0
    rewrite.finish(ctx, result)
    exported = [p for p, versions in h.versions.items()
                if sel.paths.match(p) and not pointers.keys().isdisjoint(versions)]  # fmt: skip
    safety.check_out(ctx, top, exported)
    refs_moved = ", ".join(ref for ref, _, _ in result.updates)
    output.note(
        f"exported {len(conv.memo)} data file version(s) into Git, in "
        f"{len(result.commit_map)} commit(s); rewrote {refs_moved}; old tips under "
        f"{rewrite.BACKUP}, commit map in .git/data/migrate/commit-map"
    )
    return 0
