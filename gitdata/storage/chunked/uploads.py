"""Pack uploads behind the writer (docs/chunked-store.md, 4.4): a closed pack goes up in a
background thread while the writer cuts, hashes, compresses and packs the next files, so that
a push's CPU work overlaps its uploads (with 20 ms per request and 32 MiB packs, the uploads of
2,000 files of 64 KiB took as long as the rest of the write path).

One upload at a time: `start` first settles the one in flight, so at most two packs (the one
being written, the one going up) are on disk at once, and packs go up in the order they were
closed. Settling waits for the upload and raises its error in the writer's thread, where the
push stops as before (no manifest names a pack that is not up); `close` waits for any upload
in flight and drops its error (the push is already failing). A pack's file is removed once its
upload is over, whether it went up or not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from .. import Store
from .packer import ClosedPack
from .packindex import pack_key

Done = Callable[[ClosedPack], None]


class PackUploads:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: tuple[ClosedPack, Future[None], Done] | None = None

    def start(self, closed: ClosedPack, done: Done) -> None:
        """Upload `closed` in the background, after settling the upload in flight; `done` is
        called in the caller's thread when this one is settled and went up. When the
        previous upload failed, `closed` is removed and its error raised."""
        try:
            self.settle()
        except BaseException:
            os.unlink(closed.path)
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-upload")
        self._inflight = (closed, self._pool.submit(self._put, closed), done)

    def _put(self, closed: ClosedPack) -> None:
        try:
            self.store.put_file(pack_key(closed.pid), closed.path)
        finally:
            os.unlink(closed.path)

    def settle(self) -> None:
        """Wait for the upload in flight, if any: raise its error, else call its `done`."""
        if self._inflight is None:
            return
        closed, fut, done = self._inflight
        self._inflight = None
        fut.result()
        done(closed)

    def close(self) -> None:
        """Wait for the upload in flight without raising (the caller is failing), and stop the
        thread. Harmless when nothing is in flight."""
        if self._inflight is not None:
            wait([self._inflight[1]])
            self._inflight = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
