"""clean and smudge through real git: what lands in git, what comes back, what is refused."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
import xxhash
from conftest import Env, random_file, write

from gitdata.layout import iter_object_paths


def blob(env: Env, repo: Path, path: str, rev: str = "HEAD") -> bytes:
    return env.git("cat-file", "blob", f"{rev}:{path}", cwd=repo).stdout


def cache_root(repo: Path) -> Path:
    return repo / ".git" / "data" / "objects"


def test_blob_in_git_is_spec_pointer_with_xxhash_oid(env):
    repo = env.new_repo()
    data = os.urandom(100_000)
    write(repo / "a.bin", data)
    env.commit_all(repo)
    oid = xxhash.xxh3_128(data).hexdigest()
    assert (
        blob(env, repo, "a.bin") == f"version gitdata/1\noid xxh128:{oid}\nsize 100000\n".encode()
    )
    obj = cache_root(repo) / oid[:2] / oid[2:4] / oid
    assert obj.read_bytes() == data
    assert not os.stat(obj).st_mode & 0o222, "cached objects are read-only"


def test_pointer_passes_through_and_empty_file_stays_empty(env):
    repo = env.new_repo()
    ptr = b"version gitdata/1\noid xxh128:" + b"ab" * 16 + b"\nsize 12\n"
    write(repo / "ptr.bin", ptr)
    write(repo / "empty.bin", b"")
    env.commit_all(repo)
    assert blob(env, repo, "ptr.bin") == ptr
    assert blob(env, repo, "empty.bin") == b""
    assert list(iter_object_paths(str(cache_root(repo)))) == []


def test_hostile_pointer_lookalikes_are_ordinary_content(env):
    """A blob that looks like a pointer with a malformed oid is content, never a path."""
    repo = env.new_repo()
    victims = {
        "dots.bin": "../../x",
        "upper.bin": "AB" * 16,
        "short.bin": "a" * 31,
        "abs.bin": "/etc/passwd" + "0" * 21,
    }
    for name, oid in victims.items():
        write(repo / name, f"version gitdata/1\noid xxh128:{oid}\nsize 5\n".encode())
    env.commit_all(repo)
    for name, oid in victims.items():
        content = (repo / name).read_bytes()
        stored = blob(env, repo, name)
        assert stored != content and stored.startswith(b"version gitdata/1\noid xxh128:")
        assert oid.encode() not in stored
    # and back: a clone gets the lookalikes byte for byte
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    env.git("clone", "-q", str(bare), str(env.root / "clone"))
    for name in victims:
        assert (env.root / "clone" / name).read_bytes() == (repo / name).read_bytes()


def test_names_bytes_and_folders_kept_exactly(env):
    repo = env.new_repo(track="*")
    files = {
        "name with spaces.bin": b"spaces",
        "naïve-ünïcödé-数据.bin": b"unicode",
        "crlf.txt": b"line1\r\nline2\r\n\r\n",
        "nul.bin": b"\0\0\x01\0" * 1000,
        "a/b/c/d/e/nested.bin": os.urandom(5000),
        "lone-cr.txt": b"a\rb\r",
    }
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    for name in files:
        assert blob(env, repo, name).startswith(b"version gitdata/1\n"), name
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert env.out("status", "--porcelain", cwd=clone) == ""


def test_interrupted_clean_leaves_no_object_and_retry_works(env):
    repo = env.new_repo()
    big = random_file(repo / "big.bin", 20 << 20)
    oid = xxhash.xxh3_128(big.read_bytes()).hexdigest()

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    proc = env.git("add", "big.bin", cwd=repo, check=False, preexec_fn=limit)
    assert proc.returncode != 0
    assert b"git-data: error:" in proc.stderr and b"Traceback" not in proc.stderr
    assert list(iter_object_paths(str(cache_root(repo)))) == []
    env.git("add", "big.bin", cwd=repo)
    assert [o for o, _ in iter_object_paths(str(cache_root(repo)))] == [oid]


def test_killed_clean_leaves_no_object(env):
    repo = env.new_repo()
    env.commit_all(repo, "attributes")
    proc = subprocess.Popen(
        ["git-data", "clean", "x.bin"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(os.urandom(8 << 20))
    proc.stdin.flush()
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(iter_object_paths(str(cache_root(repo)))) == []
    # a retry through git works
    write(repo / "x.bin", os.urandom(1 << 20))
    env.commit_all(repo)
    assert len(list(iter_object_paths(str(cache_root(repo))))) == 1


def test_single_shot_clean_and_smudge(env):
    repo = env.new_repo()
    data = os.urandom(70_000)
    ptr = env.data("clean", "f.bin", cwd=repo, input=data).stdout
    assert ptr.startswith(b"version gitdata/1\n")
    assert env.data("smudge", "f.bin", cwd=repo, input=ptr).stdout == data
    assert env.data("smudge", "--skip", "f.bin", cwd=repo, input=ptr).stdout == ptr
    assert env.data("smudge", "f.bin", cwd=repo, input=b"plain").stdout == b"plain"
    assert env.data("pointer", str(repo / "f.bin"), cwd=repo, check=False).returncode == 1


def test_add_of_1gib_stays_under_100mib_rss(env):
    """Measure the filter process itself: a wrapper records its children's peak RSS."""
    repo = env.new_repo()
    random_file(repo / "huge.bin", 1 << 30, seed=7)
    report = env.root / "rss.txt"
    wrapper = env.root / "measure.py"
    wrapper.write_text(
        "import resource, subprocess, sys\n"
        "rc = subprocess.call(['git-data', 'filter-process'])\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        f"open({str(report)!r}, 'w').write(str(peak))\n"
        "sys.exit(rc)\n"
    )
    import sys

    t0 = time.monotonic()
    env.git("-c", f"filter.data.process={sys.executable} {wrapper}", "add", "huge.bin", cwd=repo)
    elapsed = time.monotonic() - t0
    peak_kib = int(report.read_text())
    print(f"git add of 1 GiB: {elapsed:.2f} s, filter peak RSS {peak_kib / 1024:.1f} MiB")
    assert peak_kib < 100 * 1024
    staged = env.git("cat-file", "blob", ":huge.bin", cwd=repo).stdout
    assert staged.endswith(b"size %d\n" % (1 << 30))


