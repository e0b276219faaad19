from __future__ import annotations

import json

from .. import external, output
from ..names import json_fields, quote


def ls(url: str, path: str | None = None, rev: str | None = None, as_json: bool = False) -> int:
    """List the files at PATH (default: all) of the repository at URL, at REV, without cloning
    it: data files with their oid and size, the others as stored in Git (docs/commands.md)."""
    root = external.repo_path(path or "")
    with external.opened(url, rev) as ext:
        entries = ext.entries(root)
    if as_json:
        doc = {
            "url": ext.display,
            "rev": rev,
            "commit": ext.commit,
            "files": [
                {
                    **json_fields(e.path),
                    "type": e.kind,
                    "oid": e.pointer.ref if e.pointer else None,
                    "size": e.size,
                    "executable": e.executable,
                }
                for e in entries
            ],
        }
        print(json.dumps(doc, indent=2))
        return 0
    rows = [
        [
            e.pointer.oid[:10] if e.pointer else "-",
            e.kind,
            output.human_bytes(e.size) if e.size is not None else "-",
            quote(e.path),
        ]
        for e in entries
    ]
    print("\n".join(output.table(rows, right={2})))
    data = [e for e in entries if e.kind == "data"]
    total = sum(e.size or 0 for e in entries)
    line = f"{len(entries)} file{'' if len(entries) == 1 else 's'}, {output.human_bytes(total)}"
    if data:
        line += f" ({len(data)} data, {output.human_bytes(sum(e.size or 0 for e in data))})"
    print(line)
    return 0
