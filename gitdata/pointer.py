"""The pointer: the few bytes Git stores in place of a data file (docs/formats.md, "Pointer").

Parsing is strict on purpose: a blob is a pointer only if it is exactly the canonical form, so
ordinary content that merely resembles one passes through untouched, and nothing from a blob can
become a path (the oid is 32 lowercase hex digits or the blob is not a pointer).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

#: Pointers, and a scan's Hits, are held per file by a push: with slots (dataclasses offer
#: them from Python 3.10) and one shared `algo` string, 30,000 files take 4.7 MiB less.
SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}

#: No pointer is longer than this; larger blobs are never read as candidates.
SIZE_CUTOFF = 1024

ALGO = "xxh128"
_HEADER = b"version gitdata/1\n"
_RE = re.compile(rb"version gitdata/1\noid (xxh128):([0-9a-f]{32})\nsize (0|[1-9][0-9]{0,19})\n")
_OID_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, **SLOTS)
class Pointer:
    oid: str  # 32 lowercase hex digits, no algorithm prefix
    size: int
    algo: str = ALGO

    def encode(self) -> bytes:
        return b"%soid %s:%s\nsize %d\n" % (
            _HEADER,
            self.algo.encode(),
            self.oid.encode(),
            self.size,
        )

    @property
    def ref(self) -> str:
        """The oid as written in pointers and `--json` output: `xxh128:<hex>`."""
        return f"{self.algo}:{self.oid}"


def parse(data: bytes | bytearray | memoryview) -> Pointer | None:
    """The Pointer that `data` is, or None when `data` is ordinary content."""
    if len(data) > SIZE_CUTOFF or not bytes(data[: len(_HEADER)]) == _HEADER:
        return None
    m = _RE.fullmatch(bytes(data))
    if m is None:
        return None
    return Pointer(oid=m.group(2).decode(), size=int(m.group(3)))  # the pattern allows only ALGO


def is_oid(text: str) -> bool:
    """True for a bare 32-hex oid; the check every oid from outside passes before use."""
    return _OID_RE.fullmatch(text) is not None


def parse_oid(text: str) -> str:
    """Accept `xxh128:<hex>` or `<hex>`; return the hex, or raise ValueError."""
    if text.startswith(ALGO + ":"):
        text = text[len(ALGO) + 1 :]
    if not is_oid(text):
        raise ValueError(f"not an oid: {text!r}")
    return text


#: The lengths a pointer can have (69 to 88 bytes): a file of any other size is not one, and a
#: scan of a worktree reads no other file.
LENGTHS = range(len(Pointer("0" * 32, 0).encode()), len(Pointer("0" * 32, 10**20 - 1).encode()) + 1)
