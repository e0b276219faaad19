"""A byte range of a store object as a readable stream (Store.get_range): read in bounded memory,
refused when the object does not hold the whole range, and resumed where an answer broke off.

A store gives two things: `open_at(offset, length)`, which returns a body holding exactly those
bytes of the object (or raises: missing, shorter than the range), and `guard`, which runs a call
and turns whatever it raises into a StoreError (transient where trying again may help). A body
that breaks or ends early is dropped, and the rest of the range is asked for again
(retry.with_retries), so a cut answer costs its own bytes only.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO, Callable, NamedTuple, Protocol

from ..errors import StoreError
from ..retry import with_retries

#: The stream's buffer, and so the most it reads from a body at a time.
CHUNK = 1 << 20

Guard = Callable[[Callable[[], Any]], Any]


class Body(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Source(NamedTuple):
    """A store object to read ranges of: how to open one, the store's guard, and the names
    messages give the store and the object."""

    open_at: Callable[[int, int], Body]
    guard: Guard
    where: str
    what: str


def open_range(source: Source, offset: int, length: int) -> BinaryIO:
    """The stream of bytes offset .. offset+length-1 of the source; the first request is made
    (and retried) here, so that a missing object or a range past its end is refused by the
    call, not by the first read."""
    if not (isinstance(offset, int) and isinstance(length, int) and offset >= 0 and length > 0):
        raise StoreError(
            f"refused to read {length!r} bytes at offset {offset!r} of {source.what}: not a range",
            "a manifest read from the store may be damaged (docs/chunked-store.md, 3.4)",
        )
    return io.BufferedReader(_Range(source, offset, length), CHUNK)


def past_end(where: str, what: str, offset: int, length: int, size: int | None) -> StoreError:
    """The object holds fewer bytes than the range asks for: never a partial answer."""
    held = f"is {size} bytes" if size is not None else "is shorter"
    return StoreError(
        f"store {where}: {what} {held}: it has no bytes {offset}-{offset + length - 1}",
        "the store, or a manifest read from it, is damaged; push the files again from a clone "
        "that has them",
    )


class _Range(io.RawIOBase):
    def __init__(self, source: Source, offset: int, length: int) -> None:
        super().__init__()
        self._source = source
        self._pos = offset
        self._left = length
        self._body: Body | None = with_retries(
            lambda: source.guard(lambda: source.open_at(offset, length))
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0:
            return 0
        data = with_retries(lambda: self._read(min(len(buffer), self._left)))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        self._left -= n
        if self._left == 0:
            self._drop()  # every byte is here: give the connection back now
        return n

    def _read(self, n: int) -> bytes:
        """Up to n bytes from the body, opening one for the rest of the range first if the
        last one broke."""
        source = self._source
        if self._body is None:
            pos, left = self._pos, self._left
            self._body = source.guard(lambda: source.open_at(pos, left))
        body = self._body
        try:
            data: bytes = source.guard(lambda: body.read(n))
        except BaseException:
            self._drop()
            raise
        if not data:
            self._drop()
            err = StoreError(
                f"store {source.where}: the answer for {source.what} ended {self._left} bytes "
                "early",
                "try again",
            )
            err.transient = True
            raise err
        return data

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._drop()
        super().close()
