"""The benchmark's data: deterministic, incompressible, generated once per run and copied into
every tool's worktree.

Bytes come from AES-256-CTR keyed by (seed, label) when `cryptography` is importable (about
6 GB/s), else from `random.Random(seed, label).randbytes` (about 0.3 GB/s). Either way the same
seed gives the same bytes on every run; the generator's name goes into the results.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
CHUNK = MiB


def _aes_stream(key: bytes) -> Iterator[bytes] | None:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        return None
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(CHUNK)

    def gen() -> Iterator[bytes]:
        while True:
            yield enc.update(zeros)

    return gen()


def generator_name() -> str:
    return "aes-256-ctr" if _aes_stream(bytes(32)) is not None else "mt19937-randbytes"


class Stream:
    """An endless deterministic stream of incompressible bytes, read in any sizes."""

    def __init__(self, seed: int, label: str) -> None:
        key = hashlib.sha256(f"gitdata-bench:{seed}:{label}".encode()).digest()
        aes = _aes_stream(key)
        if aes is None:
            rng = random.Random(key)

            def gen() -> Iterator[bytes]:
                while True:
                    yield rng.randbytes(CHUNK)

            aes = gen()
        self._chunks = aes
        self._buf = b""

    def read(self, n: int) -> bytes:
        if not self._buf and n == CHUNK:
            return next(self._chunks)  # the common case, without a copy
        parts = [self._buf]
        have = len(self._buf)
        while have < n:
            c = next(self._chunks)
            parts.append(c)
            have += len(c)
        data = b"".join(parts)
        self._buf = data[n:]
        return data[:n]


def new_hasher():  # type: ignore[no-untyped-def]
    """The checksum used to verify restored bytes (xxh3-128 when available: it is fast)."""
    try:
        import xxhash

        return xxhash.xxh3_128()
    except ImportError:
        return hashlib.blake2b()


def digest_file(path: Path) -> str:
    h = new_hasher()
    buf = bytearray(4 * MiB)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


@dataclass
class Dataset:
    """Files under `root` (relative paths -> checksum), to be copied into a worktree at `target`
    (a file or a directory name at the worktree's top)."""

    name: str
    root: Path
    target: str
    digests: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0

    @property
    def files(self) -> int:
        return len(self.digests)

    def copy_into(self, worktree: Path) -> None:
        src = self.root / self.target
        dst = worktree / self.target
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(src, dst)

    def verify(self, worktree: Path, digests: dict[str, str] | None = None) -> list[str]:
        """Paths whose bytes differ from the dataset's (or `digests`), or are missing."""
        bad = []
        for rel, want in (digests or self.digests).items():
            p = worktree / rel
            try:
                got = digest_file(p)
            except OSError:
                bad.append(f"{rel}: missing")
                continue
            if got != want:
                size = p.stat().st_size
                bad.append(f"{rel}: wrong bytes ({size} bytes on disk)")
        return bad


@dataclass
class BigFile(Dataset):
    """W1 (one big file) together with W3 (the same file, 1 MiB overwritten in the middle)."""

    patch: bytes = b""
    patch_offset: int = 0
    v2_digests: dict[str, str] = field(default_factory=dict)

    def apply_patch(self, worktree: Path) -> None:
        p = worktree / self.target
        os.chmod(p, 0o644)  # DVC leaves workspace copies read-only on some link types
        with open(p, "r+b") as f:
            f.seek(self.patch_offset)
            f.write(self.patch)


def make_big_file(root: Path, size: int, seed: int, patch_size: int = MiB) -> BigFile:
    if size % CHUNK or size < 2 * CHUNK:
        raise ValueError(f"W1 size must be a multiple of 1 MiB and at least 2 MiB, not {size}")
    d = root / "W1"
    d.mkdir(parents=True, exist_ok=True)
    patch = Stream(seed, "W3-patch").read(patch_size)
    offset = (size // 2) // CHUNK * CHUNK
    stream = Stream(seed, "W1")
    h1, h2 = new_hasher(), new_hasher()
    with open(d / "big.bin", "wb", buffering=0) as f:
        pos = 0
        while pos < size:
            chunk = stream.read(min(CHUNK, size - pos))
            f.write(chunk)
            h1.update(chunk)
            lo, hi = max(pos, offset), min(pos + len(chunk), offset + len(patch))
            if lo < hi:
                chunk = chunk[: lo - pos] + patch[lo - offset : hi - offset] + chunk[hi - pos :]
            h2.update(chunk)
            pos += len(chunk)
    return BigFile(
        name="W1",
        root=d,
        target="big.bin",
        digests={"big.bin": h1.hexdigest()},
        total_bytes=size,
        patch=patch,
        patch_offset=offset,
        v2_digests={"big.bin": h2.hexdigest()},
    )


def make_many_files(
    root: Path, name: str, target: str, files: int, dirs: int, size: int, seed: int
) -> Dataset:
    """`files` files of `size` bytes spread over `dirs` folders under `target`."""
    ds = Dataset(name=name, root=root / name, target=target)
    stream = Stream(seed, name)
    for i in range(files):
        rel = f"{target}/d{i % dirs:03d}/f{i:05d}.bin"
        p = ds.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = stream.read(size)
        p.write_bytes(data)
        h = new_hasher()
        h.update(data)
        ds.digests[rel] = h.hexdigest()
        ds.total_bytes += size
    return ds
