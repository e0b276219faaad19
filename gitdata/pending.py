"""Big files that smudge left as pointers, for the end of the git command to fill.

Git holds a smudge filter's whole output in memory, so files of `data.bigfilethreshold` or more
leave the filter as their pointer and are written from the cache afterwards (worktree.finish).
Each worktree has its own list, `<git dir>/data/pending-checkout`: NUL-terminated paths,
appended by every filter process of the worktree, taken whole (renamed away) by whoever fills
them, and put back when filling them has to wait.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

PENDING_FILE = "pending-checkout"


def record(data_dir: str, pathname: str) -> None:
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, PENDING_FILE), "ab") as f:
        f.write(os.fsencode(pathname) + b"\0")


def take(data_dir: str) -> set[bytes]:
    """The paths recorded so far, removed from the list (nobody else fills them meanwhile)."""
    pending = os.path.join(data_dir, PENDING_FILE)
    taken = f"{pending}.{os.getpid()}"
    try:
        os.rename(pending, taken)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    try:
        with open(taken, "rb") as f:
            return {p for p in f.read().split(b"\0") if p}
    finally:
        os.unlink(taken)


def put_back(data_dir: str, paths: Iterable[bytes]) -> None:
    paths = list(paths)
    if paths:
        os.makedirs(data_dir, exist_ok=True)
        with open(os.path.join(data_dir, PENDING_FILE), "ab") as f:
            f.write(b"".join(p + b"\0" for p in paths))
