"""Moving one object's bytes between a file and S3: the requests of S3Store.upload and
S3Store.download, without the error handling (S3Store's guard turns whatever these raise into a
StoreError).

An object below the multipart threshold goes up in one PutObject and down in one GET, streamed
from and to the file; a bigger one through boto3's managed transfer (s3transfer), in ranged
parts, PART_WORKERS of them at a time, its module imported only then: a clone's ranged GETs
never need it. s3transfer's own modules are imported only by an upload or a transfer in parts
(20 ms of every S3 process, before its first request). Imported only by storage/s3.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from . import Progress

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

#: Bytes read from a GET's body at a time.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Parts:
    """When an object travels in parts, how big and how many at once: what TransferConfig says,
    made into one only for a transfer in parts."""

    multipart_threshold: int
    multipart_chunksize: int
    max_concurrency: int

    def config(self) -> TransferConfig:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )


def upload(
    client: Any,
    config: Parts,
    bucket: str,
    key: str,
    src: str,
    progress: Progress | None,
) -> None:
    """One PutObject for an object below the multipart threshold (most objects), streamed from
    `src` with its length; a managed multipart upload for a bigger one. The file's own length
    decides (and is sent), not the size the caller knows: a wrong one must not cut an object
    short."""
    with open(src, "rb") as f:
        length = os.fstat(f.fileno()).st_size
        if length < config.multipart_threshold:
            _put(client, bucket, key, f, length, progress)
            return
    # One manager per object, as boto3's upload_file does: its threads upload this object's
    # parts, while transfer.py runs data.transfers objects at once.
    from boto3.s3.transfer import ProgressCallbackInvoker, create_transfer_manager

    subscribers = [ProgressCallbackInvoker(progress)] if progress else None
    with create_transfer_manager(client, config.config()) as manager:
        manager.upload(src, bucket, key, subscribers=subscribers).result()


def put_file(client: Any, bucket: str, key: str, src: str) -> None:
    """One PutObject of the file `src`, whatever its size (a pack of the chunked store: at most
    32 MiB and its index), streamed with its length."""
    with open(src, "rb") as f:
        _put(client, bucket, key, f, os.fstat(f.fileno()).st_size, None)


def _put(
    client: Any, bucket: str, key: str, f: BinaryIO, length: int, progress: Progress | None
) -> None:
    """PutObject from the calling thread: a transfer manager per object (its threads, futures
    and queues) cost at least 40 % more CPU (2,000 objects of 64 KiB). The body is s3transfer's
    ReadFileChunk: it reports bytes only while they are sent (s3_client switches it off while
    botocore reads the body to sign or checksum it) and takes them back when botocore rewinds
    it to retry, so retried bytes are not counted twice."""
    from s3transfer.utils import ReadFileChunk

    callbacks = [_bytes_sent(progress)] if progress else None
    body = ReadFileChunk(f, length, length, callbacks, enable_callbacks=False)
    # botocore sends len(body) as Content-Length (or, for an aws-chunked body with a trailing
    # checksum over HTTPS, as X-Amz-Decoded-Content-Length), as for s3transfer's PutObject
    client.put_object(Bucket=bucket, Key=key, Body=body)


def download(
    client: Any,
    config: Parts,
    bucket: str,
    key: str,
    dest: str,
    size: int | None,
    progress: Progress | None,
) -> None:
    """Ranged GETs in parts for an object whose known `size` (its pointer's) is at least the
    multipart threshold, without a request to learn the size first. Else one GET (most
    objects), its body streamed to `dest`; should it show the object to be that big after all,
    it is dropped unread and the parts are fetched."""
    if size is not None and size >= config.multipart_threshold:
        _download_parts(client, config, bucket, key, dest, size, progress)
        return
    resp = client.get_object(Bucket=bucket, Key=key)
    body = resp["Body"]
    length = int(resp["ContentLength"])
    if length < config.multipart_threshold:
        with body, open(dest, "wb") as f:
            for chunk in body.iter_chunks(CHUNK):
                f.write(chunk)
                if progress:
                    progress(len(chunk))
        return
    body.close()  # closes the connection: cheaper than reading what we fetch in parts
    _download_parts(client, config, bucket, key, dest, length, progress)


def _download_parts(
    client: Any,
    config: Parts,
    bucket: str,
    key: str,
    dest: str,
    size: int,
    progress: Progress | None,
) -> None:
    """s3transfer's ranged GETs; it writes `dest.<random>` and renames it to `dest` when
    complete. s3transfer 0.19 takes the size and ETag from the first part's answer when
    response checksums are validated only when required (S3-compatible stores), and otherwise
    sends a HEAD for the ETag it then requires of every part (IfMatch), whatever size it is
    told; the size spares that HEAD with older versions, which asked only for the size."""
    from boto3.s3.transfer import ProgressCallbackInvoker, create_transfer_manager

    subscribers: list[Any] = [_known_size(size)]
    if progress:
        subscribers.append(ProgressCallbackInvoker(progress))
    with create_transfer_manager(client, config.config()) as manager:
        manager.download(bucket, key, dest, subscribers=subscribers).result()


def _bytes_sent(progress: Progress) -> Callable[..., None]:
    """`progress` as a ReadFileChunk callback (called with bytes_transferred=N)."""

    def sent(bytes_transferred: int) -> None:
        progress(bytes_transferred)

    return sent


def _known_size(size: int) -> Any:
    """A subscriber that tells s3transfer an object's size, so that it need not send a HEAD
    to learn it."""
    from s3transfer.subscribers import BaseSubscriber

    class KnownSize(BaseSubscriber):
        def on_queued(self, future: Any, **kwargs: Any) -> None:
            future.meta.provide_transfer_size(size)

    return KnownSize()
