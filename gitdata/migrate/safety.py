"""What must hold before history is rewritten, and the worktree afterwards."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from .. import output
from ..context import Context
from ..errors import GitDataError
from ..git import config as git_config
from ..git.paths import require_worktree
from ..git.run import run_git, split_z
from ..pointer import parse as parse_pointer
from .rewrite import pending_checkout, recover

#: Files in the git dir that say an operation is half done, and its name.
IN_PROGRESS = (
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase or am"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
)


def require_clean(ctx: Context) -> str:
    """The top of the worktree, once it is known to have no change and no operation in
    progress; a GitDataError otherwise."""
    top = require_worktree(ctx.paths)
    if recover(ctx):  # a run killed after its refs moved
        check_out(ctx, top)
    for name, what in IN_PROGRESS:
        if os.path.exists(os.path.join(ctx.paths.git_dir, name)):
            raise GitDataError(
                f"{what} is in progress", "finish it or abort it, then run git data migrate"
            )
    # with our filter: a file git must re-read to compare is cleaned as `git status` would
    out = run_git(
        ["status", "--porcelain", "-z", "--untracked-files=no", "--ignore-submodules"],
        cwd=top,
        filters=True,
    ).stdout
    if out:
        raise GitDataError(
            "the worktree has changes", "commit or stash them, then run git data migrate"
        )
    return top


def check_out(
    ctx: Context,
    top: str,
    converted: Iterable[bytes] = (),
    pointer_of: Callable[[str], bytes | None] | None = None,
) -> None:
    """Write the worktree and index of the new HEAD (git runs our filter; big files are written
    when it closes, before this returns).

    The `converted` files already hold the right bytes (the worktree was clean, and a pointer
    stands for the very bytes it replaced): instead of writing them again, they are re-staged
    first, through the filter under the new `.gitattributes`, which reads them once and gives
    the index what HEAD has. Should a file give something else, the reset writes it as HEAD says.
    `pointer_of(blob)`: the new pointer of an old version, for `remember_clean`.
    """
    cfg = git_config.read_config(top)
    installed = bool(git_config.last(cfg, "filter.data.process"))
    if not installed:
        output.warn(
            "the data filter is not installed: data files were checked out as pointers; "
            "run `git data install` and `git data checkout`"
        )
    paths = [p for p in converted if os.path.isfile(os.path.join(os.fsencode(top), p))]
    if installed and paths:
        has_attrs = run_git(["cat-file", "-e", "HEAD:.gitattributes"], cwd=top, check=False)
        if has_attrs.returncode == 0:
            run_git(["checkout", "HEAD", "--", ".gitattributes"], cwd=top)
        else:  # export took its last line: gone, as HEAD has it (it was committed: no loss)
            run_git(["rm", "-q", "-f", "--ignore-unmatch", "--", ".gitattributes"], cwd=top)
        if pointer_of is not None:
            remember_clean(ctx, top, paths, pointer_of)
        tracked = set(split_z(run_git(["ls-files", "-z"], cwd=top).stdout))
        staged = b"".join(p + b"\0" for p in paths if p in tracked)
        # `add --renormalize`: cleaned again even where the stat data says unchanged
        args = ["add", "--renormalize", "--pathspec-from-file=-", "--pathspec-file-nul"]
        literal = {"GIT_LITERAL_PATHSPECS": "1"}
        run_git(args, cwd=top, input=staged, filters=True, env=literal)
    run_git(["reset", "-q", "--hard", "HEAD"], cwd=top, filters=True)
    try:
        os.unlink(pending_checkout(ctx))
    except FileNotFoundError:
        pass


_STAT = re.compile(rb"(ctime|mtime|ino|size): ([0-9]+)(?::([0-9]+))?")


def remember_clean(
    ctx: Context, top: str, paths: list[bytes], pointer_of: Callable[[str], bytes | None]
) -> None:
    """Tell the stat cache which object each of `paths` holds, where git's index (still the
    old one) vouches for it: the file's stat data is what the index recorded for the old
    version, and the file is older than the index (not racily clean). Re-staged, such a file
    is then drained by the filter, not hashed and copied into the cache a second time."""
    try:
        index_mtime = os.stat(os.path.join(ctx.paths.git_dir, "index")).st_mtime_ns
    except FileNotFoundError:
        return
    args = ["ls-files", "--debug", "-s", "-z", "--", *(os.fsdecode(p) for p in paths)]
    out = run_git(args, cwd=top, env={"GIT_LITERAL_PATHSPECS": "1"}).stdout
    # `mode blob stage<TAB>path` NUL, then that entry's stat lines, then the next entry
    entries: list[tuple[bytes, bytes]] = []
    for i, chunk in enumerate(out.split(b"\0")):
        stats, _, head = chunk.rpartition(b"\n") if i else (b"", b"", chunk)
        if entries:
            entries[-1] = (entries[-1][0], stats)
        if head:
            entries.append((head, b""))
    for head, stats in entries:
        meta, _, path = head.partition(b"\t")
        new = pointer_of(meta.split()[1].decode("ascii"))
        p = parse_pointer(new) if new else None
        recorded = {m[0]: (int(m[1]), int(m[2] or 0)) for m in _STAT.findall(stats)}
        try:
            st = os.stat(os.path.join(os.fsencode(top), path))
        except OSError:
            continue
        now = {
            b"ctime": divmod(st.st_ctime_ns, 10**9),
            b"mtime": divmod(st.st_mtime_ns, 10**9),
            b"ino": (st.st_ino & 0xFFFFFFFF, 0),
            b"size": (st.st_size & 0xFFFFFFFF, 0),
        }
        if p and p.size == st.st_size and recorded == now and st.st_mtime_ns < index_mtime:
            ctx.stat_cache.record(st, p.oid)
