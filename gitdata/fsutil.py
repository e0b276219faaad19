"""File copies that stay in the kernel: a reflink where the file system has them (btrfs, XFS),
else copy_file_range/sendfile; never a loop through Python buffers for a plain copy."""

from __future__ import annotations

import os
import shutil
import tempfile
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
    """Copy src into `fout`, an empty file open for writing (say, one made with O_EXCL)."""
    with open(src, "rb") as fin:
        if fcntl is not None:
            try:
                fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
                return
            except OSError:
                pass
        size = os.fstat(fin.fileno()).st_size
        if hasattr(os, "copy_file_range"):
            try:
                done = 0
                while done < size:
                    n = os.copy_file_range(fin.fileno(), fout.fileno(), size - done)
                    if n == 0:
                        break
                    done += n
                if done == size:
                    return
            except OSError:
                pass
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
        shutil.copyfileobj(fin, fout, 1 << 20)


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
