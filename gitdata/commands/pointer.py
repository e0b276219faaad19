from __future__ import annotations

import sys

from .. import hashing
from ..errors import GitDataError
from ..filters import passes_through
from ..pointer import SIZE_CUTOFF, Pointer


def pointer(file: str) -> int:
    """Print the pointer FILE would get from `git add` (nothing is stored)."""
    try:
        with open(file, "rb") as f:
            head = f.read(SIZE_CUTOFF + 1)
            if passes_through(head):
                blob = head
            else:
                f.seek(0)
                oid, size = hashing.copy_and_hash(f, None)
                blob = Pointer(oid, size).encode()
    except OSError as e:
        raise GitDataError(f"cannot read {file}: {e.strerror}", "check the path") from e
    sys.stdout.buffer.write(blob)
    return 0
