"""The filter's download process (docs/chunked-store.md, 5.3): the files git delays are fetched
and rebuilt by a `git-data fetch-worker` of their own, not by threads of the filter process.

Why a process: answering git is CPU work in the filter's main thread (two requests per delayed
file), and so is a rebuild (frames decoded, files written and hashed, the store's client made).
In one process they take turns at the GIL: a clone of 2,000 small files made 300,000 futex
calls handing it over. In two, each has a core.

The conversation is lines on the worker's stdin and stdout:

- filter to worker: `OID SIZE` for each delayed file, then an empty line when git asks which
  files are ready (the batch starts: fetcher.Fetcher.flush);
- worker to filter: `ok OID` once the file is in the cache (verified against its oid), or
  `err OID "WHY"` (a JSON string: what failed, said as the filter says it for the path).

The worker opens the store while git sends the files it delays, as the filter's thread did.
It leaves when the filter closes its stdin, after the downloads under way (Fetcher.close).
If it dies, every file it had is failed with one line that says so, and git reports them.
If it cannot be started (no process left, no memory), the filter downloads in its own threads.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import subprocess
import sys
import threading
from functools import partial
from typing import BinaryIO

from .outcome import Outcome
from .pointer import Pointer

#: tests: starting the download process fails, as fork does when no process is left
NO_PROCESS = "GIT_DATA_TEST_NO_FETCH_PROCESS"


class Failed(Exception):
    """A file the worker could not get: `why` is said after the path (Fetcher.explain)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class FetchProcess:
    """The filter's end: starts the worker, hands it batches, and settles each file's future
    from its answers (in a thread of its own, so that the filter's main thread answers git)."""

    def __init__(self) -> None:
        if os.environ.get(NO_PROCESS):
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gitdata.cli", "fetch-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin
        self._out = self._proc.stdout
        self._lock = threading.Lock()
        self._waiting: dict[str, Outcome] = {}
        self._ended: str | None = None  # why the worker is gone, once it is
        self._reader = threading.Thread(target=self._read, name="fetch-worker", daemon=True)
        self._reader.start()

    def send(self, batch: dict[str, tuple[Pointer, Outcome]]) -> None:
        """Start `batch` (oid -> (pointer, its outcome)) in the worker."""
        with self._lock:
            ended = self._ended
            if ended is None:
                self._waiting.update((oid, fut) for oid, (_, fut) in batch.items())
        if ended is not None:
            for oid, (_, fut) in batch.items():
                fut.set_exception(Failed(_stopped(oid, ended)))
            return
        lines = b"".join(b"%s %d\n" % (p.oid.encode(), p.size) for p, _ in batch.values())
        try:
            self._in.write(lines + b"\n")
            self._in.flush()
        except OSError:  # it died: the reader fails what it had, these included
            pass

    def _read(self) -> None:
        for line in self._out:
            kind, _, rest = line.decode().rstrip("\n").partition(" ")
            oid, _, why = rest.partition(" ")
            with self._lock:
                fut = self._waiting.pop(oid, None)
            if fut is None:
                continue  # not ours: never sent
            if kind == "ok":
                fut.set_result(None)
            else:
                fut.set_exception(Failed(_said(why)))
        code = self._proc.wait()
        with self._lock:
            self._ended = f"exit status {code}" if code >= 0 else f"signal {-code}"
            left, self._waiting = self._waiting, {}
        for oid, fut in left.items():
            fut.set_exception(Failed(_stopped(oid, self._ended)))

    def close(self) -> None:
        """Let the worker finish what it started, and wait for it."""
        try:
            self._in.close()
        except OSError:
            pass
        self._reader.join()


def _said(why: str) -> str:
    try:
        said = json.loads(why)
    except ValueError:
        said = None
    return said if isinstance(said, str) else why


def _cannot(oid: str, cause: str) -> str:
    return f"cannot get the bytes of xxh128:{oid}: {cause}"


def _stopped(oid: str, how: str) -> str:
    return _cannot(oid, f"the download process stopped ({how})")


def serve() -> None:
    """The worker (`git-data fetch-worker`): reads batches on stdin, answers on stdout."""
    from .context import Context
    from .fetcher import Fetcher

    fetcher = Fetcher(Context())  # it opens the store now, in a thread
    out = open(1, "wb", closefd=False)  # noqa: SIM115 - fd 1 stays open
    sys.stdout = sys.stderr  # stdout is the conversation: a stray print must not corrupt it
    answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    writer = threading.Thread(
        target=_write_answers, args=(answers, out), name="answers", daemon=True
    )
    writer.start()

    def answer(p: Pointer, fut: Outcome) -> None:
        exc = fut.exception()
        if exc is None:
            answers.put(b"ok %s\n" % p.oid.encode())
            return
        try:
            why = fetcher.why(exc, p)
        except Exception as e:  # noqa: BLE001 - a bug; still an answer, or git waits for good
            why = _cannot(p.oid, f"{type(e).__name__}: {e}")
        answers.put(b"err %s %s\n" % (p.oid.encode(), json.dumps(why).encode()))

    for line in sys.stdin.buffer:
        if line == b"\n":
            fetcher.flush()
            continue
        oid, size = line.split()
        p = Pointer(oid.decode(), int(size))
        fetcher.submit(p, batch=True).add_done_callback(partial(answer, p))
    fetcher.flush()
    fetcher.close()
    answers.put(None)
    writer.join()


def _write_answers(answers: queue.SimpleQueue[bytes | None], out: BinaryIO) -> None:
    """Write the answers as they come, those that came together in one write: the threads that
    rebuild files never wait on the pipe."""
    while True:
        lines = [answers.get()]
        while not answers.empty():
            lines.append(answers.get())
        try:
            out.write(b"".join(x for x in lines if x is not None))
            out.flush()
        except OSError:  # the filter is gone: nobody to tell
            pass
        if None in lines:
            return
