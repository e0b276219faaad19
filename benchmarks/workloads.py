"""The benchmark's data: deterministic, incompressible, generated once per run and copied into
every tool's worktree.

Bytes come from AES-256-CTR keyed by (seed, label) when `cryptography` is importable (about
6 GB/s), else from `random.Random(seed, label).randbytes` (about 0.3 GB/s). Either way the same
seed gives the same bytes on every run; the generator's name goes into the results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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


# --- issue 12's realistic edits (W5-W7), also used by chunk_params.py ---------------------------


def csv_rows(f: BinaryIO, size: int, seed: int, row: int) -> int:
    """Append about `size` bytes of sensor-log CSV rows (compressible text) to `f`, numbering
    from `row`; returns the next row number."""
    r = random.Random(seed)
    states = ["OK", "WARN", "FAIL", "OK", "OK", "IDLE"]
    written, buf = 0, []
    while written < size:
        line = (
            f"{1_700_000_000_000 + row * 250 + r.randrange(100)},sensor_{r.randrange(500):04d},"
            f"{r.gauss(21, 4):.3f},{r.gauss(1013, 8):.2f},{r.random() * 100:.1f},"
            f"{r.choice(states)},{r.randrange(100000)}\n"
        )
        buf.append(line)
        written += len(line)
        row += 1
        if len(buf) == 10000:
            f.write("".join(buf).encode())
            buf = []
    f.write("".join(buf).encode())
    return row


def sqlite_db(path: str, size: int, seed: int) -> int:
    """A SQLite database of at least `size` bytes (one table, Python's sqlite3, 4 KiB pages);
    returns its number of rows."""
    r = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, ts INTEGER, user TEXT, score REAL, note TEXT)"
    )
    letters = "abcdefghijklmnopqrstuvwxyz     "
    n = 0
    while os.path.getsize(path) < size:
        rows = [
            (
                n + i,
                1_700_000_000 + n + i,
                f"user_{r.randrange(100000)}",
                r.random() * 1000,
                "".join(r.choices(letters, k=r.randrange(80, 200))),
            )
            for i in range(20000)
        ]
        con.executemany("INSERT INTO t VALUES (?,?,?,?,?)", rows)
        con.commit()
        n += len(rows)
    con.close()
    return n


def sqlite_update(src: str, dst: str, rows: int, clustered: bool, seed: int) -> None:
    """`dst` = `src` with 1% of the rows UPDATEd (two numeric columns, so pages are rewritten
    in place): at random, or one run of consecutive ids."""
    shutil.copyfile(src, dst)
    r = random.Random(seed)
    k = rows // 100
    ids = range(r.randrange(rows - k), rows)[:k] if clustered else r.sample(range(rows), k)
    con = sqlite3.connect(dst)
    con.execute("PRAGMA journal_mode=OFF")
    con.executemany(
        "UPDATE t SET score=?, ts=? WHERE id=?",
        [(r.random() * 1000, r.randrange(1 << 40), i) for i in ids],
    )
    con.commit()
    con.close()


#: safetensors dtypes: name -> (numpy type name, bytes per element)
TENSOR_DTYPES = {"F16": ("float16", 2), "F32": ("float32", 4)}
TENSOR_SHAPES = [(2048, 2048), (2048, 512), (512, 2048), (2048,), (2048, 1376), (4000, 512)]


def _tensor_bytes(rng, shape: tuple[int, ...], dtype: str) -> bytes:  # type: ignore[no-untyped-def]
    import numpy as np

    data = rng.standard_normal(shape, dtype=np.float32) * 0.02
    return data.astype(TENSOR_DTYPES[dtype][0]).tobytes()  # type: ignore[no-any-return]


def safetensors(
    path: str, size: int, seed: int, dtype: str = "F16"
) -> list[tuple[int, tuple[int, ...]]]:
    """A safetensors-like file of about `size` bytes: 8-byte length, JSON header, N(0, 0.02)
    tensors of mixed shapes. Returns (file offset, shape) of each tensor. Needs numpy."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width = TENSOR_DTYPES[dtype][1]
    table: list[tuple[int, tuple[int, ...]]] = []
    total, i = 0, 0
    while total < size:
        s = TENSOR_SHAPES[i % len(TENSOR_SHAPES)]
        table.append((total, s))
        total += math.prod(s) * width
        i += 1
    header = json.dumps(
        {
            f"t{j}": {
                "dtype": dtype,
                "shape": list(s),
                "data_offsets": [o, o + math.prod(s) * width],
            }
            for j, (o, s) in enumerate(table)
        }
    ).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _, s in table:
            f.write(_tensor_bytes(rng, s, dtype))
    return [(8 + len(header) + o, s) for o, s in table]


def replace_tensors(
    src: str, dst: str, table: list[tuple[int, tuple[int, ...]]], seed: int, dtype: str = "F16"
) -> int:
    """`dst` = `src` with every tenth tensor (a random tenth of `table`) replaced in place by new
    values of the same shape; returns the bytes of the replaced tensors."""
    import numpy as np

    shutil.copyfile(src, dst)
    rng, r, changed = np.random.default_rng(seed), random.Random(seed), 0
    with open(dst, "r+b") as fh:
        for off, s in r.sample(table, max(1, len(table) // 10)):
            data = _tensor_bytes(rng, s, dtype)
            fh.seek(off)
            fh.write(data)
            changed += len(data)
    return changed


def changed_pages(a: str, b: str, page: int = 4096) -> int:
    """Bytes of `b` in `page`-sized blocks that differ from the block at the same offset of
    `a`, plus the difference in length: what an in-place writer of `page`-sized pages (SQLite)
    changed."""
    changed = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(256 * page), fb.read(256 * page)
            n = min(len(x), len(y)) // page * page
            changed += page * sum(x[i : i + page] != y[i : i + page] for i in range(0, n, page))
            if len(x) != len(y) or not x:
                break
    return changed + abs(os.path.getsize(a) - os.path.getsize(b))
