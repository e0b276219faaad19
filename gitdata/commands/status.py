from __future__ import annotations

import json
import os

from .. import resolve, sync
from ..context import Context


def status(as_json: bool = False) -> int:
    """What the next push will upload (data files in commits the remote does not have yet,
    judged by the remote-tracking refs; the push itself asks the store), and which checked-out
    files are still pointers."""
    ctx = Context()
    sc = sync.scanner(ctx)
    remote = resolve.download_remote(ctx)
    head = sc.commit_sha("HEAD")
    pending = {}
    if head:
        theirs = list(sc.refs((f"refs/remotes/{remote}/",)).values()) if remote else []
        pending = sc.introduced([head], theirs)
    pointers = sync.pointer_files(ctx) if ctx.paths.toplevel else []
    if as_json:
        doc = {
            "remote": remote,
            "to_push": [
                {
                    "path": os.fsdecode(h.path),
                    "oid": h.pointer.ref,
                    "size": h.pointer.size,
                    "cached": ctx.cache.has(oid),
                }
                for oid, h in sorted(pending.items(), key=lambda kv: kv[1].path)
            ],
            "pointers": [
                {
                    "path": os.fsdecode(f.path),
                    "oid": f.pointer.ref,
                    "size": f.pointer.size,
                    "cached": ctx.cache.has(f.pointer.oid),
                }
                for f in pointers
            ],
        }
        print(json.dumps(doc, indent=2))
        return 0
    target = f"'{remote}'" if remote else "(no remote)"
    print(f"Data files in commits not yet on {target}: {len(pending)}")
    for _oid, h in sorted(pending.items(), key=lambda kv: kv[1].path):
        print(f"  {os.fsdecode(h.path)} ({h.pointer.size} bytes)")
    print(f"Checked-out files that are still pointers: {len(pointers)}")
    for f in pointers:
        hint = "" if ctx.cache.has(f.pointer.oid) else " (bytes not in the cache)"
        print(f"  {os.fsdecode(f.path)}{hint}")
    return 0
