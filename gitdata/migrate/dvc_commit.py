"""One new commit from a set of path changes, made beside the user's index, and the work tree
and index brought to it afterwards; both halves survive being killed.

The commit is built in a temporary index (read-tree HEAD, update-index, write-tree,
commit-tree), so the user's index and files do not change until the branch moves, in one
`update-ref` from the old commit to the new. Before that move a marker with both ids is written
into the worktree's gitdata directory; `sync` then writes what changed into the work tree and
the index and removes the marker. A run that finds the marker with HEAD at the new commit
finishes the sync (`resume`); with HEAD elsewhere the marker is stale and goes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Optional

from ..context import Context
from ..fsutil import replace_file
from ..git import history
from ..git.diff import diff_trees
from ..git.run import run_git, split_z
from ..git.scan import cat_blobs
from ..pointer import parse

MARKER = "migrate-dvc-commit"

#: A blob to write: (mode, content); None removes the path.
Change = Optional[tuple[int, bytes]]


def write_blobs(ctx: Context, contents: list[bytes]) -> list[str]:
    """Write blobs into the object database, as they are (no filter); their ids, in order."""
    unique = list(dict.fromkeys(contents))
    os.makedirs(ctx.paths.data_dir, exist_ok=True)
    ids = {}
    with tempfile.TemporaryDirectory(dir=ctx.paths.data_dir, prefix="tmp-blobs-") as d:
        writer = history.BlobWriter(ctx.paths.toplevel)
        try:
            for i, data in enumerate(unique):
                name = os.path.join(d, str(i))
                with open(name, "wb") as f:
                    f.write(data)
                ids[data] = writer.write(name)
        finally:
            writer.close()
    return [ids[c] for c in contents]


def _index_info(changes: dict[str, Change], ids: dict[str, str], zero: str) -> bytes:
    recs = []
    for path, change in sorted(changes.items()):
        if change is None:
            recs.append(f"0 {zero}\t{path}")
        else:
            recs.append(f"{change[0]:o} {ids[path]}\t{path}")
    return b"".join(os.fsencode(r) + b"\0" for r in recs)


def commit(ctx: Context, head: str, changes: dict[str, Change], message: str) -> str:
    """The new commit on top of `head` with `changes` (paths top-relative); nothing moves."""
    paths = [p for p, c in changes.items() if c is not None]
    blob_ids = write_blobs(ctx, [changes[p][1] for p in paths])  # type: ignore[index]
    ids = dict(zip(paths, blob_ids))
    top = ctx.paths.toplevel
    fd, index = tempfile.mkstemp(dir=ctx.paths.git_dir, prefix="gitdata-migrate-index-")
    os.close(fd)
    os.unlink(index)  # read-tree wants to create it
    env = {"GIT_INDEX_FILE": index}
    try:
        run_git(["read-tree", head], cwd=top, env=env)
        info = _index_info(changes, ids, "0" * len(head))
        run_git(["update-index", "-z", "--index-info"], cwd=top, env=env, input=info)
        tree = run_git(["write-tree"], cwd=top, env=env).stdout.decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)
    return (
        run_git(["commit-tree", tree, "-p", head, "-F", "-"], cwd=top, input=message.encode())
        .stdout.decode()
        .strip()
    )


def move_branch(ctx: Context, old: str, new: str, reason: str) -> None:
    """HEAD (its branch) from `old` to `new`, refused by git if it moved meanwhile; the marker
    says a sync is owed."""
    marker = os.path.join(ctx.paths.worktree_data_dir, MARKER)
    os.makedirs(ctx.paths.worktree_data_dir, exist_ok=True)
    replace_file(marker, f"{old} {new}\n".encode())
    run_git(["update-ref", "-m", reason, "HEAD", new, old], cwd=ctx.paths.toplevel)


def pending(ctx: Context) -> tuple[str, str] | None:
    """(old, new) of a move whose sync did not finish, if HEAD is at `new`; a stale marker is
    removed."""
    marker = os.path.join(ctx.paths.worktree_data_dir, MARKER)
    try:
        with open(marker) as f:
            old, new = f.read().split()
    except (OSError, ValueError):
        return None
    head = run_git(["rev-parse", "-q", "--verify", "HEAD"], cwd=ctx.paths.toplevel, check=False)
    if head.stdout.decode().strip() == new:
        return old, new
    os.unlink(marker)
    return None


def sync(ctx: Context, old: str, new: str, write_data: Callable[[str, bytes, int], None]) -> None:
    """Bring the work tree and the index from `old` to `new` for the paths that differ.
    Data files are left to `write_data(path, pointer text, mode)`; every other file gets its
    blob; removed paths go. Then the index records the new entries with fresh stat data
    (`update-index --refresh` through the filter: unchanged big files are not hashed again)."""
    top = ctx.paths.toplevel
    assert top is not None
    changes = diff_trees(old, new, cwd=top)
    info = []
    zero = "0" * len(new)
    for ch in changes:
        if not ch.new_is_file:
            path = os.fsdecode(ch.path)
            full = os.path.join(top, path)
            if os.path.lexists(full):
                os.unlink(full)
            info.append(f"0 {zero}\t{path}")
    added = ((ch.new_blob, ch) for ch in changes if ch.new_is_file)
    for _blob, ch, content in cat_blobs(added, (), top):
        path = os.fsdecode(ch.path)
        full = os.path.join(top, path)
        data = content or b""
        p = parse(data)
        if p is not None:
            write_data(path, data, ch.new_mode)
        else:
            replace_file(full, data, 0o777 if ch.new_mode == 0o100755 else 0o666)
        info.append(f"{ch.new_mode:o} {ch.new_blob}\t{path}")
    if info:
        run_git(
            ["update-index", "-z", "--index-info"],
            cwd=top,
            input=b"".join(os.fsencode(r) + b"\0" for r in info),
        )
        run_git(["update-index", "-q", "--refresh"], cwd=top, filters=True, ok_codes=(0, 1))
    marker = os.path.join(ctx.paths.worktree_data_dir, MARKER)
    if os.path.exists(marker):
        os.unlink(marker)


def tracked(ctx: Context, pathspecs: list[str], magic: str = "literal") -> list[str]:
    """Tracked files matching `pathspecs` (top-relative; `literal`: a path, or a folder and
    everything below it; `glob`: patterns), top-relative."""
    if not pathspecs:
        return []
    out = run_git(
        ["ls-files", "-z", "--full-name", "--", *(f":(top,{magic}){p}" for p in pathspecs)],
        cwd=ctx.paths.toplevel,
    ).stdout
    return [os.fsdecode(p) for p in split_z(out)]
