"""git-lfs as found in a repository: its pointers, its objects, its `.gitattributes` lines
(https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from ..hashing import Reader

_POINTER = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\n"
    rb"(?:ext-[0-9]-\w+ [^\n]*\n)*"
    rb"oid sha256:([0-9a-f]{64})\nsize (0|[1-9][0-9]{0,19})\n"
)
_ATTR_SWAP = {"filter=lfs": "filter=data", "diff=lfs": "diff=data", "merge=lfs": "merge=data"}


@dataclass(frozen=True)
class LfsPointer:
    sha256: str
    size: int


def parse(data: bytes) -> LfsPointer | None:
    m = _POINTER.fullmatch(data)
    return LfsPointer(m.group(1).decode(), int(m.group(2))) if m else None


def object_path(common_dir: str, sha256: str) -> str:
    """Where git-lfs keeps an object: `.git/lfs/objects/ab/cd/abcd…`."""
    return os.path.join(common_dir, "lfs", "objects", sha256[:2], sha256[2:4], sha256)


def has_lfs_lines(text: bytes) -> bool:
    return any("filter=lfs" in line.split() for line in text.decode("utf-8", "replace").split("\n"))


def swap_line(line: str) -> str:
    """`*.bin filter=lfs diff=lfs merge=lfs -text` -> `*.bin filter=data diff=data merge=data
    -text`; any other line as it is."""
    parts = line.split()
    if "filter=lfs" not in parts[1:]:
        return line
    return " ".join([parts[0], *(_ATTR_SWAP.get(p, p) for p in parts[1:])])


class Sha256Reader:
    """A reader that also feeds SHA-256 with what passes through it."""

    def __init__(self, src: Reader) -> None:
        self.src = src
        self.sha = hashlib.sha256()

    def readinto(self, buf: bytearray | memoryview) -> int:
        n = self.src.readinto(buf) or 0
        if n:
            self.sha.update(memoryview(buf)[:n])
        return n
