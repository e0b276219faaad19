"""DVC's objects into the gitdata cache: found in the work tree, DVC's cache or a DVC remote,
verified against their md5 while they are hashed with XXH3-128 (one read), then taken in by the
cache, which hashes them again: a hard link to DVC's file where it can (no second copy on disk),
else a copy.

Where DVC keeps an object named `<md5>` (`<md5>.dir` for a directory listing): DVC 3 under
`<root>/files/md5/<2>/<30>`, DVC 2 under `<root>/<2>/<30>`, for its cache and its remotes alike.
Both places are tried, the one the out's hash kind belongs to first.

DVC 2 hashed a text file (no NUL and at most 30% other bytes in its first 512) with every CRLF
read as LF, in 1 MiB reads, while its cache kept the bytes as they were: for such an out
(`legacy`) that md5 is accepted too, computed exactly that way.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..cache import Cache, disk_error
from ..errors import IntegrityError
from ..fsutil import copy_file
from ..hashing import Reader, copy_and_hash
from ..pointer import Pointer
from .dvc_files import DvcRemote

Progress = Optional[Callable[[int], None]]
_TEXT = bytes(range(32, 127)) + b"\n\r\t\f\b"
_DOS_CHUNK = 1 << 20  # dvc.utils.LOCAL_CHUNK_SIZE in DVC 2


def is_text_block(block: bytes) -> bool:
    """DVC 2's istextblock, on a file's first 512 bytes."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, _TEXT)) / len(block) <= 0.30


class Md5Reader:
    """Passes reads through, computing the md5 (and DVC 2's text md5 when asked) on the way."""

    def __init__(self, f: Reader, legacy: bool) -> None:
        self.f = f
        self.md5 = hashlib.md5()
        self.legacy = legacy
        self.text: hashlib._Hash | None = None
        self.head = b""
        self.pending = bytearray()

    def readinto(self, buf: bytearray | memoryview) -> int:
        n = self.f.readinto(buf) or 0
        chunk = memoryview(buf)[:n]
        self.md5.update(chunk)
        if self.legacy:
            if len(self.head) < 512:
                self.head += bytes(chunk[: 512 - len(self.head)])
            self.pending += chunk
            self._text_blocks(final=n == 0)
        return n

    def _text_blocks(self, final: bool) -> None:
        if self.text is None:
            if len(self.head) < 512 and not final:
                return
            if not is_text_block(self.head):
                self.legacy, self.pending = False, bytearray()
                return
            self.text = hashlib.md5()
        while len(self.pending) >= _DOS_CHUNK or (final and self.pending):
            block = bytes(self.pending[:_DOS_CHUNK])
            del self.pending[:_DOS_CHUNK]
            self.text.update(block.replace(b"\r\n", b"\n"))

    def matches(self, md5: str) -> bool:
        """Whether what was read has this md5 (call after the last read)."""
        if self.md5.hexdigest() == md5:
            return True
        if self.legacy:
            self._text_blocks(final=True)
            return self.text is not None and self.text.hexdigest() == md5
        return False


@dataclass
class Wanted:
    """One file to import: where it goes, and what DVC says its bytes are."""

    path: str  # top-relative
    md5: str
    legacy: bool
    executable: bool = False


@dataclass
class Found:
    pointers: dict[str, Pointer] = field(default_factory=dict)  # path -> pointer
    from_worktree: set[str] = field(default_factory=set)  # files already right in place
    modes: dict[str, int] = field(default_factory=dict)  # path -> 0o100644 or 0o100755
    missing: list[str] = field(default_factory=list)  # "path (md5)"
    modified: list[str] = field(default_factory=list)  # work-tree files DVC did not record


