from __future__ import annotations

import sys

from .. import filters
from ..context import Context


def clean(path: str | None = None) -> int:
    """Single-shot clean filter: content on stdin, the blob to store on stdout."""
    stdin = open(0, "rb", closefd=False)
    blob = filters.clean(Context(), stdin, path)
    sys.stdout.buffer.write(blob)
    sys.stdout.buffer.flush()
    return 0
