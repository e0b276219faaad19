"""Stores: where pushed bytes live. One narrow interface, one registry from URL to backend.

Every store keeps whole objects under `<root>/<h[0:2]>/<h[2:4]>/<h>` and, through the key-level
calls, the chunked store's objects under `<root>/chunked/v1/` (keys.py; docs/chunked-store.md,
3.1 and 8.1); it makes an object visible under its key only when it is complete. Backends are
imported when a store of their kind is opened, so that boto3 costs nothing to a process that
never talks to S3. Never imports git/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Callable, NamedTuple, Protocol

from ..errors import ConfigError
from ..pointer import is_oid

Progress = Callable[[int], None]


@dataclass(frozen=True)
class StoreSpec:
    """Everything needed to open a store; built by the services from Settings."""

    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    name: str = ""  # the data remote's name, for messages


@dataclass(frozen=True)
class StoredObject:
    oid: str
    size: int
    mtime: float  # seconds since the epoch: file mtime, S3 LastModified


class StoredKey(NamedTuple):
    """A key-level object: its key (relative to the store's root), size, and store time (S3
    LastModified, or file mtime: the store's clock, in seconds since the epoch)."""

    key: str
    size: int
    store_time: float


@dataclass(frozen=True)
class Staging:
    """A directory store's `<root>/tmp`, open as `fd`: a pack is written there (names relative
    to `fd`, so a link planted in the store is never followed), then moved under its key by
    `Store.put_staged` with a rename instead of a copy. The caller closes it, and raises
    `error(e)` for an OSError of its own writing there: the store's disk, not the cache's."""

    path: str  # for messages
    fd: int
    #: what an OSError writing there means for the user (the store is full, read-only, ...)
    error: Callable[[OSError], Exception]

    def close(self) -> None:
        os.close(self.fd)


class Store(Protocol):
    spec: StoreSpec
    #: The most objects worth moving at once with this store (None: `data.transfers`).
    max_workers: int | None

    def describe(self) -> str:
        """Where this store is, for messages: never a secret."""
        ...

    def exists_many(self, oids: Iterable[str]) -> set[str]:
        """The subset of `oids` the store holds."""
        ...

    def holds_whole_objects(self) -> bool:
        """Whether the store holds any whole object (docs/chunked-store.md, 3.2: one listing of
        the root's top level); True when it cannot tell, which is the safe answer."""
        ...

    def upload(self, oid: str, src: str, size: int, progress: Progress | None = None) -> None:
        """Store the complete, verified file `src` as `oid` (nothing visible until complete)."""
        ...

    def download(
        self, oid: str, dest: str, progress: Progress | None = None, *, size: int | None = None
    ) -> None:
        """Write the object to the new file `dest`; the caller re-hashes it before use.

        `size` is the object's size when the caller knows it (from its pointer), so that the
        store need not ask: the caller still checks it, since a pointer may be wrong.

        When writing `dest` fails for want of space (ENOSPC, EDQUOT, EFBIG), the OSError is
        raised as it is: the disk that is full is the caller's, not the store's."""
        ...

    def iter_objects(self) -> Iterator[StoredObject]: ...

    def delete_many(self, oids: Iterable[str]) -> dict[str, str]:
        """Delete; return {oid: error} for the ones that could not be deleted."""
        ...

    # Key-level calls, for the chunked store (docs/chunked-store.md, 8.1). A key is relative to
    # the root and lies under `chunked/v1/` (keys.py); any other is refused with a StoreError
    # before any I/O. Each call retries transient failures itself (retry.with_retries): callers
    # do not wrap them again.

    def put_file(self, key: str, path: str) -> None:
        """Store the file `path` as `key`, complete or not at all (S3: one PutObject; a
        directory: a temporary in `<root>/tmp`, renamed)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` as `key`, complete or not at all."""
        ...

    def link_file(self, key: str, path: str) -> None:
        """As put_file, but a directory store on the same file system hard-links `path` (which
        must then stay unchanged), as upload does with whole objects."""
        ...

    def staging(self) -> Staging | None:
        """Where to write a file that put_staged then moves under a key: a directory store's
        `<root>/tmp` (on the store's own file system), or None (S3: put_file uploads it)."""
        ...

    def put_staged(self, key: str, staging: Staging, name: str) -> None:
        """As put_file, for the file `name` of `staging`, which is moved (renamed) under `key`."""
        ...

    def remove_leftovers(self, before: float) -> int:
        """Remove what killed uploads left in the store and nothing names, last written before
        `before` (the store's clock): a directory store's temporaries in `<root>/tmp`. How many
        went. S3 keeps no such thing in the bucket (a lifecycle rule aborts unfinished multipart
        uploads: docs/s3.md): 0."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object (a small one: FORMAT, a manifest); ObjectMissing if absent."""
        ...

    def get_range(self, key: str, offset: int, length: int) -> BinaryIO:
        """A stream of bytes offset .. offset+length-1 of `key`, read in bounded memory. A range
        past the object's end is refused (by this call), never answered in part; an answer cut
        short is asked for again from where it broke."""
        ...

    def head(self, key: str) -> StoredKey | None:
        """The object under `key`, or None if there is none."""
        ...

    def list_keys(self, prefix: str) -> tuple[Iterator[StoredKey], float | None]:
        """(the keys under `prefix`, a directory of the layout, in key order; the store time of
        the listing, taken before it: S3's Date header, a directory store's probe file mtime).
        Listed names that are not keys of the layout are left out. The time is None only when
        the store does not tell it: a directory store that is read-only or does not exist yet
        (which lists nothing, as exists_many finds nothing), an S3 answer without Date."""
        ...

    def delete_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """Delete (all keys are checked first); return {key: error} for the ones that stay."""
        ...


def key_for(oid: str) -> str:
    """The key of `oid` in every store; an oid from outside never becomes any other key."""
    if not is_oid(oid):
        raise ValueError(f"not an oid: {oid!r}")
    return f"{oid[0:2]}/{oid[2:4]}/{oid}"


# botocore's own check (validate_bucket_name): looser than AWS's naming rules on purpose, since
# S3-compatible services (Ceph RGW, older MinIO) accept legacy names AWS no longer does.
_BUCKET_RE = re.compile(r"[A-Za-z0-9.\-_]{1,255}")


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix without surrounding slashes).

    Raises ValueError saying what is wrong. The prefix is taken literally (no %-decoding, as the
    AWS CLI does); empty, `.` and `..` segments and `?`/`#` are refused because they are almost
    always a typo and would scatter objects under keys nobody means.
    """
    if not url.startswith("s3://"):
        raise ValueError("it does not start with s3://")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError("it names no bucket")
    if not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(f"'{bucket}' is not a valid bucket name")
    prefix = prefix.strip("/")
    if any(c in prefix for c in "?#") or any(ord(c) < 0x20 for c in prefix):
        raise ValueError(f"the prefix '{prefix}' has characters that do not belong in a key")
    if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
        raise ValueError(f"the prefix '{prefix}' has an empty, '.' or '..' segment")
    return bucket, prefix


def check_endpoint_url(url: str) -> None:
    """Raise ValueError unless `url` is an http(s) URL with a host (boto3 fails later, and less
    clearly)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise ValueError("it is not an http(s) URL")


def open_store(spec: StoreSpec) -> Store:
    url = spec.url
    if url.startswith("s3://"):
        from .s3 import S3Store  # boto3 is imported only here

        return S3Store(spec)
    if url.startswith("file://") or url.startswith("/"):
        from .local import LocalStore

        return LocalStore(spec)
    raise ConfigError(
        f"unknown store URL '{url}'", "use s3://bucket[/prefix], /abs/path or file:///abs/path"
    )
