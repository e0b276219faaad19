"""Pack uploads behind the writer (docs/chunked-store.md, 4.4): a closed pack goes up in a
background thread while the writer cuts, hashes, compresses and packs the next files, so that
a push's CPU work overlaps its uploads (with 20 ms per request and 32 MiB packs, the uploads of
2,000 files of 64 KiB took as long as the rest of the write path).

At most IN_FLIGHT uploads at a time: `start` first settles the oldest when that many are under
way, so at most IN_FLIGHT + 1 packs (the one being written, those going up) are on disk at
once. Two in flight: the last pack of a push goes up beside the one before it, where it used to
wait for it (0.77 s of a 3.7 s push of 2,000 x 64 KiB behind 20 ms per request was that wait).
Uploads are settled in the order the packs were closed. Settling waits for an upload and raises
its error in the writer's thread, where the push stops as before (no manifest names a pack that
is not up); `close` waits for the uploads in flight and drops their errors (the push is already
failing). A pack's file is removed once its upload is over, whether it went up or not.

`new_pack` starts each pack where it goes up best: in a directory store's own `<root>/tmp`
(storage.Staging, asked for at the first pack), where "uploading" it is renaming it under its
key, with no copy; else (S3) in the cache's `tmp/`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress

from .. import Staging, Store
from .packer import ClosedPack, PackWriter
from .packindex import pack_key

Done = Callable[[ClosedPack], None]
IN_FLIGHT = 2


class PackUploads:
    def __init__(self, store: Store, tmp_dir: str) -> None:
        self.store = store
        self.tmp_dir = tmp_dir
        self.staging: Staging | None = None
        self._asked = False
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: deque[tuple[ClosedPack, Future[None], Done]] = deque()

    def new_pack(self) -> PackWriter:
        """A pack to fill, in the store's own `tmp/` if it has one, else in `tmp_dir`."""
        if not self._asked:
            self._asked = True
            self.staging = self.store.staging()
        st = self.staging
        if st is None:
            return PackWriter(self.tmp_dir)
        return PackWriter(st.path, dir_fd=st.fd, error=st.error)

    def start(self, closed: ClosedPack, done: Done) -> None:
        """Upload `closed` in the background, after settling the oldest upload if IN_FLIGHT are
        under way; `done` is called in the caller's thread when this one is settled and went
        up. When an upload settled here failed, `closed` is removed and its error raised."""
        try:
            while len(self._inflight) >= IN_FLIGHT:
                self._settle_one()
        except BaseException:
            self._remove(closed)
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="pack-upload")
        self._inflight.append((closed, self._pool.submit(self.put, closed), done))

    def put(self, closed: ClosedPack) -> None:
        """Upload `closed` now, in this thread (start's threads; store gc's repack); its file
        is removed, whether it went up or not."""
        try:
            if self.staging is not None:
                name = os.path.basename(closed.path)
                self.store.put_staged(pack_key(closed.pid), self.staging, name)
            else:
                self.store.put_file(pack_key(closed.pid), closed.path)
        finally:
            self._remove(closed)

    def _remove(self, closed: ClosedPack) -> None:
        """Remove the pack's file, unless it is gone already (renamed under its key)."""
        with suppress(FileNotFoundError):
            if self.staging is not None:
                os.unlink(os.path.basename(closed.path), dir_fd=self.staging.fd)
            else:
                os.unlink(closed.path)

    def _settle_one(self) -> None:
        closed, fut, done = self._inflight.popleft()
        fut.result()
        done(closed)

    def settle(self) -> None:
        """Wait for every upload in flight, oldest first: raise the first error, else call
        each one's `done`."""
        while self._inflight:
            self._settle_one()

    def close(self) -> None:
        """Wait for the uploads in flight without raising (the caller is failing), stop the
        threads, and close the staging directory: after the packs being written are closed or
        aborted. Harmless when nothing is in flight."""
        if self._inflight:
            wait([fut for _, fut, _ in self._inflight])
            self._inflight.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.staging is not None:
            self.staging.close()
            self.staging = None
