"""A fault-injecting HTTP proxy for S3 tests: boto3 talks to it (as the data remote's
`endpoint_url`), it forwards to the moto server, and on a schedule it misbehaves the way networks
and S3 do: it drops connections, answers 500 InternalError and 503 SlowDown, stalls, and cuts
bodies short.

Loopback only; every fault is bounded (a rule's `limit`, a stall's length) unless a test asks
for faults that never stop. The proxy counts what it injected, by kind and by S3 operation.

    proxy = FaultProxy(s3.endpoint)
    proxy.add(Rule(DROP, ops={"PutObject"}, nth={1, 2}))       # the first two PutObjects
    proxy.add(Rule(SLOWDOWN, probability=0.3, seed=7, limit=5))  # any request, 5 at most
    ... endpoint_url = proxy.endpoint ...
    proxy.injected  # Counter({("drop", "PutObject"): 2, ("503-slowdown", "GetObject"): 3, ...})
    proxy.unheard   # Counter({"CreateMultipartUpload": 1}): done by the server, answer lost
    proxy.received  # [("PutObject", {"content-length": "5", ...}, "<base64 MD5 of the body>")]
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import random
import re
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

#: Close the connection after reading the request, before the server sees it.
DROP = "drop"
#: Forward the request (the server does the work), then close after half the response headers.
DROP_MID = "drop-mid"
#: Answer 500 InternalError without forwarding.
HTTP_500 = "500"
#: Answer 503 SlowDown without forwarding.
SLOWDOWN = "503-slowdown"
#: Say nothing for `stall` seconds (longer than the client's read timeout), then close. With
#: `mid_body`, forward first and stall after half the response body instead.
STALL = "stall"
#: Cut a body short, then close: a response body (GET: Content-Length says N, N/2 bytes come)
#: or, for a request with a body (PutObject, UploadPart), the body forwarded to the server.
TRUNCATE = "truncate"
KINDS = (DROP, DROP_MID, HTTP_500, SLOWDOWN, STALL, TRUNCATE)

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te"}
_ERRORS = {
    HTTP_500: (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    SLOWDOWN: (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}


def operation(method: str, target: str, headers: dict[str, str]) -> str:
    """The S3 operation an HTTP request is (path-style addressing: /bucket[/key][?query])."""
    path, _, query = target.partition("?")
    has_key = path.strip("/").count("/") >= 1
    if method == "PUT":
        return "UploadPart" if "partNumber=" in query else "PutObject" if has_key else "PUT"
    if method == "POST":
        if re.search(r"(^|&)uploads(=|&|$)", query):
            return "CreateMultipartUpload"
        if re.search(r"(^|&)delete(=|&|$)", query):
            return "DeleteObjects"
        return "CompleteMultipartUpload" if "uploadId=" in query else "POST"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId=" in query else "DELETE"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        if not has_key:
            return "ListObjectsV2" if "list-type=2" in query else "ListBucket"
        return "GetObjectRange" if "range" in headers else "GetObject"
    return method


@dataclass
class Rule:
    """Inject `kind` into requests whose operation is in `ops` (any when empty): the `nth`
    matching ones (1-based), or each with `probability` (drawn from a Random seeded with
    `seed`), or, with neither, every one; at most `limit` times (None: for ever). `stall` is
    how long a stall lasts; `mid_body` stalls after half the response body instead of before
    the response. `key`, when given, is a regular expression the request's path must contain
    (`chunked/v1/packs/`: the chunked store's packs only); `query`, one its query string must
    contain once decoded (`prefix=run/chunked/v1/gc/`: the listings of a run log only)."""

    kind: str
    ops: Collection[str] = ()
    nth: Collection[int] = ()
    probability: float = 0.0
    seed: int = 0
    limit: int | None = None
    stall: float = 3.0
    mid_body: bool = False
    key: str = ""
    query: str = ""
    #: the share of a response body a TRUNCATE sends before it closes (0: the headers only)
    keep: float = 0.5
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        self._rng = random.Random(self.seed)

    def fires(self, op: str, target: str = "") -> bool:
        if self.ops and op not in self.ops:
            return False
        path, _, query = target.partition("?")
        if self.key and not re.search(self.key, path):
            return False
        if self.query and not re.search(self.query, unquote(query)):
            return False
        self.seen += 1
        if self.limit is not None and self.fired >= self.limit:
            return False
        if self.nth or self.probability:
            hit = self.seen in self.nth or (
                self.probability > 0 and self._rng.random() < self.probability
            )
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 in front of `upstream` (http://host:port)."""

    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        parts = urlsplit(upstream)
        assert parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"), upstream
        self.upstream = (parts.hostname, parts.port or 80)
        #: Seconds each answer the client waits for comes late (a `100 Continue` too): a
        #: network with this round-trip time, over connections already open.
        self.delay = delay
        self.rules: list[Rule] = []
        self.injected: Counter[tuple[str, str]] = Counter()
        self.requests: list[tuple[str, str]] = []  # (operation, fault or "")
        #: Every request as it reached the proxy: its operation, its headers (names in lower
        #: case) and the base64 MD5 of its body, which a Content-MD5 header must equal.
        self.received: list[tuple[str, dict[str, str], str]] = []
        #: Faulted requests that the server carried out but whose answer never fully reached
        #: the client (drop-mid, a cut response, a stall mid-body), by operation.
        self.unheard: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.connection, self.rfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def add(self, *rules: Rule) -> FaultProxy:
        with self._lock:
            self.rules.extend(rules)
        return self

    def clear(self) -> None:
        """No more faults from now on (counts are kept)."""
        with self._lock:
            self.rules.clear()

    def count(self, kind: str | None = None) -> int:
        return sum(n for (k, _), n in self.injected.items() if kind in (None, k))

    def close(self) -> None:
        self._stopping.set()  # cuts stalls short
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one client connection: requests one after another (keep-alive) ---------------------------

    def _serve(self, conn: socket.socket, rfile: BinaryIO) -> None:
        try:
            while not self._stopping.is_set():
                if not self._one(conn, rfile):
                    return
        except OSError:
            return  # the client went away (or we cut it off): nothing to clean up

    def _one(self, conn: socket.socket, rfile: BinaryIO) -> bool:
        """Serve one request; False when the connection is to be closed."""
        line = rfile.readline(65537)
        if not line.strip():
            return False
        method, target, _version = line.decode("latin-1").split()
        headers: list[tuple[str, str]] = []
        while True:
            h = rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in headers}
        if lower.get("expect", "").lower() == "100-continue":
            self._late()
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert "chunked" not in lower.get("transfer-encoding", ""), "chunked upload: not handled"
        body = _read_exact(rfile, int(lower.get("content-length", "0")))

        op = operation(method, target, lower)
        self.received.append((op, lower, base64.b64encode(hashlib.md5(body).digest()).decode()))
        self._late()
        rule = self._decide(op, target)
        self.requests.append((op, rule.kind if rule else ""))
        if rule is None:
            return self._forward(conn, method, target, headers, body)
        kind = rule.kind
        if kind == DROP:
            return False
        if kind in _ERRORS:
            status, reason, code, message = _ERRORS[kind]
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>faultproxy</RequestId></Error>"
            ).encode()
            payload = b"" if method == "HEAD" else xml
            conn.sendall(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(xml) if method != 'HEAD' else 0}\r\n\r\n".encode()
                + payload
            )
            return True
        if kind == STALL and not rule.mid_body:
            self._stopping.wait(rule.stall)
            return False
        if kind == TRUNCATE and body:
            self._upstream(method, target, headers, body, cut=len(body) // 2)
            return False
        status, reason, resp_headers, data = self._upstream(method, target, headers, body)
        with self._lock:
            self.unheard[op] += 1
        head = _head(method, status, reason, resp_headers, data)
        if kind == DROP_MID:
            conn.sendall(head[: len(head) // 2])
            return False
        conn.sendall(head)
        conn.sendall(
            data[: int(len(data) * rule.keep)] if kind == TRUNCATE else data[: len(data) // 2]
        )
        if kind == STALL:
            self._stopping.wait(rule.stall)
        return False  # TRUNCATE or STALL mid-body: the rest never comes

    def _late(self) -> None:
        if self.delay:
            time.sleep(self.delay)

    def _decide(self, op: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.fires(op, target):
                    self.injected[(rule.kind, op)] += 1
                    return rule
        return None

    def _forward(
        self,
        conn: socket.socket,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> bool:
        status, reason, resp_headers, data = self._upstream(method, target, headers, body)
        conn.sendall(_head(method, status, reason, resp_headers, data) + data)
        return True

    def _upstream(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        cut: int | None = None,
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request to the server as the client sent it (Host and signed headers
        untouched); with `cut`, only that much of the body, then hang up."""
        up = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            up.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    up.putheader(name, value)
            up.putheader("Connection", "close")
            if cut is not None:
                up.endheaders()
                up.send(body[:cut])
                return 0, "", [], b""
            up.endheaders(body if body or method in ("PUT", "POST") else None)
            resp = up.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            up.close()


def _head(
    method: str, status: int, reason: str, headers: list[tuple[str, str]], data: bytes
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers:
        low = name.lower()
        if low in _HOP_BY_HOP or (low == "content-length" and method != "HEAD"):
            continue
        lines.append(f"{name}: {value}")
    if method != "HEAD":
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_exact(rfile: BinaryIO, n: int) -> bytes:
    data = rfile.read(n) if n else b""
    if len(data) != n:
        raise ConnectionError("the client hung up mid-request")
    return data
