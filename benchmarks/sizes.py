"""What a step added to a directory: apparent bytes, new files, and the disk blocks and bytes of
inodes that a store did not share with the local cache (hard links)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TreeSize:
    files: int = 0
    bytes: int = 0  # apparent size
    inodes: dict[tuple[int, int], int] = field(default_factory=dict)  # -> allocated bytes
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)  # -> apparent size


def tree_size(path: Path) -> TreeSize:
    ts = TreeSize()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            ts.files += 1
            ts.bytes += st.st_size
            ts.inodes[(st.st_dev, st.st_ino)] = st.st_blocks * 512
            ts.sizes[(st.st_dev, st.st_ino)] = st.st_size
    return ts


def new_disk(before: TreeSize, after: TreeSize, shared: TreeSize) -> int:
    """Blocks of inodes new in `after` that `shared` (the local cache) does not hold too:
    what the store really added to the disk (a hard link to the cache adds nothing)."""
    return sum(
        b for k, b in after.inodes.items() if k not in before.inodes and k not in shared.inodes
    )


def new_written(before: TreeSize, after: TreeSize, shared: TreeSize) -> int:
    """Bytes of the files new in `after` that are not links to `shared` (the local cache): what
    a push to a directory store wrote into it."""
    return sum(n for k, n in after.sizes.items() if k not in before.sizes and k not in shared.sizes)
