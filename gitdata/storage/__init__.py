"""Stores: where pushed bytes live. One narrow interface, one registry from URL to backend.

Every store uses the key layout `<root>/<h[0:2]>/<h[2:4]>/<h>` and makes an object visible under
its key only when it is complete. Backends are imported when a store of their kind is opened, so
that boto3 costs nothing to a process that never talks to S3. Never imports git/.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Callable, Protocol

from ..errors import ConfigError

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


class Store(Protocol):
    spec: StoreSpec

    def describe(self) -> str:
        """Where this store is, for messages: never a secret."""
        ...

    def exists_many(self, oids: Iterable[str]) -> set[str]:
        """The subset of `oids` the store holds."""
        ...

    def upload(self, oid: str, src: str, size: int, progress: Progress | None = None) -> None:
        """Store the complete, verified file `src` as `oid` (nothing visible until complete)."""
        ...

    def download(self, oid: str, dest: str, progress: Progress | None = None) -> None:
        """Write the object to the new file `dest`; the caller re-hashes it before use."""
        ...

    def iter_objects(self) -> Iterator[StoredObject]: ...

    def delete_many(self, oids: Iterable[str]) -> dict[str, str]:
        """Delete; return {oid: error} for the ones that could not be deleted."""
        ...


def key_for(oid: str) -> str:
    return f"{oid[0:2]}/{oid[2:4]}/{oid}"


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
