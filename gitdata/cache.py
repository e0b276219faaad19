"""The local object cache: `<root>/<h[0:2]>/<h[2:4]>/<h>`, complete, verified and read-only.

Objects arrive through a temporary file in `<root>/tmp` (same file system) and are renamed into
place only once their bytes hash to their name, so a crash or a full disk never leaves a partial
object under a final name. An oid is checked to be 32 hex digits before it becomes a path.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Callable

from . import hashing
from .errors import GitDataError, IntegrityError
from .hashing import Reader
from .layout import iter_object_paths, object_path

READ_ONLY = 0o444
#: files up to this size are re-hashed by adopt() in one read (the rebuild's threads adopt
#: many small files each: a copy buffer per thread would cost 1 MiB of memory each)
SMALL = 256 << 10


def cache_root(data_dir: str, base: str, cachedir: str | None) -> str:
    """docs/formats.md, "Local cache": `<data_dir>/objects`, or `git config data.cachedir` (a
    relative one is taken from `base`, the top of the work tree, or the git dir of a bare
    repository)."""
    if not cachedir:
        return os.path.join(data_dir, "objects")
    return os.path.normpath(os.path.join(base, os.path.expanduser(cachedir)))


class Cache:
    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp_dir = os.path.join(root, "tmp")
        self._tmp_ready = False

    def path(self, oid: str) -> str:
        return object_path(self.root, oid)

    def has(self, oid: str) -> bool:
        return os.path.isfile(self.path(oid))

    def size(self, oid: str) -> int | None:
        try:
            return os.stat(self.path(oid)).st_size
        except FileNotFoundError:
            return None

    def open(self, oid: str) -> io.BufferedReader:
        return open(self.path(oid), "rb")

    @contextmanager
    def temp_path(self) -> Iterator[str]:
        """A fresh path in the temporary directory (not created); removed unless renamed."""
        tmp = self._new_temp_name()
        try:
            yield tmp
        finally:
            _remove(tmp)

    def _new_temp_name(self) -> str:
        if not self._tmp_ready:
            os.makedirs(self.tmp_dir, exist_ok=True)
            self._tmp_ready = True
        return os.path.join(self.tmp_dir, f"incoming-{os.getpid()}-{os.urandom(8).hex()}")

    def store_stream(
        self, src: Reader, head: bytes = b"", progress: Callable[[int], None] | None = None
    ) -> tuple[str, int]:
        """Copy `head` then `src` into the cache, hashing on the way; return (oid, size).

        This is `git add`'s hot path, a few syscalls per file: the temporary is born read-only
        (our descriptor may still write it) and is renamed over any identical object.

        When the disk fills up, hashing goes on without writing: content the cache already has
        is still recognised, so `git status` or `git add` of an unchanged big file works where
        there is no room for a temporary copy of it. Anything new is a disk_error."""
        tmp = self._new_temp_name()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
            with open(fd, "wb", buffering=0) as f:
                out = _UntilFull(f)
                h = hashing.hasher()
                h.update(head)
                out.write(head)
                oid, size = hashing.copy_and_hash(src, out, progress, h)
            size += len(head)
            if out.full is not None:
                _remove(tmp)
                if self.size(oid) == size and self.freshen(oid):
                    return oid, size
                raise out.full
            self._move_into_place(tmp, oid)
        except BaseException as e:
            _remove(tmp)
            if isinstance(e, OSError):
                raise disk_error(e, self.root) from e
            raise
        return oid, size

    def store_bytes(self, data: bytes) -> str:
        """Store small content held in memory; nothing is written when it is already there
        (but the object is freshened)."""
        oid = hashing.hash_bytes(data)
        if not self.freshen(oid):
            self.store_stream(_EMPTY, data)
        return oid

    def freshen(self, oid: str) -> bool:
        """Give the object a new mtime, if it is there; say whether it is.

        An object that `git add` reuses instead of writing must look as new as one it writes:
        gc keeps unreferenced objects younger than its grace period, and the index that will
        name this one is not written yet (git freshens reused loose objects for the same
        reason, see freshen_loose_object)."""
        try:
            os.utime(self.path(oid))
        except FileNotFoundError:
            return False
        except OSError:
            pass  # not ours to touch (a shared cache): it is there all the same
        return True

    def adopt(self, tmp: str, oid: str, size: int | None = None) -> None:
        """Move the complete file `tmp` into place as `oid` after re-hashing it.

        Anything that does not hash to `oid` (and have `size`) is refused and removed. So is
        anything but a regular file: `tmp` is opened without following a symlink or waiting on
        a FIFO (a store may have linked one there), and made read-only through that descriptor.
        """
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as e:
            _remove(tmp)
            raise IntegrityError(
                f"what was received for xxh128:{oid} cannot be opened as a file: {e.strerror}",
                "the store holds something else than the object; it was not used",
            ) from e
        with open(fd, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                _remove(tmp)
                raise IntegrityError(
                    f"what was received for xxh128:{oid} is not a regular file",
                    "the store holds something else than the object; it was not used",
                )
            if size is not None and size <= SMALL:  # one read: no 1 MiB buffer per thread
                data = f.read(SMALL + 1)
                got, got_size = hashing.hash_bytes(data), len(data)
            else:
                got, got_size = hashing.copy_and_hash(f, None)
            if got != oid or (size is not None and got_size != size):
                _remove(tmp)
                raise IntegrityError(
                    f"bytes received for xxh128:{oid} hash to xxh128:{got} ({got_size} bytes)",
                    "the store holds a corrupt copy; it was not used",
                )
            os.fchmod(fd, READ_ONLY)
        self._move_into_place(tmp, oid)

    def _move_into_place(self, tmp: str, oid: str) -> None:
        if self.freshen(oid):
            # Already cached (a re-add): keep that copy. Renaming over an existing name costs
            # ext4 three times a new one, and the identical bytes gain nothing.
            _remove(tmp)
            return
        final = self.path(oid)
        try:
            os.rename(tmp, final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.rename(tmp, final)

    def iter_oids(self) -> Iterator[str]:
        """Every complete object (temporaries and stray names are skipped)."""
        for oid, _ in iter_object_paths(self.root):
            yield oid

    def iter_stat(self) -> Iterator[tuple[str, os.stat_result]]:
        """(oid, stat) of every complete object."""
        for oid, path in iter_object_paths(self.root):
            try:
                yield oid, os.stat(path)
            except FileNotFoundError:
                continue

    def remove(self, oid: str) -> None:
        try:
            os.unlink(self.path(oid))
        except FileNotFoundError:
            pass

    def remove_if_older(self, oid: str, cutoff: float) -> int | None:
        """Delete `oid` unless its mtime is `cutoff` or later; return the bytes freed, or None
        when it was kept (or already gone).

        The object is renamed aside before its mtime is read, and put back if it is young: a
        `git add` that wrote it again or touched it after gc planned the removal (see freshen())
        either did so before the rename, and is seen, or finds it absent and writes it anew.
        A plain stat-then-unlink would leave a moment in which neither side notices.
        """
        final = self.path(oid)
        aside = os.path.join(self.tmp_dir, f"gc-{oid}-{os.getpid()}")
        os.makedirs(self.tmp_dir, exist_ok=True)
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return None
        st = os.stat(aside)
        if st.st_mtime >= cutoff:
            os.rename(aside, final)
            return None
        os.unlink(aside)
        return st.st_size


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class _UntilFull:
    """Writes to `f` until the disk is full, then only counts: the caller keeps hashing."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.full: OSError | None = None

    def write(self, data: bytes | memoryview) -> int:
        if self.full is None:
            try:
                hashing.write_all(self.f, data)
            except OSError as e:
                if e.errno not in _DISK_FULL:
                    raise
                self.full = e
        return len(data)


class _Empty:
    def readinto(self, buf: bytearray | memoryview) -> int:
        return 0


_EMPTY = _Empty()


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def disk_error(e: OSError, where: str) -> GitDataError:
    if e.errno in _DISK_FULL:
        return GitDataError(
            f"no space left writing to {where}: {e.strerror}",
            "free some space (`git data gc` removes unneeded objects) and run the command again",
        )
    return GitDataError(f"cannot write to {where}: {e.strerror or e}", "check the permissions")
