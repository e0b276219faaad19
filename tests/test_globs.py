from __future__ import annotations

import pytest

from gitdata.globs import PathFilter


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("*.bin", "a.bin", True),
        ("*.bin", "deep/dir/a.bin", True),
        ("*.bin", "a.bins", False),
        ("data/*.bin", "data/a.bin", True),
        ("data/*.bin", "data/sub/a.bin", False),
        ("data/*.bin", "x/data/a.bin", False),
        ("/data", "data/sub/a.bin", True),
        ("data", "x/data/a.bin", True),
        ("data/**/*.bin", "data/a/b/c.bin", True),
        ("data/**/*.bin", "data/c.bin", True),
        ("**/models", "a/models/m.pt", True),
        ("?.bin", "ab.bin", False),
        ("[ab].bin", "b.bin", True),
        ("[!ab].bin", "b.bin", False),
        ("name with space.bin", "dir/name with space.bin", True),
    ],
)
def test_include(pattern, path, expected):
    assert PathFilter([pattern]).match(path) is expected


def test_exclude_wins():
    f = PathFilter(["data"], ["*.tmp"])
    assert f.match("data/a.bin") and not f.match("data/a.tmp") and not f.match("other/a.bin")
    assert PathFilter().match("anything")