class _Ctx:
    def __init__(self, root: Path) -> None:
        from gitdata.cache import Cache
        from gitdata.statcache import StatCache

        self.cache = Cache(str(root / "objects"))
        self.stat_cache = StatCache(str(root / "stat"))


def test_unchanged_big_file_is_not_hashed_again(tmp_path, monkeypatch):
    """The stat cache: clean of a file whose stat data is unchanged drains instead of hashing."""
    from gitdata import filters, hashing

    ctx = _Ctx(tmp_path)
    f = random_file(tmp_path / "big.bin", 8 << 20)
    with open(f, "rb") as src:
        first = filters.clean(ctx, src, str(f))

    def no_hashing(*a, **k):
        raise AssertionError("hashed again")

    monkeypatch.setattr(hashing, "copy_and_hash", no_hashing)
    with open(f, "rb") as src:
        assert filters.clean(ctx, src, str(f)) == first
    # a change to the file (new ctime) is hashed again
    with open(f, "r+b") as g:
        g.seek(5 << 20)
        g.write(b"changed")
    with open(f, "rb") as src, pytest.raises(AssertionError, match="hashed again"):
        filters.clean(ctx, src, str(f))


def test_stat_cache_is_not_trusted_for_other_content(tmp_path):
    """Content given for a path that is not that file's (hash-object --path) is hashed."""
    from gitdata import filters

    ctx = _Ctx(tmp_path)
    f = random_file(tmp_path / "big.bin", 8 << 20, seed=1)
    other = random_file(tmp_path / "other.bin", 8 << 20, seed=2)
    with open(f, "rb") as src:
        mine = filters.clean(ctx, src, str(f))
    with open(other, "rb") as src:
        theirs = filters.clean(ctx, src, str(f))
    assert mine != theirs


def test_touched_file_is_hashed_but_not_written_again(tmp_path, monkeypatch):
    """Same inode and size, new timestamps: hash while draining, no new write into the cache."""
    from gitdata import filters
    from gitdata.cache import Cache

    ctx = _Ctx(tmp_path)
    f = random_file(tmp_path / "big.bin", 8 << 20, seed=4)
    with open(f, "rb") as src:
        first = filters.clean(ctx, src, str(f))
    os.utime(f)  # touch

    def no_writes(*a, **k):
        raise AssertionError("wrote again")

    monkeypatch.setattr(Cache, "store_stream", no_writes)
    with open(f, "rb") as src:
        assert filters.clean(ctx, src, str(f)) == first
    monkeypatch.undo()
    # an edit in place (same size, same inode) is found and stored
    with open(f, "r+b") as g:
        g.seek(4 << 20)
        g.write(b"\xff" * 4096)
    with open(f, "rb") as src:
        second = filters.clean(ctx, src, str(f))
    assert second != first
    assert xxhash.xxh3_128(f.read_bytes()).hexdigest().encode() in second
    with open(f, "rb") as src:  # and is now known exactly
        assert filters.clean(ctx, src, str(f)) == second


def test_broken_gitdata_toml_does_not_stop_git_add(env):
    repo = env.new_repo()
    (repo / ".gitdata.toml").write_text("this is = = not toml\n")
    write(repo / "a.bin", b"data")
    env.git("add", "a.bin", cwd=repo)
    (repo / "a.bin").unlink()
    proc = env.git("checkout", "--", "a.bin", cwd=repo, check=False)  # smudge needs the settings
    assert proc.returncode != 0
    assert b"git-data: error: .gitdata.toml: not valid TOML" in proc.stderr
