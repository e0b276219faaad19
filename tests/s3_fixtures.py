"""The `s3` fixture: a real S3-API server (moto's ThreadedMotoServer) on 127.0.0.1, an empty
bucket per test, fake credentials in the environment. Tests reach it over HTTP through boto3;
nothing is mocked. Re-exported by conftest.py, so any test can ask for `s3`."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Env


#: Fake credentials the fixture puts in the environment; the secret must never be printed.
S3_ACCESS_KEY = "AKIAGITDATATEST00001"
S3_SECRET_KEY = "gitdata-fake-secret-NEVER-PRINTED-0123456789"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')


class _RequestLog(logging.Handler):
    """Every request the server answered, as (method, path?query, status), from werkzeug's
    access log: what went over the wire, observed without mocking anything."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.requests: list[tuple[str, str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = _REQUEST.search(_ANSI.sub("", record.getMessage()))
        if m:
            self.requests.append((m.group(1), m.group(2), int(m.group(3))))


class S3Server:
    def __init__(self, endpoint: str, log: _RequestLog) -> None:
        self.endpoint = endpoint
        self.log = log

    def post(self, path: str, body: bytes = b"") -> None:
        import urllib.request

        # text/plain: a form content type would hide the body from moto (Flask parses forms)
        req = urllib.request.Request(
            self.endpoint + path, body, {"Content-Type": "text/plain"}, method="POST"
        )
        urllib.request.urlopen(req).close()


@pytest.fixture(scope="session")
def s3_server():
    """One moto server for the whole run (its state lives in-process); `s3` resets it per test."""
    from moto.server import ThreadedMotoServer

    log = _RequestLog()
    werkzeug = logging.getLogger("werkzeug")
    saved = (werkzeug.level, werkzeug.propagate)
    werkzeug.addHandler(log)
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}", log)
    finally:
        server.stop()
        werkzeug.removeHandler(log)
        werkzeug.setLevel(saved[0])
        werkzeug.propagate = saved[1]


class S3:
    """The bucket of one test, a boto3 client for looking at it, and the requests it served."""

    bucket = "gitdata-test"
    access_key = S3_ACCESS_KEY
    secret_key = S3_SECRET_KEY

    def __init__(self, server: S3Server) -> None:
        import boto3

        self.server = server
        self.endpoint = server.endpoint
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )

    def url(self, prefix: str = "", bucket: str | None = None) -> str:
        return f"s3://{bucket or self.bucket}" + (f"/{prefix}" if prefix else "")

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return self.server.log.requests

    def clear_requests(self) -> None:
        self.server.log.requests.clear()

    def require_auth(self) -> None:
        """From now on the server checks signatures and IAM policies (until the next test)."""
        self.server.post("/moto-api/reset-auth", b"0")


@pytest.fixture
def s3(env: Env, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3:
    """An empty bucket `gitdata-test` on a fresh moto server state; fake credentials in the
    environment (so every git-data the test starts finds them); no ~/.aws, no instance metadata
    service (boto3 would otherwise try 169.254.169.254 when it finds no credentials)."""
    for var in (
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3_server.post("/moto-api/reset-auth", b"inf")
    s3_server.post("/moto-api/reset")
    s = S3(s3_server)
    s.client.create_bucket(Bucket=S3.bucket)
    s.clear_requests()
    return s


def s3_project(
    env: Env,
    url: str,
    endpoint: str,
    chunked: str,
    first: bytes | None = None,
    bare: Path | None = None,
) -> tuple[Path, Path]:
    """A repository whose committed .gitdata.toml sends origin's bytes to `url` through
    `endpoint` with `chunked` (its setting: true, false or "auto"), and as origin `bare` or an
    empty bare repository on disk; with `first`, a.bin of those bytes committed and pushed."""
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{url}"\nendpoint_url = "{endpoint}"\nchunked = {chunked}\n'
    (repo / ".gitdata.toml").write_bytes(toml.encode())
    bare = bare or env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    if first is not None:
        (repo / "a.bin").write_bytes(first)
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    return repo, bare
