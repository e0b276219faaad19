"""The local object cache: `<root>/<h[0:2]>/<h[2:4]>/<h>`, complete, verified and read-only.

Objects arrive through a temporary file in `<root>/tmp` (same file system) and are renamed into
place only once their bytes hash to their name, so a crash or a full disk never leaves a partial
object under a final name. An oid is checked to be 32 hex digits before it becomes a path.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Callable

from . import hashing
from .errors import GitDataError, IntegrityError
from .hashing import Reader
from .layout import iter_object_paths, object_path

READ_ONLY = 0o444


class Cache:
    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp_dir = os.path.join(root, "tmp")

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
    def temp_file(self) -> Iterator[tuple[str, BinaryIO]]:
        """A new temporary file beside the objects; removed unless the caller renamed it."""
        os.makedirs(self.tmp_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix="incoming-")
        try:
            with open(fd, "wb", buffering=0) as f:
                yield tmp, f  # type: ignore[misc]
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    @contextmanager
    def temp_path(self) -> Iterator[str]:
        """A fresh path in the temporary directory (not created); removed unless renamed."""
        os.makedirs(self.tmp_dir, exist_ok=True)
        tmp = os.path.join(self.tmp_dir, f"incoming-{uuid.uuid4().hex}")
        try:
            yield tmp
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def store_stream(
        self, src: Reader, head: bytes = b"", progress: Callable[[int], None] | None = None
    ) -> tuple[str, int]:
        """Copy `head` then `src` into the cache, hashing on the way; return (oid, size)."""
        with self.temp_file() as (tmp, f):
            try:
                h = hashing.hasher()
                h.update(head)
                f.write(head)
                oid, size = hashing.copy_and_hash(src, f, progress, h)
                size += len(head)
            except OSError as e:
                raise disk_error(e, self.root) from e
            self._commit(tmp, oid)
        return oid, size

    def adopt(self, tmp: str, oid: str, size: int | None = None) -> None:
        """Move the complete file `tmp` into place as `oid` after re-hashing it.

        Anything that does not hash to `oid` (and have `size`) is refused and removed.
        """
        got, got_size = hashing.hash_file(tmp)
        if got != oid or (size is not None and got_size != size):
            os.unlink(tmp)
            raise IntegrityError(
                f"bytes received for xxh128:{oid} hash to xxh128:{got} ({got_size} bytes)",
                "the store holds a corrupt copy; it was not used",
            )
        self._commit(tmp, oid)

    def _commit(self, tmp: str, oid: str) -> None:
        final = self.path(oid)
        os.chmod(tmp, READ_ONLY)
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

    def touch(self, oid: str) -> bool:
        """Mark `oid` as just used (gc's grace period counts from the mtime); False if absent."""
        try:
            os.utime(self.path(oid))
        except FileNotFoundError:
            return False
        except OSError:
            pass  # another user's object in a shared cache: present, if not touchable
        return True

    def remove_if_older(self, oid: str, cutoff: float) -> int | None:
        """Delete `oid` unless its mtime is `cutoff` or later; return the bytes freed, or None
        when it was kept (or already gone).

        The object is renamed aside before its mtime is read, and put back if it is young: a
        `git add` that wrote it again or touched it after gc planned the removal (see touch())
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


def disk_error(e: OSError, where: str) -> GitDataError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return GitDataError(
            f"no space left writing to {where}: {e.strerror}",
            "free some space (`git data gc` removes unneeded objects) and run the command again",
        )
    return GitDataError(f"cannot write to {where}: {e.strerror or e}", "check the permissions")
