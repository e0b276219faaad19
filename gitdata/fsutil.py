"""File copies that stay in the kernel: a reflink where the file system has them (btrfs, XFS),
else copy_file_range (same file system, or any since Linux 5.19), else sendfile (across file
systems: ext4 to tmpfs answers copy_file_range with EXDEV); a loop through Python buffers only
where none of these exists."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

_FICLONE = 0x40049409  # linux/fs.h; fcntl.FICLONE only from Python 3.12


def copy_file(src: str | bytes, dst: str | bytes) -> None:
    """Copy src to the new file dst (truncated if it exists)."""
    with open(dst, "wb") as fout:
        copy_into(src, fout)


def copy_into(src: str | bytes, fout: BinaryIO) -> None:
    """Copy src into `fout`, an empty file open for writing (say, one made with O_EXCL).

    The first way that works between two file systems is remembered: copying 5,000 small
    objects must not try (and fail) a reflink and a copy_file_range before every sendfile."""
    from .storage.fileops import COPY_FAILED  # not at load: the hooks import this module

    with open(src, "rb") as fin:
        st = os.fstat(fin.fileno())
        pair = (st.st_dev, os.fstat(fout.fileno()).st_dev)
        for way in _WAYS[_FIRST_WAY.get(pair, 0) :]:
            try:
                if way(fin.fileno(), fout.fileno(), st.st_size):
                    _FIRST_WAY.setdefault(pair, _WAYS.index(way))
                    return
            except OSError as e:
                if e.errno in COPY_FAILED:
                    raise  # the copy itself failed; another way would fail the same
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
        shutil.copyfileobj(fin, fout, 1 << 20)
        _FIRST_WAY.setdefault(pair, len(_WAYS))


def _reflink(fin: int, fout: int, size: int) -> bool:
    if fcntl is None:
        return False
    fcntl.ioctl(fout, _FICLONE, fin)
    return True


def _copy_loop(copy: Callable[[int, int, int], int], fin: int, fout: int, size: int) -> bool:
    """Copy with `copy(fin, fout, count)` until `size` bytes went; False if it stopped short."""
    done = 0
    while done < size:
        n = copy(fin, fout, size - done)
        if n == 0:
            return False
        done += n
    return True


def _sendfile(fin: int, fout: int, count: int) -> int:
    return os.sendfile(fout, fin, None, min(count, 1 << 30))


def _copy_file_range(fin: int, fout: int, size: int) -> bool:
    from .storage.fileops import kernel_copy

    return kernel_copy(fin, fout, size) == size


def _sendfile_all(fin: int, fout: int, size: int) -> bool:
    return _copy_loop(_sendfile, fin, fout, size)


#: The ways to copy, best first; each answers True when it copied everything.
_WAYS: list[Callable[[int, int, int], bool]] = [
    _reflink,
    *([_copy_file_range] if hasattr(os, "copy_file_range") else []),
    *([_sendfile_all] if hasattr(os, "sendfile") else []),
]
#: (source device, destination device) -> index in _WAYS of the first way that worked there.
_FIRST_WAY: dict[tuple[int, int], int] = {}


def replace_file(path: str, data: bytes, mode: int = 0o666) -> None:
    """Write `data` to `path` atomically through a fresh temporary beside it (O_EXCL, so a
    symlink a repository committed at some fixed temporary name is never followed)."""
    d, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=d or ".", prefix=f".{name}.", suffix=".gitdata-tmp")
    try:
        with open(fd, "wb") as f:
            f.write(data)
            os.fchmod(fd, mode & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


_UMASK: int | None = None


def umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK
