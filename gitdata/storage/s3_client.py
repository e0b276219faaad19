"""The client of an S3 store: its configuration, and the handlers gitdata hooks into botocore's
events: refusing answers cut short inside their headers, progress of a PutObject, no `Expect:
100-continue` on small PutObjects, Content-MD5 on DeleteObjects, reporting a multipart upload
that could not be aborted. The client is botocore's own, made as boto3 makes it (the same
credential chain, profiles and configuration) without what boto3 adds to it, resources and
transfer methods gitdata does not use: that import and set-up cost each process ~50 ms.

Imported only by storage/s3.py, so only once an s3:// store is opened.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from typing import Any

from botocore import exceptions as bx
from botocore.config import Config
from botocore.httpchecksum import AwsChunkedWrapper
from botocore.session import Session
from botocore.utils import determine_content_length

from ..errors import ConfigError
from ..output import warn
from . import StoreSpec

#: Connections kept per client: transfer.py runs data.transfers (default 8) objects at once,
#: each with up to s3.PART_WORKERS parts; fewer would make urllib3 drop and reopen connections.
MAX_POOL = 64
#: A dead endpoint fails in about CONNECT_TIMEOUT x attempts (botocore's standard mode: 3), not
#: the 60 s botocore waits by default. READ_TIMEOUT stays long: a slow part is not a dead server.
#: GIT_DATA_S3_READ_TIMEOUT (seconds) overrides it: longer for a very slow link, shorter for
#: tests that stall the server on purpose.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
READ_TIMEOUT_ENV = "GIT_DATA_S3_READ_TIMEOUT"


def make_client(spec: StoreSpec, endpoint_url: str | None) -> Any:
    """A client for `spec` (endpoint_url: the checked spec.endpoint_url, or None for AWS)."""
    session = Session(profile=spec.profile)
    options: dict[str, Any] = {}
    md5_only = False
    if endpoint_url:
        # S3-compatible services: bucket in the path (virtual hosts need DNS the service
        # rarely has), and checksums only where the API requires them, since boto3 1.36's
        # default CRC headers are refused by many of them (MinIO before 2025, Ceph, B2).
        # Every download is re-hashed anyway. AWS_REQUEST_CHECKSUM_CALCULATION still wins.
        options["s3"] = {"addressing_style": "path"}
        if not os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
            options["request_checksum_calculation"] = "when_required"
            md5_only = True
        if not os.environ.get("AWS_RESPONSE_CHECKSUM_VALIDATION"):
            options["response_checksum_validation"] = "when_required"
    mode = os.environ.get("AWS_RETRY_MODE", "")
    config = Config(
        retries={"mode": mode if mode in ("standard", "adaptive") else "standard"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=_read_timeout(),
        max_pool_connections=MAX_POOL,
        user_agent_extra="gitdata",
        **options,
    )
    client = session.create_client(
        "s3", endpoint_url=endpoint_url, region_name=spec.region, config=config
    )
    events = client.meta.events
    events.register("after-call.s3", _refuse_cut_answer)
    # A PutObject's body (s3_transfer._put) reports progress only while it is sent, not while
    # botocore reads it to sign or checksum it: the handlers, under the ids, that a transfer
    # manager registers for its own uploads (registering them again is then a no-op).
    # (s3transfer's own handlers, which importing s3transfer would cost every S3 process 20 ms)
    events.register_first(
        "request-created.s3", _not_transferring, unique_id="s3upload-not-transferring"
    )
    events.register_last("request-created.s3", _transferring, unique_id="s3upload-transferring")
    # botocore asks for `Expect: 100-continue` on every PutObject with a file body: one more
    # round trip before the body goes, doubling the latency of a small object. Only a big body
    # is worth holding back until the server says it will take it.
    # (botocore's handler is on "before-call.s3", which runs after "before-call.s3.PutObject")
    events.register_last("before-call.s3", _expect_only_big)
    # DeleteObjects must carry a checksum, and since boto3 1.36 botocore sends a CRC32 where it
    # sent Content-MD5, which several services still demand (MissingContentMD5): send both, or
    # with an S3-compatible service in the default "when_required" mode, MD5 alone, as before.
    events.register("before-call.s3.DeleteObjects", _content_md5_only if md5_only else _content_md5)
    # s3transfer aborts a failed multipart upload and only logs (at debug level) an abort that
    # fails: say so, since the upload's parts stay in the bucket, billed.
    events.register("before-parameter-build.s3.AbortMultipartUpload", _note_upload)
    events.register("after-call.s3.AbortMultipartUpload", _abort_answered)
    events.register("after-call-error.s3.AbortMultipartUpload", _abort_failed)
    return client


def _not_transferring(request: Any, operation_name: str, **kwargs: Any) -> None:
    """As s3transfer.utils.signal_not_transferring: the body stops counting what is read."""
    body = _upload_body(request, operation_name)
    if hasattr(body, "signal_not_transferring"):
        body.signal_not_transferring()


def _transferring(request: Any, operation_name: str, **kwargs: Any) -> None:
    """As s3transfer.utils.signal_transferring: the body counts what is read again (sent)."""
    body = _upload_body(request, operation_name)
    if hasattr(body, "signal_transferring"):
        body.signal_transferring()


def _upload_body(request: Any, operation_name: str) -> Any:
    """The file body of an upload (under HTTPS's trailing checksum, inside its wrapper)."""
    if operation_name not in ("PutObject", "UploadPart"):
        return None
    body = getattr(request, "body", None)
    return getattr(body, "_raw", None) if isinstance(body, AwsChunkedWrapper) else body


#: A PutObject body at least this big still waits for `100 Continue` (a refusal, a redirect
#: to another region, costs no upload); below, the round trip costs more than it saves.
EXPECT_MIN = 8 << 20


def _expect_only_big(model: Any, params: Any, **kwargs: Any) -> None:
    if model.name != "PutObject":
        return
    length = determine_content_length(params.get("body"))
    if length is not None and length < EXPECT_MIN:
        params["headers"].pop("Expect", None)


# -- Content-MD5 ---------------------------------------------------------------------------------


def _content_md5(params: Any, **kwargs: Any) -> None:
    """Content-MD5 over the request's body (DeleteObjects': a few KiB of XML, in memory)."""
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    params["headers"]["Content-MD5"] = base64.b64encode(digest).decode("ascii")


def _content_md5_only(params: Any, **kwargs: Any) -> None:
    """Content-MD5, and no flexible checksum (botocore's checksum context says which one it
    is about to add; without one, as before botocore 1.36, there is nothing to take out)."""
    _content_md5(params)
    checksum = params.get("context", {}).get("checksum", {})
    checksum.pop("request_algorithm", None)
    checksum.pop("request_algorithm_header", None)


# -- failed aborts -----------------------------------------------------------------------------

_ABORT = "gitdata_abort"  # where _note_upload keeps the upload in the call's context


def _note_upload(params: Any, context: Any, **kwargs: Any) -> None:
    context[_ABORT] = (params.get("Bucket"), params.get("Key"), params.get("UploadId"))


def _abort_answered(http_response: Any, parsed: Any, context: Any, **kwargs: Any) -> None:
    """After botocore's last attempt: a refusal, unless the upload is already gone."""
    if http_response.status_code < 300:
        return
    code = str(parsed.get("Error", {}).get("Code") or http_response.status_code)
    if code not in ("NoSuchUpload", "404"):
        _report_abort(context, code)


def _abort_failed(exception: BaseException, context: Any, **kwargs: Any) -> None:
    """After botocore's last attempt: no answer (a connection that failed or broke)."""
    _report_abort(context, type(exception).__name__)


def _report_abort(context: Any, cause: str) -> None:
    """One warning line; the error that made s3transfer abort is raised as it is."""
    bucket, key, upload_id = context.get(_ABORT, ("?", "?", "?"))
    command = shlex.join(
        ["aws", "s3api", "abort-multipart-upload", "--bucket", bucket, "--key", key]
        + ["--upload-id", upload_id]
    )
    warn(
        f"multipart upload {upload_id} of s3://{bucket}/{key} failed and could not be aborted "
        f"({cause}): its parts stay in the bucket, billed, until the bucket's lifecycle rule "
        f'for incomplete multipart uploads removes them (docs/s3.md, "Safety"), or: {command}'
    )


#: What a successful answer must carry for gitdata or s3transfer to use it.
_REQUIRED_FIELDS = {
    "GetObject": ("ContentLength",),
    "CreateMultipartUpload": ("UploadId",),
    "UploadPart": ("ETag",),
}


def _refuse_cut_answer(http_response: Any, parsed: Any, model: Any, **kwargs: Any) -> None:
    """Refuse a 2xx answer that a connection cut inside its headers may have produced.

    http.client takes end-of-file as the end of the headers, so such an answer looks whole:
    without Content-Length or chunked encoding its body runs to the end of the connection,
    i.e. is empty. Unchecked, a cut GetObject crashed gitdata (KeyError), a cut ranged GET hung
    s3transfer 0.19 for ever (its first-chunk callback raised KeyError and never finished the
    transfer), a cut CreateMultipartUpload crashed s3transfer, and a cut ListObjectsV2 said the
    store was empty. Raised as a broken stream, which s3transfer and retry.with_retries retry.
    So is an answer whose body (read whole: not a streamed one) is shorter than its
    Content-Length, the connection cut inside the body: botocore parses what came, and a
    ListObjectsV2 answer cut before its first byte was an empty listing (a store gc took every
    pack for absent). Cut inside the XML, botocore refuses it itself (as a 500).
    """
    status = http_response.status_code
    if not 200 <= status < 300:
        return
    headers = http_response.headers
    framed = (
        status == 204
        or model.http.get("method") == "HEAD"
        or "content-length" in headers
        or "chunked" in headers.get("transfer-encoding", "").lower()
    )
    if framed and all(f in parsed for f in _REQUIRED_FIELDS.get(model.name, ())):
        if not _body_cut(http_response, model):
            return
        raise bx.ResponseStreamingError(
            error=f"{model.name}: an incomplete answer (body cut short)"
        )
    body = parsed.get("Body")
    if body is not None:
        body.close()
    raise bx.ResponseStreamingError(error=f"{model.name}: an incomplete answer (headers cut short)")


def _body_cut(http_response: Any, model: Any) -> bool:
    """Whether a body botocore read whole came shorter than its Content-Length said."""
    if model.has_streaming_output or model.http.get("method") == "HEAD":
        return False  # a streamed body is read later, and checked then
    headers = http_response.headers
    length = headers.get("content-length")
    if length is None or headers.get("content-encoding", "identity") not in ("", "identity"):
        return False
    try:
        return len(http_response.content) < int(length)
    except ValueError:
        return False


def _read_timeout() -> float:
    value = os.environ.get(READ_TIMEOUT_ENV, "")
    if not value:
        return READ_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(
            f"{READ_TIMEOUT_ENV}='{value}' is not a number of seconds",
            f"unset it, or set it to a positive number (default {READ_TIMEOUT})",
        )
    return seconds
