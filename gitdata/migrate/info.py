"""`git data migrate info`: what history holds, per pattern; what `import` would convert."""

from __future__ import annotations

import json
import os

from .. import output
from ..context import Context
from . import plan
from .selection import Selection


def pattern_of(path: bytes) -> str:
    """`*.ext` for a name with an extension, else the name itself."""
    name = os.path.basename(path).decode("utf-8", "surrogateescape")
    stem, dot, ext = name.rpartition(".")
    return f"*.{ext}" if dot and stem else name


def info(sel: Selection, as_json: bool = False) -> int:
    ctx = Context()
    refs = plan.target_refs(ctx, sel)
    from_lfs = plan.lfs_detected(ctx, refs)
    h = plan.scan(ctx, refs)
    chooses = from_lfs or bool(sel.include) or sel.above is not None
    choice = plan.choose(ctx, sel, h, from_lfs) if chooses else plan.Choice()
    groups: dict[str, dict[str, int]] = {}
    for path, versions in h.versions.items():
        if not sel.paths.match(path):
            continue
        if sel.above is not None and max(versions.values()) <= sel.above:
            continue
        g = groups.setdefault(pattern_of(path), {})
        g.update(versions)
    rows = sorted(
        ((pat, len(v), sum(v.values()), max(v.values())) for pat, v in groups.items()),
        key=lambda r: (-r[2], r[0]),
    )
    if as_json:
        doc = {
            "refs": [r.name for r in refs],
            "patterns": [
                {"pattern": p, "versions": n, "total": t, "largest": m} for p, n, t, m in rows
            ],
            "import": {
                "paths": len(choice.paths) if choice.convert else 0,
                "versions": len(choice.convert),
                "bytes": choice.nbytes,
                "from_lfs": from_lfs,
                "attributes": choice.lines if choice.convert else [],
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    table = [["pattern", "versions", "total", "largest"]]
    table += [[p, str(n), output.human_bytes(t), output.human_bytes(m)] for p, n, t, m in rows]
    print("\n".join(output.table(table, right={1, 2, 3})))
    what = "git-lfs file version(s)" if from_lfs else "file version(s)"
    if choice.convert:
        print(
            f"import would convert {len(choice.convert)} {what}, "
            f"{output.human_bytes(choice.nbytes)}, in {len(refs)} ref(s)"
        )
    elif chooses:
        print("import would convert nothing")
    else:
        print("import converts only what --include or --above chooses")
    return 0
