from __future__ import annotations

import os

from .. import export, external, output
from ..names import quote


def get(url: str, path: str, out: str | None = None, rev: str | None = None) -> int:
    """Write the data file or folder PATH of the repository at URL (its revision REV) to OUT,
    without cloning it; data files' bytes come from its store, verified (docs/commands.md)."""
    root = external.repo_path(path)
    with external.opened(url, rev) as ext:
        entries = ext.entries(root)
        name = os.path.basename(root) or ext.name
        dest = name
        if out is not None:
            dest = os.fsencode(out)
            if os.path.isdir(dest):
                dest = os.path.join(dest, name)
        written = export.export(ext, entries, root, dest)
    for sub in written.skipped:
        output.warn(f"skipped submodule '{quote(sub)}': get it from its own repository")
    line = (
        f"wrote {quote(dest)}: {written.files} file(s), {output.human_bytes(written.nbytes)}, "
        f"from {ext.where}"
    )
    if written.store is not None:
        line += f"; {written.downloaded} object(s) downloaded from {written.store}"
    output.note(line)
    return 0
