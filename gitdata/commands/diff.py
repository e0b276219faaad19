from __future__ import annotations

import json

from .. import datadiff, output
from ..context import Context
from ..datadiff import Change, Totals
from ..names import json_fields, quote

_WORDS = (("A", "added"), ("M", "modified"), ("D", "deleted"), ("R", "renamed"))


def diff(
    revs: list[str] | None = None,
    pathspecs: list[str] | None = None,
    cached: bool = False,
    stat: bool = False,
    as_json: bool = False,
) -> int:
    """Data files added, deleted, modified and renamed between two revisions, a revision and the
    index (`cached`) or a revision and the worktree (the default, from HEAD), with sizes."""
    ctx = Context()
    ends = datadiff.endpoints(ctx, revs or [], cached)
    found = datadiff.changes(ctx, ends, pathspecs or [])
    overall, dirs = datadiff.totals(found)
    if as_json:
        print(json.dumps(_document(ends, found, overall, dirs), indent=2))
        return 0
    if not found:
        return 0

    def q(path: bytes) -> str:
        return quote(path, ctx.quote_path)

    per_dir = [
        [output.human_bytes(t.old_size), "->", output.human_bytes(t.new_size),
         output.signed_bytes(t.delta), f"{q(d)}  ({_files(t.files)})"]
        for d, t in dirs.items()
    ]  # fmt: skip
    if stat:
        print("\n".join(output.table(per_dir, right={0, 2, 3})))
    else:
        files = [
            [c.status, _size(c.old), "->", _size(c.new), output.signed_bytes(c.delta),
             f"{q(c.old_path)} -> {q(c.path)}" if c.old_path is not None else q(c.path)]
            for c in found
        ]  # fmt: skip
        # one table, so that the directory totals line up under the files
        lines = output.table(files + [["", *row] for row in per_dir], right={1, 3, 4})
        print("\n".join([*lines[: len(files)], "", *lines[len(files) :]]))
    print(_summary(overall))
    return 0


def _size(p: object) -> str:
    return "-" if p is None else output.human_bytes(p.size)  # type: ignore[attr-defined]


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _summary(t: Totals) -> str:
    kinds = ", ".join(f"{t.by_status[s]} {w}" for s, w in _WORDS if t.by_status.get(s))
    return (
        f"{_files(t.files)} changed ({kinds}): {output.human_bytes(t.old_size)} -> "
        f"{output.human_bytes(t.new_size)} ({output.signed_bytes(t.delta)})"
    )


def _document(
    ends: datadiff.Endpoints, found: list[Change], overall: Totals, dirs: dict[bytes, Totals]
) -> dict[str, object]:
    files = []
    for c in found:
        entry: dict[str, object] = {"status": c.status, **json_fields(c.path)}
        if c.old_path is not None:
            entry.update(json_fields(c.old_path, "old_path"))
        entry.update(
            old_oid=c.old.ref if c.old else None,
            new_oid=c.new.ref if c.new else None,
            old_size=c.old.size if c.old else None,
            new_size=c.new.size if c.new else None,
        )
        files.append(entry)
    return {
        "from": ends.old_name,
        "from_commit": ends.old_commit,
        "to": ends.new_name,
        "to_commit": ends.new_commit,
        "files": files,
        "totals": {
            **_totals(overall),
            **{w: overall.by_status.get(s, 0) for s, w in _WORDS},
            "directories": [{**json_fields(d), **_totals(t)} for d, t in dirs.items()],
        },
    }


def _totals(t: Totals) -> dict[str, int]:
    return {"files": t.files, "old_size": t.old_size, "new_size": t.new_size, "delta": t.delta}
