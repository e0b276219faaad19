"""A store in a directory: a local disk, an NFS mount, or a bare repository's `data/objects`.

Uploads hard-link the cache's read-only object when both are on one file system (git does the
same for local clones), else copy in the kernel (copy_file_range/sendfile) into `<root>/tmp` and
rename. A link gets a fresh mtime, because store gc measures an object's age by it.

Objects are regular files. Anything else under an object's name (a symlink, a directory, a FIFO
that someone with write access planted) is refused by download, before it is linked or read.

Keys of the chunked store (`chunked/v1/...`, storage/keys.py) and `<root>/tmp/` are reached
from the root one directory at a time (openat with O_NOFOLLOW: storage/dirs.py), so a link
planted anywhere below the root is never followed: whatever a store holds, these calls read and
write inside it. Packs of the chunked store are written in `<root>/tmp/` and renamed under their
keys (staging, put_staged); store gc removes what killed pushes left there (remove_leftovers).
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO, Callable, TypeVar
from urllib.parse import unquote

from ..errors import GitDataError, ObjectMissing, StoreError
from ..fsutil import copy_file, copy_into
from ..layout import iter_object_paths, object_path
from . import Progress, Staging, StoredKey, StoredObject, StoreSpec
from .dirs import CREATE_FLAGS, open_dirs, remove_leftovers, scan, store_time, temp_name
from .keys import check_key, check_prefix
from .ranges import Source, open_range, past_end

_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)
_DEST_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: A link, or something else than a directory, where the walk from the root wants a directory.
_NOT_FOLLOWED = (errno.ELOOP, errno.ENOTDIR)
#: No probe file can be written: a read-only store (or mount), which can still be read.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
#: O_NONBLOCK: opening a FIFO planted under a key's name must not wait for a writer.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_T = TypeVar("_T")


class LocalStore:
    #: The work is in the kernel (a link, or a copy in sendfile) and per-object Python: past two
    #: threads they only contend for the GIL. Measured pushing 5,000 objects of 64 KiB to
    #: another file system: 1 thread 0.82 s, 2 threads 1.0 s, 8 threads 1.38 s; onto the same
    #: file system two threads did best (links wait on the journal).
    max_workers: int | None = 2

    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        url = spec.url
        self.root = unquote(url[len("file://") :]) if url.startswith("file://") else url
        self._dirs: set[str] = set()  # directories known to exist: a makedirs each, not per object
        self._can_link = True  # until a link fails for good (another file system): copy then

    def describe(self) -> str:
        return self.root

    def path(self, oid: str) -> str:
        return object_path(self.root, oid)

    def exists_many(self, oids: Iterable[str]) -> set[str]:
        return {oid for oid in oids if os.path.isfile(self.path(oid))}

    def upload(self, oid: str, src: str, size: int, progress: Progress | None = None) -> None:
        final = self.path(oid)
        try:
            self._ensure_dir(os.path.dirname(final))
            self._place(src, None, final)
        except OSError as e:
            raise self._error(e, "write to") from e
        if progress:
            progress(size)

    def _ensure_dir(self, path: str) -> None:
        if path not in self._dirs:
            os.makedirs(path, exist_ok=True)
            self._dirs.add(path)

    def _place(self, src: str, dir_fd: int | None, name: str) -> None:
        """Hard-link `src` as `name` (in the directory `dir_fd`, or a path), else copy it in."""
        linked = False
        if self._can_link:
            try:
                os.link(src, name, dst_dir_fd=dir_fd)
                linked = True
            except FileExistsError:
                linked = True  # there already: wanted again
            except OSError as e:
                if e.errno not in _NO_LINK:
                    raise
                self._can_link = False  # another file system, or no links here
        if not linked:
            self._write_in(dir_fd, name, lambda f: copy_into(src, f))
        # new here, or wanted again: store gc measures age by mtime, and a gc running now
        # must not take it
        os.utime(name, dir_fd=dir_fd, follow_symlinks=False)

    def _write_in(self, dir_fd: int | None, name: str, write: Callable[[BinaryIO], object]) -> None:
        """Write a read-only temporary in `<root>/tmp` with `write`, then rename it to `name`:
        nothing is visible under `name` until it is complete."""
        tmp_dir = self._open_dirs(["tmp"], create=True)
        tmp = temp_name("incoming")
        try:
            with open(os.open(tmp, CREATE_FLAGS, 0o444, dir_fd=tmp_dir), "wb") as f:
                write(f)
            os.rename(tmp, name, src_dir_fd=tmp_dir, dst_dir_fd=dir_fd)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=tmp_dir)
            os.close(tmp_dir)

    def download(
        self, oid: str, dest: str, progress: Progress | None = None, *, size: int | None = None
    ) -> None:
        src = self.path(oid)  # `size` is not needed: a link or a copy takes the file's own
        what = f"xxh128:{oid}"
        try:
            if not stat.S_ISREG(os.lstat(src).st_mode):
                # os.link() would link a symlink itself, and reading a FIFO never ends
                raise self._not_regular(what)
            try:
                os.link(src, dest)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    raise
                if e.errno not in _NO_LINK:
                    raise
                copy_file(src, dest)
        except OSError as e:
            if e.errno in _DEST_FULL:
                raise  # writing `dest` failed: the caller's disk is full, not the store
            raise self._read_error(e, what) from e
        if progress:
            progress(os.path.getsize(dest))

    def holds_whole_objects(self) -> bool:
        return next(iter_object_paths(self.root), None) is not None

    def iter_objects(self) -> Iterator[StoredObject]:
        for oid, path in iter_object_paths(self.root):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            yield StoredObject(oid, st.st_size, st.st_mtime)

    def delete_many(self, oids: Iterable[str]) -> dict[str, str]:
        return self._delete_each(oids, lambda oid: os.unlink(self.path(oid)))

    def _delete_each(self, names: Iterable[str], unlink: Callable[[str], None]) -> dict[str, str]:
        """Delete each name with `unlink`; {name: error} for the ones that stay."""
        failed = {}
        for name in names:
            try:
                unlink(name)
            except FileNotFoundError:
                pass
            except OSError as e:
                failed[name] = e.strerror or str(e)
        return failed

    # -- key-level calls (docs/chunked-store.md, 8.1) -----------------------------------------

    def put_file(self, key: str, path: str) -> None:
        self._write_key(key, lambda fd, n: self._write_in(fd, n, lambda f: copy_into(path, f)))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write_key(key, lambda fd, name: self._write_in(fd, name, lambda f: f.write(data)))

    def link_file(self, key: str, path: str) -> None:
        self._write_key(key, lambda fd, name: self._place(path, fd, name))

    def staging(self) -> Staging:
        """`<root>/tmp`, open: a pack written there goes in by a rename (put_staged)."""
        try:
            self._ensure_dir(self.root)
            fd = self._open_dirs(["tmp"], create=True)
            return Staging(os.path.join(self.root, "tmp"), fd, lambda e: self._error(e, "write to"))
        except OSError as e:
            raise self._error(e, "write to", "tmp/") from e

    def put_staged(self, key: str, staging: Staging, name: str) -> None:
        def move(fd: int, final: str) -> None:
            os.rename(name, final, src_dir_fd=staging.fd, dst_dir_fd=fd)

        self._write_key(key, move)

    def remove_leftovers(self, before: float) -> int:
        try:
            return remove_leftovers(self.root, before)
        except OSError as e:
            raise self._error(e, "clean up the temporary files of", "tmp/") from e

    def get_bytes(self, key: str) -> bytes:
        def run() -> bytes:
            with self._open_key(key) as f:
                return f.readall()

        return self._reading(run, key)

    def get_range(self, key: str, offset: int, length: int) -> BinaryIO:
        check_key(key, whole=True)

        def open_at(start: int, n: int) -> io.FileIO:
            f = self._open_key(key, whole=True)
            size = os.fstat(f.fileno()).st_size
            if start + n > size:
                f.close()
                raise past_end(self.root, key, start, n, size)
            f.seek(start)
            return f

        source = Source(open_at, lambda fn: self._reading(fn, key), self.root, key)
        return open_range(source, offset, length)

    def head(self, key: str) -> StoredKey | None:
        def run() -> StoredKey | None:
            try:
                with self._key_dir(key) as (fd, name):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None  # a store that does not exist yet holds nothing, as exists_many
            if not stat.S_ISREG(st.st_mode):
                raise self._not_regular(key)
            return StoredKey(key, st.st_size, st.st_mtime)

        return self._reading(run, check_key(key))

    def list_keys(self, prefix: str) -> tuple[Iterator[StoredKey], float | None]:
        """The keys under `prefix`, in order, and the store's time before the listing: the
        mtime of a probe file (None when no probe can be written: a read-only store, or one
        that does not exist yet, which holds nothing)."""
        check_prefix(prefix)
        return self._walk(prefix), self._reading(self._store_time, "tmp/")

    def delete_keys(self, keys: Iterable[str]) -> dict[str, str]:
        return self._delete_each([check_key(k) for k in keys], self._unlink_key)

    def _unlink_key(self, key: str) -> None:
        with self._key_dir(key) as (fd, name):
            os.unlink(name, dir_fd=fd)

    def _write_key(self, key: str, put: Callable[[int, str], None]) -> None:
        check_key(key)
        try:
            self._ensure_dir(self.root)
            with self._key_dir(key, create=True) as (fd, name):
                put(fd, name)
        except OSError as e:
            raise self._error(e, "write to", key) from e

    def _open_key(self, key: str, whole: bool = False) -> io.FileIO:
        """The key's file, open for reading; a regular file, reached through no link."""
        with self._key_dir(key, whole=whole) as (fd, name):
            f = io.FileIO(os.open(name, _READ, dir_fd=fd), "r")
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            f.close()
            raise self._not_regular(key)
        return f

    @contextmanager
    def _key_dir(
        self, key: str, create: bool = False, whole: bool = False
    ) -> Iterator[tuple[int, str]]:
        """(the open directory holding `key`, the key's last name)."""
        *dirs, name = check_key(key, whole=whole).split("/")
        fd = self._open_dirs(dirs, create)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def _open_dirs(self, names: list[str], create: bool = False) -> int:
        return open_dirs(self.root, names, create)

    def _store_time(self) -> float | None:
        if not os.path.isdir(self.root):
            return None  # a read does not make the store
        try:
            return store_time(self.root)
        except OSError as e:
            if e.errno in _READ_ONLY:
                return None
            raise

    def _walk(self, prefix: str) -> Iterator[StoredKey]:
        try:
            try:
                fd = self._open_dirs(prefix.rstrip("/").split("/"))
            except FileNotFoundError:
                return
            yield from scan(fd, prefix)
        except OSError as e:
            raise self._read_error(e, prefix) from e

    def _reading(self, fn: Callable[[], _T], what: str) -> _T:
        try:
            return fn()
        except OSError as e:
            raise self._read_error(e, what) from e

    def _error(self, e: OSError, verb: str, what: str | None = None) -> GitDataError:
        """What a failed read or write (of `what`, an object or key) means."""
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreError(f"store {self.root} is full", "free space there and retry")
        if what is not None and e.errno in _NOT_FOLLOWED:
            return StoreError(
                f"store {self.root}: a link, or a file where a directory belongs, stands at or "
                f"above {what}; it was not followed",
                "remove it from the store: gitdata follows no link below a store's root",
            )
        return StoreError(
            f"cannot {verb} store {self.root}: {e.strerror or e}",
            "check that the directory exists and is writable",
        )

    def _read_error(self, e: OSError, what: str) -> GitDataError:
        if isinstance(e, FileNotFoundError):
            if not os.path.isdir(self.root):
                return ObjectMissing(
                    f"store {self.root} does not exist",
                    "check the data remote's url (`git data env`)",
                )
            return ObjectMissing(f"store {self.root} does not have {what}")
        return self._error(e, "read from", what)

    def _not_regular(self, what: str) -> StoreError:
        return StoreError(
            f"store {self.root}: {what} is not a regular file; it was not used",
            "remove it from the store and push the object again from a clone that has it",
        )
