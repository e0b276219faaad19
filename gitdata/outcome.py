"""One file's download as the smudge filter and its download process wait for it (fetcher.py,
fetch_process.py, filter_handler.py): settled once, with nothing or with an exception, and
callbacks run when it is.

A checkout delays every file missing from the cache at once (a clone of 30,000 files: 30,000).
A concurrent.futures.Future each, with its own Condition, RLock and deque, cost about 1.4 KiB a
file in each of the two processes and took both past 100 MiB at 30,000 files; an Outcome costs
a tenth of that, and all of them share one Condition, which only a thread that must block on a
file git cannot delay ever waits on."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

_settled = threading.Condition(threading.Lock())
_UNSET = object()


class Outcome:
    """The outcome of one download: what a Future of None offers the callers here (done,
    set_result, set_exception, add_done_callback, exception), without a lock of its own."""

    __slots__ = ("_exc", "_callbacks")

    def __init__(self) -> None:
        self._exc: object = _UNSET  # None once done without an error
        self._callbacks: list[Callable[[Outcome], object]] | None = None

    def done(self) -> bool:
        return self._exc is not _UNSET

    def set_result(self, _result: None = None) -> None:
        self._settle(None)

    def set_exception(self, exc: BaseException) -> None:
        self._settle(exc)

    def _settle(self, exc: BaseException | None) -> None:
        with _settled:
            if self._exc is not _UNSET:
                raise RuntimeError("a download's outcome is settled once")
            self._exc = exc
            callbacks, self._callbacks = self._callbacks, None
            _settled.notify_all()
        for fn in callbacks or ():
            _call(fn, self)

    def add_done_callback(self, fn: Callable[[Outcome], object]) -> None:
        """Call `fn(self)` once settled: now, when it already is."""
        with _settled:
            if self._exc is _UNSET:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        _call(fn, self)

    def exception(self) -> BaseException | None:
        """Wait until settled; the exception it was settled with, or None."""
        with _settled:
            while self._exc is _UNSET:
                _settled.wait()
        return self._exc  # type: ignore[return-value]


def _call(fn: Callable[[Outcome], object], outcome: Outcome) -> None:
    """A callback that raises is a bug: said on stderr, as a Future's would be logged, and the
    other callbacks and files go on."""
    try:
        fn(outcome)
    except Exception as e:  # noqa: BLE001
        print(f"git-data: internal error in a download's callback: {e!r}", file=sys.stderr)
