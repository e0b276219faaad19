"""The index and the worktree as git sees them: `ls-files`, re-staging through the filter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .run import run_git, split_z


@dataclass(frozen=True)
class IndexEntry:
    mode: int
    blob: str
    path: bytes  # relative to the top of the worktree

    def stages(self, data: bytes) -> bool:
        """Whether `data` is exactly the blob this entry stages (git's object id of it: SHA-1,
        or SHA-256 in a repository that uses it), without reading the object."""
        h = hashlib.sha1() if len(self.blob) == 40 else hashlib.sha256()
        h.update(b"blob %d\0" % len(data))
        h.update(data)
        return h.hexdigest() == self.blob


def ls_files(pathspecs: Sequence[str] = ()) -> Iterator[IndexEntry]:
    """Stage-0 entries of the index (conflicted paths are not ours to touch). Pathspecs are
    relative to the current directory, as the user typed them; paths come back top-relative."""
    out = run_git(["ls-files", "-s", "-z", "--full-name", "--", *pathspecs]).stdout
    for rec in split_z(out):
        meta, _, path = rec.partition(b"\t")
        mode, blob, stage = meta.split(b" ")
        if stage == b"0":
            yield IndexEntry(int(mode, 8), blob.decode(), path)


def restage(top: str, paths: Sequence[bytes]) -> None:
    """Add `paths` again through the clean filter, so that the index records their new stat data
    (with the same pointer). `update-index --refresh` is not enough: the size changed, and git
    calls a file whose size changed modified without running the filter (read-cache.c)."""
    if paths:
        run_git(
            ["update-index", "-z", "--stdin"],
            cwd=top,
            input=b"\0".join(paths) + b"\0",
            filters=True,
        )


def filter_drivers(paths: Sequence[bytes], top: str) -> dict[bytes, str]:
    """The `filter` attribute of each top-relative path as `git add` would see it (the
    worktree's .gitattributes files): a driver name, or "set", "unset", "unspecified"."""
    if not paths:
        return {}
    out = run_git(["check-attr", "-z", "--stdin", "filter"], cwd=top,
                  input=b"".join(p + b"\0" for p in paths)).stdout  # fmt: skip
    recs = split_z(out)
    return {path: value.decode("utf-8", "replace")
            for path, _attr, value in zip(recs[0::3], recs[1::3], recs[2::3])}  # fmt: skip
