"""A store in S3 or an S3-compatible service (MinIO, Ceph RGW, R2, …), through boto3.

Keys follow the store layout of docs/formats.md under the URL's prefix:
`<prefix>/<h[0:2]>/<h[2:4]>/<h>`. S3 makes an object visible only when its PUT or
CompleteMultipartUpload succeeds, so a key is always a whole object. An object below
MULTIPART_THRESHOLD goes up in one PutObject and down in one GET, streamed from and to files; a
bigger one through boto3's managed transfer (s3transfer), in parts (s3_transfer.py). A multipart
upload that fails is aborted by s3transfer's failure cleanup (tested), an abort that fails is
reported (s3_client.py), and a bucket lifecycle rule catches what is left (docs/s3.md, "Safety").

This module is imported only when an s3:// store is opened (storage.open_store), so a process
that never talks to S3 never pays for boto3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from botocore import exceptions as bx

from ..errors import ConfigError, GitDataError, StoreError
from ..pointer import is_oid
from ..retry import RETRIES
from . import (
    Progress,
    StoredObject,
    StoreSpec,
    check_endpoint_url,
    key_for,
    parse_s3_url,
    s3_transfer,
)
from .s3_client import READ_TIMEOUT as READ_TIMEOUT
from .s3_client import READ_TIMEOUT_ENV as READ_TIMEOUT_ENV
from .s3_client import make_client
from .s3_errors import CREDENTIAL_CODES, StoreWide, Where, code_of, no_bucket, translate
from .s3_keys import LIST_PAGE, KeyCalls

#: Objects of at least this size go multipart (both ways), in parts of PART_SIZE, PART_WORKERS
#: parts of one object at a time. 16 MiB parts sit in the 8-16 MiB range AWS recommends and
#: keep 10,000 parts (S3's limit) above 150 GiB; s3transfer grows the part size beyond that.
MULTIPART_THRESHOLD = 32 << 20
PART_SIZE = 16 << 20
PART_WORKERS = 8
#: Parallel HEAD requests when asking which objects exist.
EXISTS_WORKERS = 16
#: Listing a shard `<prefix>/ab/` costs at least one request however few of our oids it holds,
#: a HEAD one request per oid: list only when the shards hold this many wanted oids on average.
LIST_MIN_PER_SHARD = 3
#: Before a check that would send more requests than this (more than one round of parallel
#: HEADs), one ListObjectsV2 of the whole prefix asks for as many keys as there are wanted oids,
#: at most PROBE_KEYS: a new or empty prefix (a first push) then costs that one request instead
#: of a HEAD per object or a listing of all 256 shards, and so does a prefix holding fewer
#: objects than that. Otherwise the one round trip is lost, next to the several the plan takes.
PROBE_MIN = EXISTS_WORKERS
PROBE_KEYS = LIST_PAGE

_T = TypeVar("_T")


class S3Store(KeyCalls):
    max_workers: int | None = None  # network round trips: data.transfers at once

    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        try:
            self.bucket, self.prefix = parse_s3_url(spec.url)
        except ValueError as e:
            raise ConfigError(
                f"store URL '{spec.url}' is not valid: {e}", "write s3://bucket[/prefix]"
            ) from e
        self.endpoint_url = spec.endpoint_url or None
        if self.endpoint_url:
            try:
                check_endpoint_url(self.endpoint_url)
            except ValueError as e:
                raise ConfigError(
                    f"store {spec.url}: endpoint_url '{_public(self.endpoint_url)}' is not "
                    f"valid: {e}",
                    "write the service's address, e.g. https://s3.example.com",
                ) from e
        self.where = Where(
            describe=self.describe(),
            bucket=self.bucket,
            remote=spec.name or "NAME",
            profile=spec.profile,
            endpoint=_public(self.endpoint_url) or None,
        )
        self.transfer_config = s3_transfer.Parts(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=PART_SIZE,
            max_concurrency=PART_WORKERS,
        )
        self._client: Any = None
        self._lock = threading.Lock()
        self._bucket_checked = False
        self._fatal: StoreWide | None = None

    # -- description ---------------------------------------------------------------------------

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{where} at {_public(self.endpoint_url)}" if self.endpoint_url else where

    def key(self, oid: str) -> str:
        if not is_oid(oid):
            raise ValueError(f"not an oid: {oid!r}")
        return f"{self.prefix}/{key_for(oid)}" if self.prefix else key_for(oid)

    def _root(self) -> str:
        """Every key of this store starts with this."""
        return f"{self.prefix}/" if self.prefix else ""

    # -- the client ------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """One boto3 client per store, made on first use (boto3 sessions are not thread-safe;
        clients are)."""
        with self._lock:
            if self._client is None:
                self._client = self._guard(lambda: make_client(self.spec, self.endpoint_url))
            return self._client

    def _guard(self, fn: Callable[[], _T], what: str | None = None) -> _T:
        """Run S3 calls; turn whatever boto3 raises into a StoreError for the user. After a
        store-wide failure (unreachable, no credentials, no bucket) every later call fails at
        once, instead of each of a thousand downloads finding it out the slow way."""
        fatal = self._fatal
        if fatal is not None:
            # a fresh exception per call: threads must not share (and re-raise) one traceback
            raise StoreWide(fatal.message, fatal.hint)
        try:
            return fn()
        except GitDataError as e:
            if isinstance(e, StoreWide):
                self._fatal = e
            raise
        except Exception as e:  # noqa: BLE001 - translate() knows every boto3 failure
            err = translate(e, self.where, what)
            if err is None:
                raise
            if isinstance(e, bx.ClientError) and code_of(e) == "403":
                err = self._why_403(err)
            if isinstance(err, StoreWide):
                self._fatal = err
            raise err from e

    def _why_403(self, err: StoreError) -> StoreError:
        """A HEAD's answer has no body, so its 403 does not say why. A service refuses the
        credentials it does not accept (an unknown access key id, a wrong secret) on every
        request, and says so: one small listing tells that from a missing permission."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._root(), MaxKeys=1)
        except bx.ClientError as e:
            if code_of(e) in CREDENTIAL_CODES:
                return translate(e, self.where) or err
        except bx.BotoCoreError:
            pass
        return err

    # -- the Store protocol ----------------------------------------------------------------------

    def exists_many(self, oids: Iterable[str]) -> set[str]:
        """Which of `oids` the store holds: parallel HEADs for a few, ListObjectsV2 over the
        `<prefix>/ab/` shards when there are several wanted oids per shard; for many, one
        listing of the whole prefix first, which answers alone when the prefix holds few
        objects or none."""
        want = set(oids)
        if not want:
            return set()
        shards: dict[str, set[str]] = {}
        for oid in want:
            self.key(oid)  # validates
            shards.setdefault(oid[:2], set()).add(oid)
        by_shard = len(want) >= LIST_MIN_PER_SHARD * len(shards)
        if (len(shards) if by_shard else len(want)) > PROBE_MIN:
            stored = self._probe(min(len(want), PROBE_KEYS))
            if stored is not None:
                return want & stored
        found: set[str] = set()
        if by_shard:
            # Hashes spread evenly, so one shard's page count tells every shard's: list the
            # fullest one and carry on listing only if that beats a HEAD per remaining oid.
            first = max(shards, key=lambda s: len(shards[s]))
            listed = self._list_shard(first, max_pages=len(want))
            if listed is not None:
                names, pages = listed
                found |= shards.pop(first) & names
                rest = sum(len(v) for v in shards.values())
                if pages * len(shards) <= rest:
                    with ThreadPoolExecutor(EXISTS_WORKERS) as pool:
                        listings = pool.map(lambda s: self._list_shard(s, None), shards)
                        for shard, listing in zip(shards, listings):
                            assert listing is not None
                            found |= shards[shard] & listing[0]
                    return found
        rest_oids = [oid for group in shards.values() for oid in group]
        with ThreadPoolExecutor(min(EXISTS_WORKERS, len(rest_oids))) as pool:
            for oid, present in zip(rest_oids, pool.map(self._head, rest_oids)):
                if present:
                    found.add(oid)
        if not found:
            self._check_bucket()  # a missing bucket answers 404 to every HEAD too
        return found

    def _head(self, oid: str) -> bool:
        return self._head_object(self.key(oid), f"xxh128:{oid}") is not None

    def _list_root(self, **kw: Any) -> dict[str, Any] | None:
        """One page of ListObjectsV2 over the store's prefix (`kw`: MaxKeys, Delimiter); None
        when the credentials may not list."""

        def run() -> Any:
            try:
                return self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._root(), **kw)
            except bx.ClientError as e:
                if code_of(e) in ("403", "AccessDenied"):
                    return None
                raise

        page = self._guard(run)
        if page is not None:
            self._bucket_checked = True  # a listing was answered: the bucket exists
        return page

    def _probe(self, max_keys: int) -> set[str] | None:
        """Every oid the store holds if the prefix holds at most `max_keys` keys (one request),
        else None. None too when the credentials may not list: the plan goes ahead then."""
        page = self._list_root(MaxKeys=max_keys)
        if page is None or page.get("IsTruncated"):
            return None
        root = self._root()
        stored = (self._oid_of(obj["Key"], root) for obj in page.get("Contents", ()))
        return {oid for oid in stored if oid is not None}

    def holds_whole_objects(self) -> bool:
        page = self._list_root(Delimiter="/")
        if page is None or page.get("IsTruncated"):
            return True  # may not list, or too much to tell: the safe answer
        root = self._root()
        shards = (p["Prefix"][len(root) :].rstrip("/") for p in page.get("CommonPrefixes", ()))
        return any(len(s) == 2 and all(c in "0123456789abcdef" for c in s) for s in shards)

    def _list_shard(self, shard: str, max_pages: int | None) -> tuple[set[str], int] | None:
        """Oids stored under `<prefix>/<shard>/` and the pages that took; None past max_pages."""
        root = self._root()
        names: set[str] = set()
        pages = 0
        for page in self._pages(f"{root}{shard}/"):
            pages += 1
            if max_pages is not None and pages > max_pages:
                return None
            for obj in page.get("Contents", ()):
                oid = self._oid_of(obj["Key"], root)
                if oid is not None:
                    names.add(oid)
        return names, pages

    def _oid_of(self, key: str, root: str) -> str | None:
        """The oid a listed key holds, or None for anything not in the store layout."""
        oid = key[len(root) :].rpartition("/")[2]
        return oid if is_oid(oid) and key == f"{root}{key_for(oid)}" else None

    def _check_bucket(self) -> None:
        """Raise if the bucket does not exist; once per store. A 403 here means only that the
        credentials may not ask (s3:ListBucket), which is no reason to stop."""
        if self._bucket_checked:
            return

        def run() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except bx.ClientError as e:
                if code_of(e) in ("404", "NoSuchBucket", "NotFound"):
                    raise no_bucket(self.where) from e
                if code_of(e) not in ("403", "AccessDenied"):
                    raise

        self._guard(run)
        self._bucket_checked = True

    def upload(self, oid: str, src: str, size: int, progress: Progress | None = None) -> None:
        """One PutObject, or a multipart upload from MULTIPART_THRESHOLD on (s3_transfer)."""
        key = self.key(oid)
        cfg = self.transfer_config
        self._guard(
            lambda: s3_transfer.upload(self.client, cfg, self.bucket, key, src, progress),
            f"xxh128:{oid}",
        )

    def download(
        self, oid: str, dest: str, progress: Progress | None = None, *, size: int | None = None
    ) -> None:
        """One GET, or ranged GETs from MULTIPART_THRESHOLD on (s3_transfer): with `size`
        known, without a request to learn it."""
        key = self.key(oid)
        cfg = self.transfer_config
        self._guard(
            lambda: s3_transfer.download(self.client, cfg, self.bucket, key, dest, size, progress),
            f"xxh128:{oid}",
        )

    def iter_objects(self) -> Iterator[StoredObject]:
        """Every whole object, page by page; each page retried on its own (store gc lists the
        whole store: a page cut mid-answer is asked for again, not the whole listing)."""
        root = self._root()
        for page in self._pages(root, RETRIES):
            for obj in page.get("Contents", ()):
                oid = self._oid_of(obj["Key"], root)
                if oid is not None:
                    yield StoredObject(oid, int(obj["Size"]), obj["LastModified"].timestamp())

    def delete_many(self, oids: Iterable[str]) -> dict[str, str]:
        """DeleteObjects, each batch retried on its own (deleting again is harmless)."""
        failed = self._delete([self.key(oid) for oid in oids], RETRIES)
        return {key.rpartition("/")[2]: err for key, err in failed.items()}


def _public(url: str | None) -> str:
    """An endpoint URL without any user:password@ in it."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=host).geturl()
