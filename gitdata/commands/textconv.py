"""`git-data textconv FILE`: the diff driver (`diff.data.textconv`), one readable line per version
of a data file, so that `git diff`, `git log -p` and `git show` print

    gitdata: 1.2 GiB, xxh128:0123456789ab…, bytes present locally

instead of pointer text. git runs it once per version shown (`git log -p` many times), so it
imports only what it needs and asks git at most two questions (where the repository is, where
its cache is), and those only for a pointer or a big file. It never downloads anything and
never stores anything.

What git hands us. For a version in a commit or the index, git smudges the blob into a
temporary file first (diff.c, prep_temp_blob), so FILE holds either the pointer (the bytes
are not cached, or too big: filter_handler.py never downloads for such a read) or the bytes
themselves. For the worktree side, FILE is the worktree file itself, real bytes of any size.
Content that is not a pointer is described as what `git add` would make of it: its size and,
when that is cheap, its oid (peek.py: from the stat cache, which the clean filter that `git diff`
runs on a changed file has just filled; else hashed in one pass, up to HASH_LIMIT). Bigger
content the stat cache does not know gets its size only. Nothing is ever read whole into memory,
and binary content is never printed: the output is always one line of text (none for an empty
file, which `git add` keeps empty).
"""

from __future__ import annotations

import os
import sys

from ..errors import GitDataError
from ..peek import Peek, peek
from ..statcache import MIN_SIZE, StatCache

#: Content bigger than this is hashed only when the stat cache knows it (XXH3 reads a file this
#: big in well under a second from disk, in a few dozen milliseconds from the page cache).
HASH_LIMIT = 256 << 20


def textconv(file: str) -> int:
    try:
        f = open(file, "rb", buffering=0)
    except OSError as e:
        raise GitDataError(f"cannot read {file}: {e.strerror}", "name an existing file") from e
    with f:
        st = os.fstat(f.fileno())
        repo = _Repo()
        look = peek(f, st, repo.stat_cache() if st.st_size >= MIN_SIZE else None, HASH_LIMIT)
    line = describe(look, repo)
    out = sys.stdout.buffer
    if line:
        out.write(line.encode("utf-8") + b"\n")
    out.flush()
    return 0


def describe(look: Peek, repo: _Repo) -> str:
    from ..output import human_bytes

    if look.size == 0 and not look.is_pointer:
        return ""
    size = human_bytes(look.size)
    if look.oid is None:
        limit = human_bytes(HASH_LIMIT)
        return f"gitdata: {size}, not hashed (over {limit}), bytes present locally"
    where = "bytes present locally"
    if look.is_pointer:
        cached = repo.has(look.oid)
        where = {True: where, False: "not in the local cache", None: "pointer"}[cached]
    return f"gitdata: {size}, xxh128:{look.oid[:12]}\u2026, {where}"


class _Repo:
    """The repository git runs us in (its working directory), asked only when needed; None
    answers when there is none (a file given by hand, outside any repository)."""

    def __init__(self) -> None:
        self._paths: object = False

    def _where(self) -> tuple[str, str] | None:
        """(data dir, cache root), or None outside a repository."""
        if self._paths is False:
            from ..cache import cache_root
            from ..git import config as git_config
            from ..git.paths import repo_paths

            try:
                paths = repo_paths()
            except GitDataError:
                self._paths = None
            else:
                cfg = git_config.read_config()
                cachedir = git_config.last(cfg, "data.cachedir")
                base = paths.toplevel or paths.git_dir
                self._paths = (paths.data_dir, cache_root(paths.data_dir, base, cachedir))
        return self._paths  # type: ignore[return-value]

    def stat_cache(self) -> StatCache | None:
        where = self._where()
        return StatCache(os.path.join(where[0], "stat")) if where else None

    def has(self, oid: str) -> bool | None:
        from ..layout import object_path

        where = self._where()
        return os.path.isfile(object_path(where[1], oid)) if where else None
