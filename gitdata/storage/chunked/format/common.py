"""What every part of format 1 shares: constants and struct layouts, the errors, BLAKE3 and
zstd (imported on first use), and the FORMAT file (docs/chunked-store.md, sections 3.2-3.4)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Union

from ....errors import GitDataError, IntegrityError

Buffer = Union[bytes, bytearray, memoryview]

# The chunker of format 1 (section 2.2); written into FORMAT, identical in every clone.
CHUNK_AVG, CHUNK_MIN, CHUNK_MAX = 65536, 8192, 131072
CHUNK_NC, CHUNK_SEED = 1, 0
ID_SIZE = 32  # BLAKE3-256 of a chunk, pack or manifest
OID_SIZE = 16  # XXH3-128, the pointer's oid

ENC_RAW, ENC_ZSTD, ENC_DELTA = 0, 1, 2
ZSTD_LEVEL = 1

PACK_MAGIC = b"GDPACK\r\n"
PACK_END_MAGIC = b"GDPKEND\n"
PACK_VERSION = 1
PACK_MAX = 32 * 1024 * 1024  # a pack is one PUT, below S3Store's multipart threshold
PACK_HEADER = struct.Struct("<8sH6s16s")  # magic, version, zero, nonce
FRAME_HEADER = struct.Struct("<B3sII32s")  # encoding, zero, raw length, payload length, id
INDEX_ENTRY = struct.Struct("<32sQIIB7s")  # id, offset, frame length, raw length, encoding, zero
TRAILER = struct.Struct("<QI4s32sQ8s")  # index offset, count, zero, index hash, raw sum, magic
NONCE_SIZE = 16
#: the smallest frame: a header and a payload of one byte
FRAME_MIN = FRAME_HEADER.size + 1
#: how much of a pack's end a reader fetches first, to find its index (section 3.3)
TAIL_FETCH = 64 * 1024

MANIFEST_MAGIC = b"GDMANIF\n"
MANIFEST_VERSION = 1
MANIFEST_GC = 1  # header flag bit 0: written by gc (compaction)
MANIFEST_HEADER = struct.Struct("<8sHHIIIII")  # magic, version, flags, P, W, R, K, zero
RECORD_HEAD = struct.Struct("<16sQII")  # oid, size, term count, zero
TERM = struct.Struct("<IIQQQ")  # source, flags, offset, length, output
KEY_CHUNK = struct.Struct("<32sIIQ")  # chunk id, pack table index, zero, frame offset
TERM_WHOLE = 1 << 31  # source bit 31: index into the whole table
TERM_BASE_ONLY = 1  # term flag bit 0
U64_MAX = (1 << 64) - 1

FORMAT_KEY = "chunked/v1/FORMAT"
FORMAT_VERSION = 1
CHUNKER_LINE = (
    f"fastcdc2020 avg={CHUNK_AVG} min={CHUNK_MIN} max={CHUNK_MAX} nc={CHUNK_NC} seed={CHUNK_SEED}"
)
CHUNK_ID_LINE = "blake3-256"


class FormatError(IntegrityError):
    """Bytes of the chunked store break format 1: nothing from them may be used."""


class CorruptPack(FormatError):
    """A pack (its header, a frame, its index or trailer) breaks the format."""


class CorruptManifest(FormatError):
    """A manifest breaks the format, or does not hash to its name."""


class UnsupportedStore(GitDataError):
    """FORMAT is unreadable, or asks for a newer gitdata than this one."""


def missing_module(module: str, what: str) -> GitDataError:
    return GitDataError(f"{what} needs the Python package {module}", f"pip install {module}")


def blake3_hasher() -> Any:
    """A fresh BLAKE3-256 hasher (`update`, `digest`)."""
    try:
        from blake3 import blake3
    except ImportError as e:
        raise missing_module("blake3", "the chunked store") from e
    return blake3(max_threads=1)


def blake3_256(data: Buffer) -> bytes:
    h = blake3_hasher()
    h.update(data)
    return bytes(h.digest())


def zstd_module() -> Any:
    try:
        import zstandard
    except ImportError as e:
        raise missing_module("zstandard", "reading or writing compressed frames") from e
    return zstandard


def compress_bound(raw_length: int) -> int:
    """zstd's ZSTD_COMPRESSBOUND: the longest payload an encoded frame of this many bytes has."""
    small = ((128 << 10) - raw_length) >> 11 if raw_length < (128 << 10) else 0
    return raw_length + (raw_length >> 8) + small


