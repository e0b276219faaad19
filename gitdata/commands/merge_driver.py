from __future__ import annotations

import filecmp
import os
import shlex
import shutil

from .. import output
from ..names import quote
from ..pointer import SIZE_CUTOFF, Pointer, parse


def merge_driver(base: str, ours: str, theirs: str, path: str = "") -> int:
    """The `merge=data` driver (`merge.data.driver = git-data merge-driver %O %A %B %P`).

    git hands it three temporary files holding the blobs of the ancestor, ours and theirs (the
    pointers, as git stores them) and takes the result from `ours`. A side that did not change
    the file lets the other side's version through; when both changed it differently, the
    result stays *ours*: git reports a conflict and checks our bytes out, never a text merge of
    two pointers wrapped in conflict markers."""
    if _same(ours, theirs) or _same(base, theirs):
        return 0
    if _same(base, ours):
        shutil.copyfile(theirs, ours)
        return 0
    name = quote(os.fsencode(path)) if path else "a data file"
    arg = shlex.quote(path) if path else "PATH"  # for the commands: quoted for the shell
    mine, other = _describe(ours), _describe(theirs)
    output.warn(
        f"conflict in {name}: both sides changed it; the worktree keeps ours ({mine}), "
        f"theirs is {other}"
    )
    output.note(
        f"keep ours: `git add {arg}`; take theirs: `git checkout --theirs -- {arg} && "
        f"git add {arg}`"
    )
    return 1


def _same(a: str, b: str) -> bool:
    return filecmp.cmp(a, b, shallow=False)


def _describe(path: str) -> str:
    size = os.path.getsize(path)
    p: Pointer | None = None
    if size <= SIZE_CUTOFF:
        with open(path, "rb") as f:
            p = parse(f.read())
    if p is None:
        return "deleted" if size == 0 else f"{output.human_bytes(size)} not stored by gitdata"
    return f"{output.human_bytes(p.size)}, {p.ref[:19]}…"
