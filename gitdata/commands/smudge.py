from __future__ import annotations

import shutil
import sys

from ..context import Context
from ..filter_handler import FilterHandler
from ..git.filter_protocol import Request


def smudge(path: str | None = None, skip: bool = False) -> int:
    """Single-shot smudge filter: a pointer on stdin, the file's bytes on stdout."""
    ctx = Context()
    handler = FilterHandler(ctx, skip_smudge=skip)
    stdin = open(0, "rb", closefd=False)
    out = handler.smudge(Request("smudge", path or ""), stdin)
    if isinstance(out, (bytes, bytearray)):
        sys.stdout.buffer.write(out)
    else:
        with out:  # type: ignore[union-attr]
            shutil.copyfileobj(out, sys.stdout.buffer, 1 << 20)  # type: ignore[arg-type]
    sys.stdout.buffer.flush()
    return 0