# --- FORMAT ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFormat:
    """What `chunked/v1/FORMAT` says (section 3.2)."""

    format: int
    readers_need: int
    writers_need: int
    chunker: str
    chunk_id: str
    legacy_objects: bool

    def check_readable(self) -> None:
        if self.readers_need > FORMAT_VERSION or self.chunk_id != CHUNK_ID_LINE:
            raise UnsupportedStore(
                f"this store needs a newer gitdata to read its chunked files "
                f"(readers-need {self.readers_need}, chunk-id {self.chunk_id})",
                "upgrade gitdata",
            )

    def check_writable(self) -> None:
        """Writers must also cut alike, or clones would not dedup against each other."""
        self.check_readable()
        if self.writers_need > FORMAT_VERSION or self.chunker != CHUNKER_LINE:
            raise UnsupportedStore(
                f"this store needs a newer gitdata to push to it "
                f"(writers-need {self.writers_need}, chunker {self.chunker})",
                "upgrade gitdata",
            )


def format_text(legacy_objects: bool) -> bytes:
    """The FORMAT file this version writes: deterministic, so that two first writers agree."""
    return (
        "gitdata chunked store\n"
        f"format {FORMAT_VERSION}\n"
        f"readers-need {FORMAT_VERSION}\n"
        f"writers-need {FORMAT_VERSION}\n"
        f"chunker {CHUNKER_LINE}\n"
        f"chunk-id {CHUNK_ID_LINE}\n"
        f"legacy-objects {'yes' if legacy_objects else 'no'}\n"
    ).encode()


def parse_format(data: Buffer) -> StoreFormat:
    """Parse FORMAT: the first line, then `key value` lines; unknown keys are ignored."""

    def bad(why: str) -> UnsupportedStore:
        return UnsupportedStore(
            f"the store's {FORMAT_KEY} is unreadable: {why}",
            "it was written by another program or damaged; the chunked store is not used",
        )

    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise bad("not UTF-8") from None
    if not text.endswith("\n"):
        raise bad("the last line does not end with a newline")
    lines = text[:-1].split("\n")
    if lines[0] != "gitdata chunked store":
        raise bad("it does not begin with 'gitdata chunked store'")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(" ")
        if not sep or not key or not value:
            raise bad(f"line {line!r} is not 'key value'")
        if key in fields:
            raise bad(f"{key} is given twice")
        fields[key] = value
    for key in ("format", "readers-need", "writers-need", "chunker", "chunk-id", "legacy-objects"):
        if key not in fields:
            raise bad(f"no {key} line")
    nums = {}
    for key in ("format", "readers-need", "writers-need"):
        v = fields[key]
        if not (v.isascii() and v.isdigit() and len(v) <= 9 and v == str(int(v)) and int(v) > 0):
            raise bad(f"{key} {v!r} is not a positive number")
        nums[key] = int(v)
    if fields["legacy-objects"] not in ("yes", "no"):
        raise bad("legacy-objects is neither yes nor no")
    return StoreFormat(
        format=nums["format"],
        readers_need=nums["readers-need"],
        writers_need=nums["writers-need"],
        chunker=fields["chunker"],
        chunk_id=fields["chunk-id"],
        legacy_objects=fields["legacy-objects"] == "yes",
    )
