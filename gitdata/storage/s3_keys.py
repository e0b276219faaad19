"""The key-level calls of an S3 store (docs/chunked-store.md, 8.1), and the requests they share
with S3Store's whole-object calls: listing pages, DeleteObjects batches, HEAD.

A mixin of S3Store, which brings the client, the bucket and prefix, and `_guard`, which turns
whatever boto3 raises into a StoreError. Each key-level call retries transient failures itself
(retry.with_retries). Imported only by storage/s3.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, TypeVar

from botocore import exceptions as bx

from ..errors import ObjectMissing, StoreError
from ..retry import RETRIES, with_retries
from . import Staging, StoredKey, s3_transfer
from .keys import check_key, check_prefix, is_key
from .ranges import Source, open_range, past_end
from .s3_errors import code_of

#: ListObjectsV2 returns at most 1000 keys a page; DeleteObjects takes at most 1000 keys.
LIST_PAGE = 1000

_T = TypeVar("_T")


class KeyCalls:
    if TYPE_CHECKING:  # what S3Store brings
        bucket: str

        @property
        def client(self) -> Any: ...

        def describe(self) -> str: ...

        def _root(self) -> str: ...

        def _guard(self, fn: Callable[[], _T], what: str | None = None) -> _T: ...

        def _check_bucket(self) -> None: ...

    # -- shared with the whole-object calls --------------------------------------------------

    def _pages(self, prefix: str, retries: int = 0) -> Iterator[dict[str, Any]]:
        """The answers of a ListObjectsV2 of the full key prefix `prefix`, one request per page
        as they are wanted, each retried on its own up to `retries` times."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE}
        while True:
            page = with_retries(
                lambda: self._guard(lambda: self.client.list_objects_v2(**params)), retries
            )
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token or token == params.get("ContinuationToken"):
                raise StoreError(
                    f"store {self.describe()}: the listing of '{prefix}' never ends (the "
                    "service answered a page without a new continuation token)",
                    "the service does not implement ListObjectsV2 as S3 does; try again later",
                )
            params["ContinuationToken"] = token

    def _delete(self, keys: Iterable[str], retries: int = 0) -> dict[str, str]:
        """Delete the full keys `keys` with DeleteObjects, 1000 a request; {key: error} for
        the ones the service did not delete."""
        failed: dict[str, str] = {}
        batch = list(keys)
        for start in range(0, len(batch), LIST_PAGE):
            failed.update(self._delete_batch(batch[start : start + LIST_PAGE], retries))
        return failed

    def _delete_batch(self, keys: list[str], retries: int) -> dict[str, str]:
        delete = {"Objects": [{"Key": k} for k in keys], "Quiet": True}
        resp = with_retries(
            lambda: self._guard(
                lambda: self.client.delete_objects(Bucket=self.bucket, Delete=delete)
            ),
            retries,
        )
        return {
            err.get("Key", ""): f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
            for err in resp.get("Errors", ())
        }

    def _head_object(self, key: str, what: str) -> dict[str, Any] | None:
        """HeadObject's answer for the full key `key`, or None when there is no such object."""
        try:
            return self._guard(lambda: self.client.head_object(Bucket=self.bucket, Key=key), what)
        except ObjectMissing:
            return None

    # -- key-level calls -------------------------------------------------------------------

    def put_file(self, key: str, path: str) -> None:
        """One PutObject: S3 makes the object visible only once it is whole."""
        full = self._full(key)
        self._retrying(lambda: s3_transfer.put_file(self.client, self.bucket, full, path), key)

    def link_file(self, key: str, path: str) -> None:
        self.put_file(key, path)  # nothing to link to in a bucket

    def staging(self) -> None:
        return None  # packs are written in the cache and uploaded

    def put_staged(self, key: str, staging: Staging, name: str) -> None:
        raise ValueError("an S3 store has no staging directory")  # staging() said None

    def remove_leftovers(self, before: float) -> int:
        return 0  # unfinished multipart uploads: a lifecycle rule (docs/s3.md)

    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._full(key)
        self._retrying(lambda: self.client.put_object(Bucket=self.bucket, Key=full, Body=data), key)

    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)

        def run() -> bytes:
            # StreamingBody.read() raises IncompleteReadError on a body shorter than its
            # Content-Length: a cut answer is retried, never returned. A connection cut inside
            # the body can also reach here as urllib3's own error: retried the same way.
            from urllib3.exceptions import HTTPError as Urllib3Error

            try:
                with self.client.get_object(Bucket=self.bucket, Key=full)["Body"] as body:
                    data: bytes = body.read()
                    return data
            except Urllib3Error as e:
                raise bx.ResponseStreamingError(error=e) from e

        return self._retrying(run, key)

    def get_range(self, key: str, offset: int, length: int) -> BinaryIO:
        """Ranged GETs (one, and another for the rest whenever an answer breaks off)."""
        full = self._root() + check_key(key, whole=True)
        where = self.describe()

        def open_at(start: int, n: int) -> Any:
            end = start + n - 1
            try:
                resp = self.client.get_object(
                    Bucket=self.bucket, Key=full, Range=f"bytes={start}-{end}"
                )
            except bx.ClientError as e:
                if code_of(e) != "InvalidRange":  # 416: the range starts past the end
                    raise
                size = str(e.response.get("Error", {}).get("ActualObjectSize", ""))
                raise past_end(where, key, start, n, int(size) if size.isdigit() else None) from e
            sent = resp.get("ContentRange")
            if int(resp["ContentLength"]) == n and (
                sent == f"bytes {start}-{end}/{_total(sent)}" or (sent is None and start == 0)
            ):
                return resp["Body"]
            resp["Body"].close()
            total = _total(sent)
            if sent and sent.startswith(f"bytes {start}-") and total.isdigit():
                raise past_end(where, key, start, n, int(total))  # S3 answers what there is
            raise StoreError(
                f"store {where}: asked for bytes {start}-{end} of {key}, it answered "
                f"{sent or 'the whole object'}",
                "the service does not answer ranged GETs as S3 does; try again later",
            )

        source = Source(open_at, lambda fn: self._guard(fn, key), where, key)
        return open_range(source, offset, length)

    def head(self, key: str) -> StoredKey | None:
        full = self._full(key)
        resp = with_retries(lambda: self._head_object(full, key))
        if resp is None:
            self._check_bucket()  # a missing bucket answers 404 to a HEAD too
            return None
        return StoredKey(key, int(resp["ContentLength"]), resp["LastModified"].timestamp())

    def list_keys(self, prefix: str) -> tuple[Iterator[StoredKey], float | None]:
        """ListObjectsV2 of `prefix`, page by page; the store time is the Date of the first
        page's answer (so, at or before the listing)."""
        full = self._root() + check_prefix(prefix)
        pages = self._pages(full, RETRIES)
        first = next(pages)  # one request now: its Date is the time of the listing

        def keys() -> Iterator[StoredKey]:
            root = self._root()
            for page in itertools.chain([first], pages):
                for obj in page.get("Contents", ()):
                    key = str(obj.get("Key", ""))
                    if key.startswith(full) and is_key(key[len(root) :]):
                        mtime = obj["LastModified"].timestamp()
                        yield StoredKey(key[len(root) :], int(obj["Size"]), mtime)

        return keys(), _date_of(first)

    def delete_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """DeleteObjects (with Content-MD5, s3_client.py), 1000 keys a request."""
        root = self._root()
        full = [root + check_key(k) for k in keys]
        return {k[len(root) :]: e for k, e in self._delete(full, RETRIES).items()}

    def _full(self, key: str) -> str:
        return self._root() + check_key(key)

    def _retrying(self, fn: Callable[[], _T], key: str) -> _T:
        return with_retries(lambda: self._guard(fn, key))


def _total(content_range: str | None) -> str:
    """The total size in a Content-Range `bytes a-b/total`, as sent ("" if none)."""
    return (content_range or "").rpartition("/")[2]


def _date_of(resp: dict[str, Any]) -> float | None:
    """The answer's Date header in seconds since the epoch (HTTP dates are in GMT)."""
    date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp()
