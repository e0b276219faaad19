"""Which oid a worktree file has, keyed by its stat data, so unchanged big files are not re-hashed.

git runs the clean filter again whenever a file's stat data looks racy or changed (after our
hooks write big files behind its back, after `touch`, on `git status` in a fresh index). For a
file whose (device, inode, size, mtime_ns, ctime_ns) is exactly what it was when we last hashed
or wrote it, the answer is known and clean only has to drain git's stream. ctime cannot be set
by user tools, so a content change always changes the key. One small file per inode under
`<common dir>/data/stat`, replaced atomically; a missing or unreadable entry is just a miss.
"""

from __future__ import annotations

import os

from .pointer import is_oid

#: Below this, hashing is cheaper than the bookkeeping.
MIN_SIZE = 4 << 20


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether two stats are of the same file with the same content as far as stat can tell:
    device, inode, size, and mtime and ctime to the nanosecond (the key of this cache)."""
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)  # fmt: skip


class StatCache:
    def __init__(self, root: str) -> None:
        self.root = root

    def _entry(self, st: os.stat_result) -> str:
        return os.path.join(self.root, f"{st.st_dev:x}-{st.st_ino:x}")

    @staticmethod
    def _line(st: os.stat_result) -> str:
        return f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"

    def lookup(self, st: os.stat_result) -> tuple[str | None, str | None]:
        """(exact, guess): the oid recorded for exactly this stat data, else the oid this inode
        had at this size under other timestamps (a `touch`, or an edit in place)."""
        if st.st_size < MIN_SIZE:
            return None, None
        try:
            with open(self._entry(st)) as f:
                stamp, _, oid = f.read(200).strip().rpartition(" ")
        except OSError:
            return None, None
        if not is_oid(oid):
            return None, None
        if stamp == self._line(st):
            return oid, None
        return None, oid if stamp.split(" ", 1)[0] == str(st.st_size) else None

    def record(self, st: os.stat_result, oid: str) -> None:
        if st.st_size < MIN_SIZE:
            return
        entry = self._entry(st)
        tmp = f"{entry}.{os.getpid()}.tmp"
        try:
            os.makedirs(self.root, exist_ok=True)
            with open(tmp, "w") as f:
                f.write(f"{self._line(st)} {oid}\n")
            os.replace(tmp, entry)
        except OSError:
            pass  # only an optimisation
