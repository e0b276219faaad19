"""The filter process's handler: answers git's clean and smudge requests for one repository,
downloads missing objects for smudge (in parallel through the protocol's `delay`), and at the
end of the git command writes the big files it left as pointers (worktree.finish)."""

from __future__ import annotations

import os
import queue
from functools import partial

from . import pending
from .context import Context
from .fetcher import Fetcher
from .filters import NEVER_FILTERED, clean, open_cached, read_pointer_input
from .git.filter_protocol import DELAYED, Output, Request
from .git.pktline import ContentReader
from .hashing import Reader
from .outcome import Outcome
from .pointer import Pointer

#: git's options that take their value as the next argument (git.c, handle_options)
_GIT_OPTIONS_WITH_VALUE = {b"-C", b"-c", b"--git-dir", b"--work-tree", b"--namespace",
                           b"--config-env", b"--super-prefix", b"--exec-path"}  # fmt: skip


def parent_is_archive() -> bool:
    """Whether the git that started this filter runs `git archive`. That command puts what
    smudge gives into the archive, not the worktree, so a big file must come through as bytes
    (git holds each file in memory for an archive anyway) rather than as a pointer for the
    worktree pass. Linux's /proc tells (git starts the filter through `sh -c`, which may stay
    in between); elsewhere the answer is no."""
    return parent_subcommand() == b"archive"


def parent_subcommand() -> bytes | None:
    """The subcommand of the git that started this filter (`archive`, `checkout-index`), from
    Linux's /proc; None where it cannot be told."""
    pid = os.getppid()
    for _ in range(2):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if os.path.basename(argv[0]) not in (b"sh", b"bash", b"dash") or argv[1:2] != [b"-c"]:
                return git_subcommand(argv)
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rpartition(b")")[2].split()[1])  # the shell's parent
        except (OSError, ValueError, IndexError):
            return None
    return None


def is_display_read(req: Request) -> bool:
    """Whether git smudges one blob to show it rather than to check it out (as far as the
    request tells: see FilterHandler._for_display).

    `git diff`, `git log -p` and `git show` smudge each version into a temporary file before
    they hand it to a textconv or external diff driver (diff.c, prep_temp_blob, git 2.39), and
    so does `git cat-file --filters`. Such a request names the blob but no tree or ref and
    cannot be delayed; every checkout that moves HEAD or restores from a tree names the tree
    (`treeish=`), and index checkouts (`git checkout -- PATH`, stash, merges, read-tree) may be
    delayed. Only `git checkout-index` sends the same request for the worktree.
    """
    return (
        not req.can_delay
        and "blob" in req.extra
        and "treeish" not in req.extra
        and "ref" not in req.extra
    )


def git_subcommand(argv: list[bytes]) -> bytes | None:
    if not argv:
        return None
    if os.path.basename(argv[0]).startswith(b"git-"):
        return os.path.basename(argv[0])[4:]
    args = iter(argv[1:])
    for a in args:
        if a in _GIT_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not a.startswith(b"-"):
            return a
    return None


class FilterHandler:
    """Answers git's filter-process requests for one repository."""

    def __init__(self, ctx: Context, skip_smudge: bool = False) -> None:
        self.ctx = ctx
        # Settings (.gitdata.toml) are read at the first smudge: a broken file must not stop
        # `git add`, which never needs it.
        self._skip_smudge = skip_smudge
        self._fetcher: Fetcher | None = None
        self._delayed: dict[str, Outcome] = {}  # pathname -> its download
        self._finished: dict[str, BaseException | None] = {}
        self._done: queue.Queue[str] = queue.Queue()
        self._pointers: dict[str, Pointer] = {}
        self._left: set[bytes] = set()  # big files smudged as pointers: finish() writes them
        self._archive: bool | None = None  # started by `git archive`? (asked once)
        self._checkout_index: bool | None = None  # started by `git checkout-index`? (likewise)

    def clean(self, req: Request, content: ContentReader) -> Output:
        if os.path.basename(req.pathname) in NEVER_FILTERED:
            return content.read()
        return clean(self.ctx, content, req.pathname)

    def smudge(self, req: Request, content: Reader) -> Output:
        path = req.pathname
        if path in self._finished:  # git asks again for a file we delayed
            error = self._finished.pop(path)
            if error is not None:
                raise error
            return open_cached(self.ctx, self._pointers.pop(path), path)
        p, head, rest = read_pointer_input(content)
        if p is None:
            return rest if rest is not None else head
        if self._skip_smudge or self.ctx.settings.skip_smudge:
            return head
        if self._for_display(req):
            # never a download, never a big file through git's memory, nothing left for
            # finish(): the diff driver (`git-data textconv`) describes a pointer as well
            big = p.size >= self.ctx.settings.big_file_threshold
            return head if big or not self.ctx.cache.has(p.oid) else open_cached(self.ctx, p, path)
        if p.size >= self.ctx.settings.big_file_threshold and not self._for_archive():
            # Recorded for crash recovery too: a filter killed before finish() leaves the list
            # to the next git command's filter (or `git data checkout`).
            pending.record(self.ctx.paths.worktree_data_dir, path)
            self._left.add(os.fsencode(path))
            return head
        if self.ctx.cache.has(p.oid):
            return open_cached(self.ctx, p, path)
        fetcher = self.fetcher()
        if req.can_delay:
            self._pointers[path] = p
            fut = fetcher.submit(p, batch=True)
            self._delayed[path] = fut
            fut.add_done_callback(partial(self._mark_done, path))
            return DELAYED
        fetcher.fetch(p, path)
        return open_cached(self.ctx, p, path)

    def _for_display(self, req: Request) -> bool:
        """A display read (is_display_read), unless /proc says `git checkout-index` sent it:
        that one writes the worktree, so it downloads and leaves big files to finish() like any
        checkout. Where /proc cannot tell, it is served as a display read."""
        if not is_display_read(req):
            return False
        if self._checkout_index is None:
            self._checkout_index = parent_subcommand() == b"checkout-index"
        return not self._checkout_index

    def _for_archive(self) -> bool:
        if self._archive is None:
            self._archive = parent_is_archive()
        return self._archive

    def finish(self) -> None:
        """git closed our input: its command has written every file and its index, and waits
        for us. Write the big files left as pointers (see worktree.finish). Nothing to do, the
        usual case, costs one stat."""
        if not self._left and not os.path.exists(
            os.path.join(self.ctx.paths.worktree_data_dir, pending.PENDING_FILE)
        ):
            return
        from . import worktree

        worktree.finish(self.ctx, self._left)

    def _mark_done(self, path: str, _fut: Outcome) -> None:
        self._done.put(path)

    def available(self) -> list[str]:
        """Block until at least one delayed file is ready; [] when none is left."""
        if not self._delayed:
            return []
        if self._fetcher is not None:
            self._fetcher.flush()  # git has sent every file it delays: start the batch
        ready = [self._done.get()]
        while True:
            try:
                ready.append(self._done.get_nowait())
            except queue.Empty:
                break
        for path in ready:
            fut = self._delayed.pop(path)
            exc = fut.exception()
            self._finished[path] = (
                None if exc is None else self.fetcher().explain(exc, self._pointers[path], path)
            )
        return ready

    def close(self) -> None:
        """Before the process leaves: see Fetcher.close."""
        if self._fetcher is not None:
            self._fetcher.close()

    def fetcher(self) -> Fetcher:
        """The filter's downloads, made at the first file missing from the cache: the files git
        delays go to a download process of their own (fetch_process.py)."""
        if self._fetcher is None:
            self._fetcher = Fetcher(self.ctx, worker=True)
        return self._fetcher
