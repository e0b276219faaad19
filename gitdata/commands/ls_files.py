from __future__ import annotations

import json

from .. import output, sync
from ..context import Context
from ..names import json_fields, quote
from ..pointer import Pointer


def ls_files(all_history: bool = False, long: bool = False, as_json: bool = False) -> int:
    """Data files in HEAD (or in all history): path, oid, size, whether the bytes are cached.
    Text: one aligned line per file (`*` cached, `-` not), then a total line."""
    ctx = Context()
    sc = sync.scanner(ctx)
    if all_history:
        hits = list(sc.pointers(["--all"]).values())  # each object once, under one of its paths
    else:
        hits = sync.head_hits(sc)
    rows = sorted({(h.path, h.pointer) for h in hits}, key=lambda r: r[0])
    cached = {p.oid: ctx.cache.has(p.oid) for _, p in rows}
    if as_json:
        doc = [
            {**json_fields(path), "oid": p.ref, "size": p.size, "cached": cached[p.oid]}
            for path, p in rows
        ]
        print(json.dumps(doc, indent=2))
        return 0
    if not rows:
        return 0
    table = []
    for path, p in rows:
        mark = "*" if cached[p.oid] else "-"
        name = quote(path, ctx.quote_path)
        size = output.human_bytes(p.size)
        if long:
            table.append([p.ref, mark, str(p.size), size, name])
        else:
            table.append([p.oid[:10], mark, size, name])
    print("\n".join(output.table(table, right={2, 3} if long else {2})))
    print(_total(rows, cached, "object" if all_history else "file"))
    return 0


def _total(rows: list[tuple[bytes, Pointer]], cached: dict[str, bool], noun: str) -> str:
    total = sum(p.size for _, p in rows)
    line = f"{len(rows)} {noun}{'' if len(rows) == 1 else 's'}, {output.human_bytes(total)}"
    absent = [p.size for _, p in rows if not cached[p.oid]]
    if absent:
        line += f" ({len(absent)} not in the cache, {output.human_bytes(sum(absent))})"
    return line
