"""Fixtures: real git in temporary repositories, with an isolated HOME and the gitdata under test
first on PATH (the `git-data` script next to the Python running the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = os.path.dirname(sys.executable)


def _git_data_dir() -> str:
    if os.path.exists(os.path.join(BIN, "git-data")):
        return BIN
    found = shutil.which("git-data")
    if not found:
        raise RuntimeError("git-data is not installed: run ./install.sh --test")
    return os.path.dirname(found)


class Env:
    """A sandbox: HOME, PATH and git identity for one test; helpers to run git and git-data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()

    def run(
        self,
        args: list[str],
        cwd: Path | str | None = None,
        check: bool = True,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        **kw,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            args, cwd=cwd or self.root, input=input, capture_output=True, env=full_env, **kw
        )
        if check and proc.returncode != 0:
            out, err = (s.decode(errors="replace") for s in (proc.stdout, proc.stderr))
            raise AssertionError(f"{args} failed ({proc.returncode})\nstdout: {out}\nstderr: {err}")
        return proc

    def git(
        self, *args: str, cwd: Path | str | None = None, **kw
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run(["git", *args], cwd=cwd, **kw)

    def out(self, *args: str, cwd: Path | str | None = None, **kw) -> str:
        return self.git(*args, cwd=cwd, **kw).stdout.decode()

    def data(
        self, *args: str, cwd: Path | str | None = None, **kw
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run(["git-data", *args], cwd=cwd, **kw)

    def new_repo(self, name: str = "project", track: str | None = "*.bin") -> Path:
        path = self.root / name
        self.git("init", "-q", str(path))
        if track:
            self.data("track", track, cwd=path)
        return path

    def bare(self, name: str = "project.git") -> Path:
        path = self.root / name
        self.git("init", "-q", "--bare", str(path))
        return path

    def commit_all(self, repo: Path, message: str = "data") -> None:
        self.git("add", "-A", cwd=repo)
        self.git("commit", "-q", "-m", message, cwd=repo)

    def head(self, repo: Path, ref: str = "HEAD") -> str:
        return self.out("rev-parse", ref, cwd=repo).strip()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    e = Env(tmp_path)
    monkeypatch.setenv("HOME", str(e.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(e.home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("PATH", _git_data_dir() + os.pathsep + os.environ["PATH"])
    for var in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_DATA_SKIP_SMUDGE",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    # store gc on a directory store waits FENCE_DELAY (120 s) before its fence: not in tests
    # (tests/test_store_gc_race.py sets its own limits; storage/chunked/runlog.py)
    monkeypatch.setenv("GIT_DATA_TEST_RUNLOG_TIMES", "fence=0.2")
    e.git("config", "--global", "init.defaultBranch", "main")
    e.git("config", "--global", "advice.detachedHead", "false")
    e.data("install")
    return e


@pytest.fixture
def other_fs(tmp_path: Path):
    """A fresh directory on another file system than the test's (/dev/shm), removed after the
    test: a directory store there gets packs, never hard links (docs/chunked-store.md, 4.1)."""
    import tempfile

    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no other file system at /dev/shm")
    d = Path(tempfile.mkdtemp(prefix="gitdata-test-", dir=shm))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """Incompressible, deterministic bytes, written in chunks (never the whole file in memory)."""
    import random

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


#: How long to wait after writing what a store gc run with `--grace 0` must find old. The fence
#: (docs/chunked-store.md, 6.3) counts a manifest within a second of gc's cutoff as written again,
#: and protects what it names: on a directory store (mtimes with fractions) a little over a
#: second is enough; S3's LastModified counts whole seconds, so there it takes two (1.1 s let a
#: gc started 1.9 s after the write keep what the test meant it to delete).
AGE_ON_DIRECTORY = 1.1
AGE_ON_S3 = 2.1


def age_for_gc(on_s3: bool) -> None:
    """Sleep until what the store holds now is old for a gc started afterwards."""
    import time

    time.sleep(AGE_ON_S3 if on_s3 else AGE_ON_DIRECTORY)


def same_file(a: Path, b: Path) -> bool:
    import filecmp

    return filecmp.cmp(a, b, shallow=False)


# S3: a real S3-API server (moto) on 127.0.0.1 reached over HTTP through boto3: the `s3` and
# `s3_server` fixtures live in s3_fixtures.py; importing them here makes them everyone's.
from s3_fixtures import S3, S3Server, s3, s3_server  # noqa: E402,F401
