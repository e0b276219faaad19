"""The index and the worktree as git sees them: `ls-files`, attributes, re-staging through the
filter."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .run import run_git, split_z

#: Paths per git command line (ARG_MAX is far above 1,000 paths of 4 KiB).
ARGS_AT_ONCE = 1000


@dataclass(frozen=True)
class IndexEntry:
    mode: int
    blob: str
    path: bytes  # relative to the top of the worktree
    stage: int = 0

    def stages(self, data: bytes) -> bool:
        """Whether `data` is exactly the blob this entry stages (git's object id of it: SHA-1,
        or SHA-256 in a repository that uses it), without reading the object."""
        return blob_id(data, len(self.blob)) == self.blob


def blob_id(data: bytes, hex_len: int = 40) -> str:
    h = hashlib.sha1() if hex_len == 40 else hashlib.sha256()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def ls_files(
    pathspecs: Sequence[str] = (), cwd: str | None = None, all_stages: bool = False
) -> Iterator[IndexEntry]:
    """Entries of the index, stage 0 only unless `all_stages` (conflicted paths are not ours to
    touch). Pathspecs are relative to the current directory, as the user typed them; paths come
    back top-relative."""
    out = run_git(["ls-files", "-s", "-z", "--full-name", "--", *pathspecs], cwd=cwd).stdout
    for rec in split_z(out):
        meta, _, path = rec.partition(b"\t")
        mode, blob, stage = meta.split(b" ")
        if all_stages or stage == b"0":
            yield IndexEntry(int(mode, 8), blob.decode(), path, int(stage))


def untracked(
    pathspecs: Sequence[str] = (), cwd: str | None = None, ignored: bool = True
) -> list[bytes]:
    """Files git does not track, top-relative (the whole worktree unless pathspecs say less);
    with `ignored`, the ignored ones too (gc must see a pointer wherever it sits), else only
    what `git status` shows."""
    args = ["ls-files", "-z", "--others", "--full-name"]
    if not ignored:
        args.append("--exclude-standard")
    return split_z(run_git([*args, "--", *(pathspecs or [":/"])], cwd=cwd).stdout)


def ignored_files(cwd: str | None = None) -> list[bytes]:
    """Files git does not track and ignores (`.gitignore`, `info/exclude`), top-relative."""
    args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--full-name", ":/"]
    return split_z(run_git(args, cwd=cwd).stdout)


def skip_worktree(cwd: str | None = None) -> set[bytes]:
    """Paths outside a sparse checkout (the skip-worktree bit: `ls-files -t` tags them S)."""
    out = run_git(["ls-files", "-t", "-z", "--full-name"], cwd=cwd).stdout
    return {rec[2:] for rec in split_z(out) if rec.startswith(b"S ")}


def data_paths(paths: Iterable[bytes], cwd: str | None = None) -> set[bytes]:
    """Which of `paths` the attributes give `filter=data` (as the worktree's .gitattributes
    say now)."""
    paths = list(paths)
    if not paths:
        return set()
    out = run_git(
        ["check-attr", "-z", "--stdin", "filter"], cwd=cwd, input=b"".join(p + b"\0" for p in paths)
    ).stdout
    recs = split_z(out)
    return {recs[i] for i in range(0, len(recs) - 2, 3) if recs[i + 2] == b"data"}


def index_stat(
    paths: Sequence[bytes], cwd: str | None = None
) -> dict[bytes, tuple[IndexEntry, int]]:
    """The stage-0 entry of each of `paths` that has one, with the file size the index recorded
    for it (`ls-files --debug`): git takes a file whose size differs for modified without
    looking at its content."""
    out = b"".join(
        run_git(
            ["--literal-pathspecs", "ls-files", "-s", "-z", "--debug", "--full-name", "--",
             *(os.fsdecode(p) for p in paths[i : i + ARGS_AT_ONCE])],
            cwd=cwd,
        ).stdout
        for i in range(0, len(paths), ARGS_AT_ONCE)
    )  # fmt: skip
    # each record: "<mode> <blob> <stage>\t<path>\0" then five "  key: value" lines
    found: dict[bytes, tuple[IndexEntry, int]] = {}
    recs = out.split(b"\0")
    head = recs[0]
    for rec in recs[1:]:
        lines = rec.split(b"\n", 5)
        meta, _, path = head.partition(b"\t")
        if len(lines) >= 5 and meta.endswith(b" 0"):
            mode, blob, _stage = meta.split(b" ")
            size = int(lines[4].split()[1])
            found[path] = (IndexEntry(int(mode, 8), blob.decode(), path), size)
        head = lines[5] if len(lines) > 5 else b""
    return found


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
