"""Writing one pack (docs/chunked-store.md, sections 3.3 and 4.5).

A PackWriter appends frames to a temporary file (`pack-<pid>-<random>.tmp`, read-only as every
stored object) in a directory the caller chooses: the cache's `tmp/` for S3, or a directory
store's `tmp/` (given open, as `dir_fd`: storage.Staging), so that storing the pack there is a
rename, not a copy. close() appends the index and trailer and renames the file to
`<pack id>.pack` in the same directory: nothing has a pack's name before it is complete. The
pack id, the BLAKE3-256 of the whole file, is hashed as the bytes are written, never re-read.

A pack never exceeds its limit (32 MiB, one PUT): `fits(frame_length)` says whether a frame
still goes in, counting its index entry and the trailer; the caller closes the pack before a
frame that does not fit and starts another. Memory: the index entries (a list, ~460 for a full
pack of 72 KiB chunks) and the file's write buffer.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Callable, NamedTuple

from .chunker import FrameEncoder
from .format.common import (
    CHUNK_MAX,
    ENC_DELTA,
    ENC_RAW,
    FRAME_HEADER,
    ID_SIZE,
    INDEX_ENTRY,
    NONCE_SIZE,
    PACK_HEADER,
    PACK_MAX,
    TRAILER,
    Buffer,
    blake3_256,
    blake3_hasher,
    compress_bound,
)
from .format.pack import IndexEntry, encode_frame, encode_pack_header, encode_pack_tail

WRITE_BUFFER = 1 << 20
#: the smallest limit that holds any one frame
MIN_LIMIT = (
    PACK_HEADER.size + FRAME_HEADER.size + ID_SIZE + compress_bound(CHUNK_MAX)
    + INDEX_ENTRY.size + TRAILER.size
)  # fmt: skip


class ClosedPack(NamedTuple):
    pid: bytes  # BLAKE3-256 of the file
    path: str  # <directory>/<pid hex>.pack (only the name counts when it is in a Staging)
    size: int
    entries: list[IndexEntry]  # in pack order


class PackFull(Exception):
    """add() of a frame that does not fit: the caller should have asked fits() (a bug)."""


class PackWriter:
    """One pack being written; use as a context manager, or call close() or abort(). With
    `dir_fd`, `directory` is that open directory's name, for messages: every file is made,
    renamed and removed relative to `dir_fd`. With `error`, an OSError of writing the pack is
    raised as `error(e)` (a directory store's tmp/: its disk is full, not the cache's)."""

    def __init__(
        self,
        directory: str,
        *,
        limit: int = PACK_MAX,
        nonce: bytes | None = None,
        dir_fd: int | None = None,
        error: Callable[[OSError], Exception] | None = None,
    ):
        if not MIN_LIMIT <= limit <= PACK_MAX:
            raise ValueError(f"a pack limit is between {MIN_LIMIT} and {PACK_MAX}")
        self.directory = directory
        self.dir_fd = dir_fd
        self.error = error
        self.limit = limit
        self.entries: list[IndexEntry] = []
        self._pos = 0
        self._hash = blake3_hasher()
        self._tmp = ""
        self._file: BinaryIO | None = None
        header = encode_pack_header(os.urandom(NONCE_SIZE) if nonce is None else nonce)
        if dir_fd is None:
            os.makedirs(directory, exist_ok=True)
        name = f"pack-{os.getpid()}-{os.urandom(8).hex()}.tmp"
        self._tmp = os.path.join(directory, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(self._at(self._tmp), flags, 0o444, dir_fd=dir_fd)
        except OSError as e:
            raise self._failed(e) from e
        self._file = open(fd, "wb", buffering=WRITE_BUFFER)  # closed by close() or abort()
        self._write(header)

    @property
    def temp_path(self) -> str:
        """Where the pack is being written (for tests and messages)."""
        return self._tmp

    @property
    def size(self) -> int:
        """The size of the file if it were closed now."""
        return self._pos + INDEX_ENTRY.size * len(self.entries) + TRAILER.size

    def fits(self, frame_length: int) -> bool:
        """Whether a frame of this many bytes (header, base id, payload) keeps the pack within
        its limit once its index entry and the trailer are counted."""
        return self.size + frame_length + INDEX_ENTRY.size <= self.limit

    def add(
        self,
        chunk_id: bytes,
        raw_length: int,
        encoding: int,
        payload: Buffer,
        base_id: bytes | None = None,
    ) -> IndexEntry:
        """Append the frame of one chunk, its payload already encoded; return its entry."""
        frame = encode_frame(chunk_id, raw_length, encoding, payload, base_id)
        if not self.fits(len(frame)):
            raise PackFull(f"a frame of {len(frame)} bytes does not fit in this pack")
        entry = IndexEntry(bytes(chunk_id), self._pos, len(frame), raw_length, encoding)
        self._write(frame)
        self.entries.append(entry)
        return entry

    def add_chunk(
        self, raw: Buffer, encoder: FrameEncoder | None = None, chunk_id: bytes | None = None
    ) -> IndexEntry:
        """Append the frame of the chunk `raw`, encoded by `encoder` (raw without one)."""
        encoding, payload = encoder.encode(raw) if encoder else (ENC_RAW, raw)
        cid = blake3_256(raw) if chunk_id is None else chunk_id
        if encoding == ENC_DELTA:
            raise ValueError("delta frames need a base: use add()")
        return self.add(cid, len(raw), encoding, payload)

    def close(self) -> ClosedPack:
        """Append the index and trailer, and give the file its final name."""
        if self._file is None:
            raise ValueError("this pack is already closed")
        try:
            self._write(encode_pack_tail(self.entries))
            self._file.close()
            self._file = None
            pid = bytes(self._hash.digest())
            final = os.path.join(self.directory, pid.hex() + ".pack")
            d = self.dir_fd
            os.replace(self._at(self._tmp), self._at(final), src_dir_fd=d, dst_dir_fd=d)
        except OSError as e:
            self.abort()
            raise self._failed(e) from e
        except BaseException:
            self.abort()
            raise
        return ClosedPack(pid, final, self._pos, list(self.entries))

    def abort(self) -> None:
        """Drop the pack: close and remove the temporary file. Harmless when already closed."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        try:
            os.unlink(self._at(self._tmp), dir_fd=self.dir_fd)
        except FileNotFoundError:
            pass

    def _at(self, path: str) -> str:
        """`path` as the os calls take it: its name alone when relative to dir_fd."""
        return os.path.basename(path) if self.dir_fd is not None else path

    def _failed(self, e: OSError) -> Exception:
        """What the error of writing the pack means (`error`: said of the store it is in)."""
        return self.error(e) if self.error is not None else e

    def _write(self, data: Buffer) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as e:
            raise self._failed(e) from e
        self._hash.update(data)
        self._pos += len(data)

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self.abort()
