"""A directory store's `tmp/`: packs are written there and renamed under their keys (no copy),
and store gc removes what killed pushes left there (storage/dirs.py, chunked/uploads.py)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from conftest import Env, write

from gitdata.errors import StoreError
from gitdata.storage import StoreSpec
from gitdata.storage.local import LocalStore

CHUNKED = "chunked/v1"
DAY = 86400


def dir_repo(env: Env, store: Path, name: str = "project") -> Path:
    repo = env.new_repo(name)
    write(repo / ".gitdata.toml", f'[remote.origin]\nurl = "{store}"\nchunked = true\n'.encode())
    return repo


def tmp_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_packs_go_into_a_store_on_another_file_system_by_a_rename_and_gc_clears_leftovers(
    env, other_fs
):
    store = other_fs / "store"
    bare = env.bare()
    a = dir_repo(env, store)
    env.git("remote", "add", "origin", str(bare), cwd=a)
    files = {f"d/{i:03d}.bin": os.urandom(48 << 10) for i in range(40)}
    for name, data in files.items():
        write(a / name, data)
    env.commit_all(a)
    # killed once its pack is closed: the pack lies in the store's tmp/, not in the cache's
    killed = env.git(
        "push", "-q", "-u", "origin", "main", cwd=a, check=False,
        env={"GIT_DATA_TEST_KILL": "pack-closed"},
    )  # fmt: skip
    assert killed.returncode != 0 and env.out("for-each-ref", cwd=bare) == ""
    left = tmp_files(store / "tmp")
    assert len(left) == 1 and left[0].endswith(".pack"), left
    assert not [n for n in tmp_files(a / ".git" / "data" / "tmp") if "pack" in n]
    env.git("push", "-q", "-u", "origin", "main", cwd=a)
    packs = sorted((store / CHUNKED / "packs").rglob("*.pack"))
    assert len(packs) == 1 and tmp_files(store / "tmp") == left  # the retry's pack went in
    assert stat.S_IMODE(packs[0].stat().st_mode) == 0o444  # read-only, as every stored object
    # store gc: a young leftover stays (a push may be writing it), a day-old one goes, and a
    # file gitdata does not name stays whatever its age
    write(store / "tmp" / "notes.txt", b"mine")
    out = env.data("gc", "--remote", "origin", "--yes", cwd=a).stderr.decode()
    assert tmp_files(store / "tmp") == sorted([*left, "notes.txt"]) and "temporary" not in out
    old = time.time() - 2 * DAY
    for name in tmp_files(store / "tmp"):
        os.utime(store / "tmp" / name, (old, old))
    out = env.data("gc", "--remote", "origin", "--yes", cwd=a).stderr.decode()
    assert "1 stale temporary file(s) removed" in out, out
    assert tmp_files(store / "tmp") == ["notes.txt"]
    # a second clone pushes into the same store; a fresh clone gets every byte of both
    b = env.root / "b"
    env.git("clone", "-q", str(bare), str(b))
    write(b / "e.bin", os.urandom(100_000))
    files["e.bin"] = (b / "e.bin").read_bytes()
    env.commit_all(b, "b")
    env.git("push", "-q", cwd=b)
    assert tmp_files(store / "tmp") == ["notes.txt"]
    fresh = env.root / "fresh"
    env.git("clone", "-q", str(bare), str(fresh))
    for name, data in files.items():
        assert (fresh / name).read_bytes() == data, name
    env.data("fsck", "--remote", "origin", cwd=fresh)


def test_remove_leftovers_takes_only_old_temporaries_of_gitdata(tmp_path: Path):
    root = tmp_path / "store"
    store = LocalStore(StoreSpec(str(root)))
    assert store.remove_leftovers(time.time()) == 0  # no store yet: nothing to do
    tmp = root / "tmp"
    names = {
        f"incoming-12-{'a' * 16}": True,
        f"probe-7-{'b' * 16}": True,
        f"pack-3-{'c' * 16}.tmp": True,
        f"{'d' * 64}.pack": True,
        "incoming-x": False,  # not a name gitdata gives
        "keep.txt": False,
    }
    old = time.time() - 2 * DAY
    for name in names:
        write(tmp / name, b"x")
        os.utime(tmp / name, (old, old))
    write(tmp / f"incoming-13-{'e' * 16}", b"young")  # being written
    (tmp / f"pack-4-{'f' * 16}.tmp").mkdir()  # not a regular file
    os.symlink(tmp / "keep.txt", tmp / f"incoming-14-{'0' * 16}")
    assert store.remove_leftovers(time.time() - DAY) == 4
    assert sorted(tmp_files(tmp)) == sorted(
        [n for n, gone in names.items() if not gone]
        + [f"incoming-13-{'e' * 16}", f"pack-4-{'f' * 16}.tmp", f"incoming-14-{'0' * 16}"]
    )


def test_staging_follows_no_link_planted_as_the_store_tmp(tmp_path: Path):
    root = tmp_path / "store"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "tmp")
    store = LocalStore(StoreSpec(str(root)))
    for call in (store.staging, lambda: store.remove_leftovers(time.time())):
        with pytest.raises(StoreError, match="not followed"):
            call()
    assert list(elsewhere.iterdir()) == []