class Sources:
    """The places an object may be: DVC's cache, then the remote (a directory or S3)."""

    def __init__(self, cache: Cache, dvc_caches: list[str], remote: DvcRemote | None) -> None:
        self.cache = cache
        self.roots = list(dvc_caches)
        self.s3 = None
        self.remote = remote
        if remote is not None and "://" not in remote.url:
            self.roots.append(remote.url)
        elif remote is not None:
            from ..storage import StoreSpec
            from ..storage.s3_foreign import ForeignS3

            spec = StoreSpec(remote.url, remote.endpoint_url, remote.region, remote.profile)
            self.s3 = ForeignS3(spec)

    @staticmethod
    def keys(name: str, legacy: bool) -> list[str]:
        old, new = f"{name[:2]}/{name[2:]}", f"files/md5/{name[:2]}/{name[2:]}"
        return [old, new] if legacy else [new, old]

    def candidates(
        self, name: str, legacy: bool, download: bool = True
    ) -> Iterator[tuple[str, bool]]:
        """(a file that may hold the object, whether it may be linked: a file in DVC's cache
        or a directory remote; a download from S3 is a temporary, adopted as it is)."""
        for root in self.roots:
            for key in self.keys(name, legacy):
                yield os.path.join(root, key), True
        if self.s3 is not None and download:
            for key in self.keys(name, legacy):
                with self.cache.temp_path() as tmp:
                    if self.s3.fetch(key, tmp):
                        yield tmp, False

    def store(
        self,
        md5: str,
        legacy: bool,
        progress: Progress = None,
        known: Pointer | None = None,
        copy_from: str | None = None,
    ) -> Pointer | None:
        """Put the object `md5` into the cache from the first place that holds it with the
        right bytes; its pointer, or None when no place has it.

        `known`: the pointer of bytes already verified against `md5` (the work tree's file
        `copy_from`): a place that holds them is linked without being read for the md5 again,
        and with none, `copy_from` is copied. Every way in, the cache re-hashes what it takes."""
        if known is not None and self.cache.freshen(known.oid):
            return known
        # with the bytes in hand, a download would only be a second copy
        for path, linkable in self.candidates(md5, legacy, download=known is None):
            if known is not None:
                if os.path.isfile(path) and adopt(self.cache, path, known, linkable):
                    return known
                continue
            p = verify(path, md5, legacy, progress)
            if p is None:
                continue
            if self.cache.freshen(p.oid) or adopt(self.cache, path, p, linkable):
                return p
        if known is not None and copy_from is not None and adopt(self.cache, copy_from, known):
            return known
        return None

    def read_listing(self, md5: str, legacy: bool) -> list[dict[str, object]] | None:
        """A directory's listing (`<md5>.dir`), verified; None when no place has it."""
        for path, _temp in self.candidates(md5 + ".dir", legacy):
            try:
                with open(path, "rb") as f:
                    data = f.read(1 << 30)
            except OSError:
                continue
            if hashlib.md5(data).hexdigest() != md5:
                continue
            try:
                doc = json.loads(data)
            except ValueError:
                continue
            if isinstance(doc, list):
                return doc
        return None


def verify(path: str, md5: str, legacy: bool, progress: Progress = None) -> Pointer | None:
    """The pointer of the file `path` if its bytes have this md5 (one read; nothing is
    written); None when it is absent, unreadable or holds other bytes."""
    try:
        f = open(path, "rb", buffering=0)
    except OSError:
        return None
    with f:
        r = Md5Reader(f, legacy)
        oid, size = copy_and_hash(r, None, progress)
    return Pointer(oid, size) if r.matches(md5) else None


def adopt(cache: Cache, path: str, p: Pointer, link: bool = False) -> bool:
    """Make the file `path`, whose bytes are `p`'s, the cache's object: a hard link to it
    (with `link`, on the same file system: DVC's cache files never change in place, and the
    migration does not double the disk space they take), else a copy (in the kernel where it
    can); the cache re-hashes it before it takes it. False when `path` turns out to hold other
    bytes."""
    with cache.temp_path() as tmp:
        try:
            # only a file of ours: the cache makes what it takes read-only (a shared DVC cache
            # of another user's files is copied)
            if link and os.stat(path).st_uid == os.geteuid():
                os.link(path, tmp)
            else:
                link = False
        except OSError:
            link = False
        if not link:
            try:
                copy_file(path, tmp)
            except OSError as e:
                raise disk_error(e, cache.root) from e
        try:
            cache.adopt(tmp, p.oid, p.size)
        except IntegrityError:
            return False
    return True


def listing_entries(
    listing: list[dict[str, object]], out_path: str, legacy: bool
) -> list[Wanted] | None:
    """The files of a directory out, from its listing; None when the listing is not one."""
    found = []
    for e in listing:
        rel, md5 = e.get("relpath"), e.get("md5")
        if not isinstance(rel, str) or not isinstance(md5, str) or len(md5) != 32:
            return None
        norm = posixpath.normpath(rel)
        if norm != rel or rel.startswith(("/", "../")) or rel in (".", "..") or "\\" in rel:
            return None
        found.append(Wanted(f"{out_path}/{rel}", md5, legacy, bool(e.get("isexec"))))
    return found
