"""The kernel's copy between two open files, copy_file_range, in one loop for fsutil.py (whole
files) and the chunked reader (byte ranges at offsets, storage/chunked/plan.py), which may
import nothing of gitdata above storage/."""

from __future__ import annotations

import errno
import os

#: errors of the copy itself, not of the way it is done: another way would fail the same
COPY_FAILED = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def kernel_copy(fin: int, fout: int, n: int, offsets: tuple[int, int] | None = None) -> int:
    """Bytes copy_file_range copied, up to `n`, from the file descriptor `fin` into `fout`: at
    `offsets` (source, destination), else from both files' positions, which it advances. Fewer
    where the kernel stops short, 0 where copy_file_range does not work between the two; an
    error of the copy itself (COPY_FAILED) is raised."""
    done = 0
    try:
        while done < n and hasattr(os, "copy_file_range"):
            at = (offsets[0] + done, offsets[1] + done) if offsets else (None, None)
            k = os.copy_file_range(fin, fout, n - done, *at)
            if k == 0:
                break
            done += k
    except OSError as e:
        if e.errno in COPY_FAILED:
            raise
    return done
