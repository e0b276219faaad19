"""Files of another repository written to a destination (`git data get`), all or nothing.

Everything is built first in a staging directory beside the destination, on the same file
system: `.git-data-get-<random>.tmp/`, holding `objects/` (a Cache: each downloaded object is
hashed before it takes its name, as for any download) and the file or tree to be. Only when all
of it is there does it take the destination's name: a hard link for a file (which fails rather
than replace anything), a rename for a folder. A failure, or Ctrl-C, removes the staging
directory; the destination never exists half-written, and an existing one is never replaced.

Objects are moved out of `objects/`, not copied, when nothing else links them: a directory
store hands out hard links to its own files where it can, and the user's file must never share
an inode with a store's object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from . import output, transfer
from .cache import Cache, disk_error
from .errors import GitDataError
from .external import Entry, External
from .fsutil import copy_file, umask
from .names import quote
from .storage import open_store

#: Blobs stored in Git itself of more than this are streamed from git rather than read whole.
BIG_BLOB = 8 << 20


@dataclass
class Written:
    files: int = 0
    nbytes: int = 0
    downloaded: int = 0
    store: str | None = None  # the store data files came from
    skipped: list[bytes] = field(default_factory=list)  # submodules


def export(ext: External, entries: list[Entry], root: bytes, dest: bytes) -> Written:
    """Write `entries` (the file `root`, or the folder `root` and everything below it) to
    `dest`, which must not exist."""
    single = len(entries) == 1 and entries[0].path == root
    parent = os.path.dirname(dest) or b"."
    if os.path.lexists(dest):
        raise _exists(dest)
    if not os.path.isdir(parent):
        raise GitDataError(
            f"{quote(parent)} is not a directory", "create it, or name another destination with -o"
        )
    rels = {e.path: _relative(ext, e.path, root, single) for e in entries}
    written = Written()
    if single and entries[0].kind == "submodule":
        raise GitDataError(
            f"'{quote(root)}' is a submodule, another repository: gitdata does not get those",
            f"get it from its own repository (see {quote(b'.gitmodules')} in {ext.display})",
        )
    try:
        staging = tempfile.mkdtemp(dir=parent, prefix=b".git-data-get-", suffix=b".tmp")
    except OSError as e:
        raise disk_error(e, os.fsdecode(dest)) from e
    try:
        cache = Cache(os.fsdecode(os.path.join(staging, b"objects")))
        data = [e for e in entries if e.kind == "data"]
        if data:
            _download(ext, data, cache, written)
        target = os.path.join(staging, b"out")
        try:
            if not single:
                os.mkdir(target)
            _write(ext, entries, rels, target, cache, written)
            _place(target, dest, single)
        except OSError as e:
            raise disk_error(e, os.fsdecode(dest)) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _relative(ext: External, path: bytes, root: bytes, single: bool) -> bytes:
    """`path` below `root`, checked: never a part that would leave the destination or write
    into a `.git` (git's own verify_path refuses the same; a hostile server need not)."""
    rel = b"" if single else path[len(root) + 1 :] if root else path
    parts = path.split(b"/")
    if any(p in (b"", b".", b"..") or p.lower() == b".git" for p in parts):
        raise GitDataError(
            f"{ext.display} has a path gitdata will not write: '{quote(path)}'",
            "a path with an empty, '.', '..' or '.git' part is refused, as Git refuses it",
        )
    return rel


def _download(ext: External, data: list[Entry], cache: Cache, written: Written) -> None:
    """Every object of `data` into `cache`, in parallel, each verified; raise, listing the files,
    if any could not be had."""
    settings, res = ext.store()
    store = open_store(res.spec)
    written.store = store.describe()
    sizes = {e.pointer.oid: e.pointer.size for e in data if e.pointer}
    progress = output.Progress(
        f"Downloading from {store.describe()}", len(sizes), sum(sizes.values())
    )
    # files a chunked store keeps in packs are rebuilt from them; with an index for this run
    # only, since no repository here keeps one
    from .storage.chunked import ChunkedStore
    from .storage.chunked.index import MEMORY

    chunked = ChunkedStore(store, MEMORY)
    try:
        result = transfer.download(store, cache, sizes, settings.transfers, progress, chunked)
    finally:
        chunked.close()
    progress.close(len(result.failed))
    written.downloaded = len(result.done)
    if result.failed:
        paths: dict[str, list[str]] = {}
        for e in data:
            assert e.pointer is not None
            paths.setdefault(e.pointer.oid, []).append(quote(e.path))
        lines = [
            f"  {', '.join(sorted(paths[oid]))} (xxh128:{oid}): {_message(err)}"
            for oid, err in sorted(result.failed.items(), key=lambda kv: paths[kv[0]])
        ]
        raise GitDataError(
            f"cannot get the bytes of {len(lines)} file(s) from {store.describe()}:",
            f"nothing was written; the store of {ext.display} lacks them or holds damaged "
            "copies: `git data push` from a clone that has them repairs it",
            details=lines,
        )


def _message(e: BaseException) -> str:
    return e.message if isinstance(e, GitDataError) else str(e)


def _write(
    ext: External,
    entries: list[Entry],
    rels: dict[bytes, bytes],
    target: bytes,
    cache: Cache,
    written: Written,
) -> None:
    """Build the file, or the tree under `target`. Symbolic links come last, so that nothing is
    ever written through one."""

    def at(e: Entry) -> bytes:
        rel = rels[e.path]
        path = os.path.join(target, rel) if rel else target
        if rel and b"/" in rel:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    last_use = {e.pointer.oid: e.path for e in entries if e.pointer}
    links = []
    small = []
    for e in entries:
        if e.kind == "submodule":
            written.skipped.append(e.path)
            continue
        if e.kind == "link":
            links.append(e)
            continue
        written.files += 1
        written.nbytes += e.size or 0
        if e.pointer is not None:
            src = os.fsencode(cache.path(e.pointer.oid))
            dst = at(e)
            if last_use[e.pointer.oid] == e.path and os.stat(src).st_nlink == 1:
                os.rename(src, dst)
            else:
                copy_file(src, dst)
            os.chmod(dst, (0o777 if e.executable else 0o666) & ~umask())
        elif (e.size or 0) > BIG_BLOB:
            with _create(at(e), e.executable) as fd:
                ext.repo.write_blob(e.blob, fd)
        else:
            small.append(e)
    contents = dict(ext.repo.read_blobs(dict.fromkeys(e.blob for e in small + links)))
    for e in small:
        with _create(at(e), e.executable) as fd:
            view = memoryview(contents[e.blob])
            while view:
                view = view[os.write(fd, view) :]
    for e in links:
        written.files += 1
        os.symlink(contents[e.blob], at(e))


class _create:
    """A new file (never an existing name, never through a link), as a descriptor."""

    def __init__(self, path: bytes, executable: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        self.fd = os.open(path, flags, 0o777 if executable else 0o666)

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _place(target: bytes, dest: bytes, single: bool) -> None:
    """Give the finished file or tree its name; an existing one is never replaced."""
    if single:
        try:
            os.link(target, dest, follow_symlinks=False)
            return
        except FileExistsError:
            raise _exists(dest) from None
        except OSError:
            pass  # a file system without hard links: rename, below
    if os.path.lexists(dest):
        raise _exists(dest)
    os.rename(target, dest)


def _exists(dest: bytes) -> GitDataError:
    return GitDataError(
        f"{quote(dest)} already exists", "remove it, or name another destination with -o"
    )
