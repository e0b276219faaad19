"""plan.copy_range, which the reader runs for each Copy: bytes of one file into another at
offsets, on one file system and across two (tmpfs when there is one), in the kernel or not."""

import os
import random

import pytest

from gitdata.storage.chunked.plan import copy_range


def _dirs(tmp_path):
    yield tmp_path
    if os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat(tmp_path).st_dev:
        yield "/dev/shm"


@pytest.mark.parametrize("other_fs", [False, True])
def test_copy_range_at_offsets(tmp_path, other_fs):
    dirs = list(_dirs(tmp_path))
    if other_fs and len(dirs) < 2:
        pytest.skip("no second file system")
    src = os.path.join(tmp_path, "src")
    data = random.Random(3).randbytes(3 << 20)
    with open(src, "wb") as f:
        f.write(data)
    dest = os.path.join(str(dirs[-1] if other_fs else tmp_path), f"dest-{os.getpid()}")
    try:
        out = bytearray(b"x" * (2 << 20))
        with open(dest, "wb") as f:
            f.write(out)
        copy_range(src, 1_000_001, dest, 70_000, 1_500_000)  # over its end: the file grows
        copy_range(src, 5, dest, 3, 10)
        out[70_000:1_570_000] = data[1_000_001:2_500_001]
        out[3:13] = data[5:15]
        with open(dest, "rb") as f:
            assert f.read() == bytes(out)
        copy_range(src, 0, dest + ".new", 0, 4096)  # a missing destination is made
        with open(dest + ".new", "rb") as f:
            assert f.read() == data[:4096]
        with pytest.raises(OSError, match="shorter"):
            copy_range(src, (3 << 20) - 10, dest, 0, 20)
    finally:
        for p in (dest, dest + ".new"):
            if os.path.exists(p):
                os.unlink(p)
