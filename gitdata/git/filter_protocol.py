"""The long-running filter protocol, version 2 (gitattributes(5), "Long Running Filter Process").

A small server object: it speaks the handshake and the request loop and hands each request to a
handler. A failure on one file is that file's `status=error` (and one line on stderr); the
process lives on for the rest of the checkout. Only this module writes to stdout.

Delay (git 2.15+, clone and checkout only): a smudge answered `status=delayed` is asked for again
after git has written every other file; in between, `command=list_available_blobs` must block
until at least one delayed path is ready and answer an empty list when none is left.

What is recoverable. A request is a flush-terminated list of `key=value` headers; `clean` and
`smudge` requests (and only they) are followed by their content, another flush-terminated list.
As long as the pkt-line framing holds, the end of every request is known, so any request that is
wrong in its headers gets `status=error` and the loop goes on: headers without `=`, a missing or
unknown command, a command whose capability was not negotiated, a pathname with a NUL byte, an
empty request. The content of a bad `clean` or `smudge` request is read and dropped first, so the
next request starts where it should; any other bad request is taken to have no content (git
never sends one; if a client did, its content would be answered as one more bad request, and the
loop would still be in step at the following flush). `list_available_blobs` is always answered
with its two lists. Not recoverable: broken framing (a length that is not 4 hex digits, too
short or too long, a packet cut short, the input ending inside a request's content) and a bad
handshake. After those nobody knows where the next request starts, so ProtocolError ends the
conversation, and `git-data filter-process` exits 1 with one line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, TextIO, Union

from ..errors import GitDataError
from .pktline import ContentReader, PktReader, PktWriter, ProtocolError

CAPABILITIES = (b"clean", b"smudge", b"delay")


class Delayed:
    """Returned by a smudge handler that will deliver the file later."""


DELAYED = Delayed()

#: What a handler answers: bytes in memory, a binary file to stream (closed after), or DELAYED.
Output = Union[bytes, BinaryIO, Delayed]


@dataclass
class Request:
    command: str
    pathname: str
    can_delay: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    #: Why the headers are not a request we can serve (the answer is then status=error).
    problem: str | None = None


class Handler(Protocol):
    def clean(self, req: Request, content: ContentReader) -> Output: ...
    def smudge(self, req: Request, content: ContentReader) -> Output: ...
    def available(self) -> list[str]: ...


class FilterServer:
    def __init__(
        self, stdin: BinaryIO, stdout: BinaryIO, handler: Handler, stderr: TextIO | None = None
    ) -> None:
        self.reader = PktReader(stdin)
        self.writer = PktWriter(stdout)
        self.handler = handler
        self.stderr: TextIO = stderr if stderr is not None else sys.stderr
        self.capabilities: set[bytes] = set()

    def handshake(self) -> None:
        hello = self.reader.read_text_list()
        if not hello or hello[0] != b"git-filter-client" or b"version=2" not in hello[1:]:
            raise ProtocolError(f"unexpected handshake {hello!r}")
        self.writer.write_list([b"git-filter-server", b"version=2"])
        self.writer.flush()
        offered = {
            c[len(b"capability=") :]
            for c in self.reader.read_text_list()
            if c.startswith(b"capability=")
        }
        self.capabilities = {c for c in CAPABILITIES if c in offered}
        self.writer.write_list([b"capability=" + c for c in CAPABILITIES if c in offered])
        self.writer.flush()

    def serve(self) -> None:
        """Handshake, then answer requests until git closes the pipe."""
        self.handshake()
        while True:
            try:
                headers = self.reader.read_text_list()
            except EOFError:
                return
            self.handle(headers)

    def handle(self, headers: list[bytes]) -> None:
        req = _parse_request(headers, delay=b"delay" in self.capabilities)
        w = self.writer
        if req.command == "list_available_blobs":
            try:
                if req.problem:
                    raise GitDataError(req.problem)
                paths = self.handler.available()
                status = b"success"
            except Exception as e:  # noqa: BLE001 - one bad list must not kill the checkout
                self.report(e, req)
                paths, status = [], b"error"
            w.write_list([b"pathname=" + os.fsencode(p) for p in paths])
            w.write_list([b"status=" + status])
            w.flush()
            return

        if req.command not in ("clean", "smudge"):
            # No content follows (see the module docstring): answer at once.
            self.report(GitDataError(req.problem or _unsupported(req.command)), req)
            w.write_list([b"status=error"])
            w.flush()
            return

        content = self.reader.content()
        try:
            if req.problem:
                raise GitDataError(req.problem)
            if req.command == "clean" and b"clean" in self.capabilities:
                out = self.handler.clean(req, content)
            elif req.command == "smudge" and b"smudge" in self.capabilities:
                out = self.handler.smudge(req, content)
            else:
                raise GitDataError(_unsupported(req.command))
            content.drain()
        except ProtocolError:
            raise
        except Exception as e:  # noqa: BLE001
            content.drain()
            self.report(e, req)
            w.write_list([b"status=error"])
            w.flush()
            return

        if isinstance(out, Delayed):
            w.write_list([b"status=delayed"])
            w.flush()
            return
        w.write_list([b"status=success"])
        if isinstance(out, (bytes, bytearray, memoryview)):
            w.write_data(out)
            w.write_flush()
            w.write_flush()  # empty list: keep status=success
            w.flush()
            return
        try:
            w.write_stream(out)
            failed = None
        except Exception as e:  # noqa: BLE001 - a read error half-way through the file
            failed = e
        finally:
            out.close()
        w.write_flush()
        if failed is None:
            w.write_flush()
        else:
            self.report(failed, req)
            w.write_list([b"status=error"])
        w.flush()

    def report(self, e: BaseException, req: Request) -> None:
        if isinstance(e, GitDataError):
            msg = f"git-data: error: {e.message}"
            if e.hint:
                msg += f"\nhint: {e.hint}"
        else:
            msg = f"git-data: error: {req.pathname}: {type(e).__name__}: {e} (a bug in gitdata)"
        print(msg, file=self.stderr, flush=True)


def _unsupported(command: str) -> str:
    if not command:
        return "filter request without a command"
    return f"unsupported filter command {command!r}"


def _parse_request(headers: list[bytes], delay: bool = True) -> Request:
    """The request these headers make; what is wrong with them goes to `problem`."""
    command = pathname = ""
    can_delay = False
    extra: dict[str, str] = {}
    problem = None
    for h in headers:
        key, sep, value = h.partition(b"=")
        if not sep:
            problem = problem or f"bad filter request header {h[:80]!r}"
            continue
        if key == b"command":
            command = value.decode("ascii", "replace")
        elif key == b"pathname":
            if b"\0" in value:
                problem = problem or f"filter request pathname with a NUL byte: {value[:80]!r}"
                continue
            pathname = os.fsdecode(value)
        elif key == b"can-delay":
            can_delay = value == b"1" and delay  # only when the capability was negotiated
        else:
            extra[key.decode("ascii", "replace")] = value.decode("utf-8", "replace")
    if not command:
        problem = problem or _unsupported(command)
    return Request(
        command=command, pathname=pathname, can_delay=can_delay, extra=extra, problem=problem
    )
