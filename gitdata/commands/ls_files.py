from __future__ import annotations

import json
import os

from .. import sync
from ..context import Context


def ls_files(all_history: bool = False, long: bool = False, as_json: bool = False) -> int:
    """Data files in HEAD (or in all history): path, oid, size, whether the bytes are cached."""
    ctx = Context()
    sc = sync.scanner(ctx)
    if all_history:
        hits = list(sc.pointers(["--all"]).values())  # each object once, under one of its paths
    else:
        hits = sync.head_hits(sc)
    rows = sorted({(os.fsdecode(h.path), h.pointer) for h in hits}, key=lambda r: r[0])
    if as_json:
        doc = [
            {"path": path, "oid": p.ref, "size": p.size, "cached": ctx.cache.has(p.oid)}
            for path, p in rows
        ]
        print(json.dumps(doc, indent=2))
        return 0
    for path, p in rows:
        mark = "*" if ctx.cache.has(p.oid) else "-"
        if long:
            print(f"{p.ref} {mark} {p.size:>12} {path}")
        else:
            print(f"{p.oid[:10]} {mark} {path}")
    return 0
