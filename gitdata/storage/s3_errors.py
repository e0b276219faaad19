"""What a boto3/botocore failure means for the user: one StoreError naming the store and the
cause, with a hint; `transient` where trying again may help (retry.with_retries does), and
`store_wide` where every other request to the store would fail the same way.

Imported only by storage/s3.py, so only once an s3:// store is opened.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from botocore import exceptions as bx

from ..errors import ObjectMissing, StoreError

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable",
}  # fmt: skip
_DENIED_CODES = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem"}
_UNKNOWN_KEY_CODES = {"InvalidAccessKeyId"}
_WRONG_SECRET_CODES = {"SignatureDoesNotMatch"}
_REJECTED_CODES = {"ExpiredToken", "InvalidToken", "TokenRefreshRequired", "InvalidSecurity"}
#: Refusals of the credentials themselves: the service answers every request with them.
CREDENTIAL_CODES = _UNKNOWN_KEY_CODES | _WRONG_SECRET_CODES | _REJECTED_CODES
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET_CODES = {"NoSuchBucket"}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraint"}
_CONNECT_ERRORS = (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)
# A connection that broke after it was made: the next attempt may well work.
_TRANSIENT_ERRORS = (bx.HTTPClientError, bx.IncompleteReadError)


@dataclass(frozen=True)
class Where:
    """The store, as messages name it (never a secret)."""

    describe: str  # s3://bucket/prefix at endpoint
    bucket: str
    remote: str  # the data remote's name, for `git config data.remote.<name>.…` hints
    profile: str | None
    endpoint: str | None  # without user:password@


class StoreWide(StoreError):
    """A failure of the store as a whole (no credentials, unreachable, no bucket, denied):
    the store fails every later request at once with it."""


def code_of(e: bx.ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code") or "")


def translate(e: BaseException, where: Where, what: str | None = None) -> StoreError | None:
    """The StoreError that `e` means; None when `e` is not a boto3 failure (a bug). `what`
    names the object asked for (`xxh128:<oid>`, or a key), for "does not have"."""
    # s3transfer's wrapper around a download in parts (only a process that imported it has one)
    transfers = sys.modules.get("s3transfer.exceptions")
    if transfers is not None and isinstance(e, transfers.RetriesExceededError):
        e = e.last_exception
    at = f"store {where.describe}"
    if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return StoreWide(
            f"{at}: no AWS credentials found",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or "
            f"`git config data.remote.{where.remote}.profile PROFILE`; `git data env` shows "
            "where gitdata looks",
        )
    if isinstance(e, bx.ProfileNotFound):
        return StoreWide(
            f"{at}: AWS profile '{where.profile}' is not defined",
            "define it in ~/.aws/config or ~/.aws/credentials, or change "
            f"`git config data.remote.{where.remote}.profile`",
        )
    if isinstance(e, (bx.CredentialRetrievalError, bx.TokenRetrievalError)):
        return StoreWide(
            f"{at}: cannot get AWS credentials ({type(e).__name__})",
            "refresh them (for SSO: `aws sso login`) and try again",
        )
    if isinstance(e, _CONNECT_ERRORS):
        # botocore already retried (standard mode); a dead endpoint stays dead for this run
        return StoreWide(
            f"{at}: cannot connect to {where.endpoint or 'S3'} ({type(e).__name__})",
            "check the network and the data remote's endpoint_url (`git data env`)",
        )
    if isinstance(e, _TRANSIENT_ERRORS):
        err = StoreError(f"{at}: connection failed ({type(e).__name__})", "try again")
        err.transient = True
        return err
    if isinstance(e, bx.ClientError):
        return _client_error(e, where, at, what)
    if isinstance(e, (bx.ParamValidationError, ValueError)):
        return StoreError(f"{at}: {e}", "check the data remote's url (`git data env`)")
    if isinstance(e, bx.BotoCoreError):
        return StoreError(f"{at}: {e}", "check the data remote's configuration (`git data env`)")
    return None


def no_bucket(where: Where) -> StoreError:
    return StoreWide(
        f"store {where.describe}: bucket '{where.bucket}' does not exist",
        "create it, or fix the data remote's url (`git data env` shows it)",
    )


def _client_error(e: bx.ClientError, where: Where, at: str, what: str | None) -> StoreError:
    code = code_of(e)
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    label = f"HTTP {code}" if code.isdigit() else code  # a HEAD answer has no error body
    if code in _NO_BUCKET_CODES:
        return no_bucket(where)
    if code in _MISSING_CODES and what is not None:
        return ObjectMissing(f"store {where.describe} does not have {what}")
    if code in _DENIED_CODES:
        return StoreWide(
            f"{at}: access denied ({label})",
            "the credentials need s3:GetObject, s3:PutObject and s3:ListBucket on bucket "
            f"'{where.bucket}'; `git data env` shows where they come from",
        )
    if code in _UNKNOWN_KEY_CODES:
        return StoreWide(
            f"{at}: the access key id is unknown to the service ({label})",
            f"check {_where_keys(where, 'aws_access_key_id', 'AWS_ACCESS_KEY_ID')}; a deleted "
            "or deactivated key, or one of another account or service, is unknown too",
        )
    if code in _WRONG_SECRET_CODES:
        return StoreWide(
            f"{at}: the secret access key does not match the access key id ({label})",
            f"check {_where_keys(where, 'aws_secret_access_key', 'AWS_SECRET_ACCESS_KEY')}; a "
            "proxy that rewrites requests on the way causes this too",
        )
    if code in _REJECTED_CODES:
        return StoreWide(
            f"{at}: the credentials were rejected ({label})",
            "check the access key and secret, or refresh the session token; "
            "`git data env` shows where they come from",
        )
    if code in _REGION_CODES or status == 301:
        return StoreWide(
            f"{at}: bucket '{where.bucket}' is in another region ({label})",
            f"set its region: git config data.remote.{where.remote}.region REGION "
            "(or region = ... in .gitdata.toml)",
        )
    msg = e.response.get("Error", {}).get("Message") or ""
    err = StoreError(f"{at}: {label or status} {msg}".rstrip(), "try again later")
    err.transient = code in _TRANSIENT_CODES or status >= 500 or status == 429
    return err


def _where_keys(where: Where, setting: str, variable: str) -> str:
    """Where the failing half of the credentials comes from, for a hint (never its value)."""
    if where.profile:
        return (
            f"{setting} of AWS profile '{where.profile}' "
            f"(`git config data.remote.{where.remote}.profile`)"
        )
    return (
        f"{variable}, or {setting} in the AWS profile in use (`git data env` shows where the "
        "credentials come from)"
    )
