"""The sharded layout shared by the cache and directory stores: `<root>/<h[0:2]>/<h[2:4]>/<h>`."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .pointer import is_oid


def object_path(root: str, oid: str) -> str:
    """The path of `oid` under `root`; an oid from outside never becomes any other path."""
    if not is_oid(oid):
        raise ValueError(f"not an oid: {oid!r}")
    return os.path.join(root, oid[0:2], oid[2:4], oid)


def iter_object_paths(root: str) -> Iterator[tuple[str, str]]:
    """(oid, path) of every object under `root`; temporaries and stray names are skipped."""
    for a in _listdir(root):
        if len(a) != 2:
            continue
        for b in _listdir(os.path.join(root, a)):
            d = os.path.join(root, a, b)
            for name in _listdir(d):
                if is_oid(name) and name.startswith(a + b):
                    yield name, os.path.join(d, name)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
