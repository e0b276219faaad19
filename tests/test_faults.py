"""Faults injected into real git and git-data processes: a push killed with SIGKILL, a full disk
(a small tmpfs, or a file-size limit) during clean, fetch and checkout, two processes at once.
After each: one clear error line, no partial object under a final name in the cache or the store,
and the same command, retried once the fault is gone, completes."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest
import xxhash
from conftest import Env, random_file, write

from gitdata.layout import iter_object_paths


def verified(root: Path) -> list[str]:
    """The oids under `root`, each checked to hash to its name (SPEC: a file with a 32-hex name
    is always complete)."""
    oids = []
    for oid, path in iter_object_paths(str(root)):
        with open(path, "rb") as f:
            h = xxhash.xxh3_128()
            while chunk := f.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == oid, f"{path} does not hash to its name"
        oids.append(oid)
    return oids


def leftovers(root: Path) -> list[str]:
    """Temporaries still in `root/tmp` (harmless, but worth reporting)."""
    tmp = root / "tmp"
    return sorted(os.listdir(tmp)) if tmp.is_dir() else []


def fsize_limit(n: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    return limit


def errors(stderr: bytes) -> list[str]:
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    return [ln for ln in text.splitlines() if ln.startswith("git-data: error:")]


@pytest.fixture
def tmpfs(tmp_path: Path):
    """make(name, size) mounts a tmpfs of `size` at tmp_path/name; skips where mount is denied."""
    mounted: list[Path] = []

    def make(name: str, size: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(d)
        return d

    yield make
    for d in reversed(mounted):
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def ballast(d: Path, size: int) -> Path:
    """Fill `d` with a file of `size` bytes, to be deleted to free the space again."""
    return random_file(d / "ballast", size, seed=99)


def cached_oids(repo: Path) -> list[str]:
    return verified(repo / ".git" / "data" / "objects")


# --- a full disk --------------------------------------------------------------------------------


def test_full_disk_during_clean(env: Env, tmpfs):
    disk = tmpfs("disk", "24m")
    repo = env.new_repo()
    env.git("config", "data.cachedir", str(disk / "cache"), cwd=repo)
    big = random_file(repo / "big.bin", 12 << 20, seed=1)
    write(repo / "small.bin", b"small")
    room = ballast(disk, 16 << 20)
    proc = env.git("add", "-A", cwd=repo, check=False)
    assert proc.returncode != 0
    lines = errors(proc.stderr)
    assert len(lines) == 1 and "no space left writing to" in lines[0], proc.stderr.decode()
    assert str(disk / "cache") in lines[0]
    assert set(verified(disk / "cache")) <= {xxhash.xxh3_128_hexdigest(b"small")}
    assert leftovers(disk / "cache") == []
    room.unlink()
    env.commit_all(repo)
    assert xxhash.xxh3_128_hexdigest(big.read_bytes()) in verified(disk / "cache")


@pytest.mark.parametrize(
    "size, limit",
    [
        (3 << 20, (3 << 20) - 1000),  # the last write is cut short
        ((3 << 20) + 5, (1 << 20) + 100_000),  # a write in the middle is cut short
        (40_000, 30_000),  # small content, held in memory, written at once
        (20 << 20, 4 << 20),  # on a write boundary
    ],
)
def test_file_size_limit_during_clean(env: Env, size, limit):
    """A write that the limit cuts short (the kernel writes what fits and returns the count)
    must fail the clean, never leave a short object under the full content's name."""
    repo = env.new_repo()
    big = random_file(repo / "big.bin", size, seed=size)
    oid = xxhash.xxh3_128_hexdigest(big.read_bytes())
    proc = env.git("add", "big.bin", cwd=repo, check=False, preexec_fn=fsize_limit(limit))
    assert proc.returncode != 0, "git add succeeded past the file-size limit"
    lines = errors(proc.stderr)
    assert len(lines) == 1 and "no space left writing to" in lines[0], proc.stderr.decode()
    assert cached_oids(repo) == [] and leftovers(repo / ".git" / "data" / "objects") == []
    env.git("add", "big.bin", cwd=repo)
    assert cached_oids(repo) == [oid]
