"""The directories of a directory store, reached without following links (storage/local.py).

Every directory below the root is opened one name at a time, relative to its parent (openat
with O_NOFOLLOW), so that a link planted anywhere below the root is never followed: whatever a
store holds, gitdata reads and writes inside it. The root itself is taken as configured.

`<root>/tmp/` holds what is being written: a whole object or key (`incoming-*`), a pack of the
chunked store (`pack-*.tmp`, then `<pack id>.pack` until it is renamed under its key), and the
probe file that reads the store's clock (`probe-*`). A push that is killed leaves its
temporaries there; store gc removes those a day old (`remove_leftovers`), and nothing else.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import suppress

from . import StoredKey
from .keys import is_key

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

#: The names gitdata gives the files of `<root>/tmp/` (the module docstring).
_TEMPORARY = re.compile(
    r"(?:incoming|probe)-\d+-[0-9a-f]{16}|pack-\d+-[0-9a-f]{16}\.tmp|[0-9a-f]{64}\.pack"
)


def temp_name(kind: str) -> str:
    """A fresh name for a file of `<root>/tmp/`: `<kind>-<pid>-<random>`."""
    return f"{kind}-{os.getpid()}-{os.urandom(8).hex()}"


def open_dirs(root: str, names: list[str], create: bool = False) -> int:
    """The directory root/names[0]/names[1]/..., opened one name at a time, following no link;
    made on the way with `create`."""
    fd = os.open(root, DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        for name in names:
            try:
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with suppress(FileExistsError):  # made by another process meanwhile
                    os.mkdir(name, dir_fd=fd)
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def store_time(root: str) -> float:
    """The store's clock: the mtime of a probe file made and removed in `<root>/tmp` (on NFS
    the server sets it, not this client's clock). OSError when none can be made."""
    probe = temp_name("probe")
    tmp = open_dirs(root, ["tmp"], create=True)
    try:
        fd = os.open(probe, CREATE_FLAGS, 0o444, dir_fd=tmp)
        try:
            return os.fstat(fd).st_mtime
        finally:
            os.close(fd)
            os.unlink(probe, dir_fd=tmp)
    finally:
        os.close(tmp)


def scan(fd: int, prefix: str) -> Iterator[StoredKey]:
    """The keys in the open directory `fd` (closed at the end) and below it, by name."""
    try:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            key = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                try:
                    sub = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue  # removed (or replaced) since the listing
                yield from scan(sub, key + "/")
            elif entry.is_file(follow_symlinks=False) and is_key(key):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield StoredKey(key, st.st_size, st.st_mtime)
    finally:
        os.close(fd)


def remove_leftovers(root: str, before: float) -> int:
    """Remove the temporaries of `<root>/tmp/` last written before `before` (the store's
    clock): what a killed push or gc left. Only regular files with the names gitdata gives;
    anything else there stays. Returns how many went."""
    try:
        tmp = open_dirs(root, ["tmp"])
    except FileNotFoundError:
        return 0
    removed = 0
    try:
        for name in os.listdir(tmp):
            if not _TEMPORARY.fullmatch(name):
                continue
            try:
                st = os.stat(name, dir_fd=tmp, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                    os.unlink(name, dir_fd=tmp)
                    removed += 1
            except FileNotFoundError:
                continue  # renamed into place, or removed by another run, meanwhile
    finally:
        os.close(tmp)
    return removed
