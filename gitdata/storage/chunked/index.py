"""The local index of the chunked store (docs/chunked-store.md, 4.3): one SQLite file per
repository, `<git common dir>/data/chunked/index.sqlite`.

It holds only what can be recomputed or fetched again: the chunk lists of cached files, where
the cache holds each chunk, what this clone knows of each store (packs, where a store keeps a
chunk, the manifests read and their records). Deleting the file loses dedup until it is rebuilt,
never data. WAL journal and a 10 s busy timeout, so that several processes (the filter, a hook,
a command) may write at once; writes are short `BEGIN IMMEDIATE` transactions. One connection
per LocalIndex (opened by indexdb.py), shared by threads under a lock; imports only format,
rows, indexdb.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import accumulate
from typing import Callable

from .format.common import ID_SIZE
from .format.manifest import KeyChunk, Record
from .indexdb import MEMORY as MEMORY
from .indexdb import LocalIndexError as LocalIndexError
from .indexdb import connect, index_path
from .rows import (
    LocalChunk,
    StoredChunk,
    StoredRecord,
    decode_chunks,
    decode_terms,
    encode_chunks,
    encode_terms,
)

#: inside `LocalIndex.batch`, a shared transaction is committed once it is this old (seconds)
BATCH_COMMIT = 0.5
KEY_SIZE = 16  # chunks are keyed by the first 16 bytes of their id


def _marks(part: Sequence[object]) -> str:
    return ",".join("?" * len(part))


#: the records of a store whose terms name a source (a pack id, or an oid padded to its length)
_RECORDS_NAMING = "DELETE FROM record WHERE store = ? AND instr(terms, ?) > 0"


class LocalIndex:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._batch, self._since = 0, 0.0  # open batch() contexts; when their transaction began
        self._db = connect(path)

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            batch = self._batch > 0  # inside batch(): a savepoint in a shared transaction
            if not (batch and self._db.in_transaction):
                self._db.execute("BEGIN IMMEDIATE")
                self._since = time.monotonic()
            if batch:
                self._db.execute("SAVEPOINT w")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK TO w" if batch else "ROLLBACK")
                if batch:
                    self._db.execute("RELEASE w")
                raise
            if batch:
                self._db.execute("RELEASE w")
            if not batch or time.monotonic() - self._since >= BATCH_COMMIT:
                self._db.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside (from any thread) share transactions, committed every BATCH_COMMIT s
        and at the end, each write still all or nothing: a rebuild of 2,000 small files makes
        a few commits, not three per file. A crash loses only what was learned since."""
        with self._lock:
            self._batch += 1
        try:
            yield
        finally:
            with self._lock:
                self._batch -= 1
                if not self._batch and self._db is not None and self._db.in_transaction:
                    self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- stores ---------------------------------------------------------------------------

    def store_id(self, url: str) -> int:
        rows = self._query("SELECT id FROM store WHERE url = ?", (url,))
        if rows:
            return int(rows[0][0])
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO store (url) VALUES (?)", (url,))
            return int(db.execute("SELECT id FROM store WHERE url = ?", (url,)).fetchone()[0])

    def store_format(self, store: int) -> str | None:
        rows = self._query("SELECT format FROM store WHERE id = ?", (store,))
        return rows[0][0] if rows else None

    def set_store_format(self, store: int, text: str | None, forget: bool = False) -> None:
        """`forget`: the store has no FORMAT, so nothing a writer made (new, or emptied)."""
        with self._write() as db:
            db.execute("UPDATE store SET format = ? WHERE id = ?", (text, store))
            for t in ("stored_chunk", "pack", "manifest", "record", "key_chunk") if forget else ():
                db.execute(f"DELETE FROM {t} WHERE store = ?", (store,))

    # -- chunk lists of cached files --------------------------------------------------------

    def put_file(self, oid: bytes, size: int, chunks: Sequence[tuple[bytes, int]]) -> None:
        self.put_files([(oid, size, chunks)])

    def has_local_chunks(self) -> bool:
        return bool(self._query("SELECT 1 FROM local_chunk LIMIT 1"))

    def put_files(self, files: Iterable[tuple[bytes, int, Sequence[tuple[bytes, int]]]]) -> None:
        """Chunk lists of cached files (ids, raw lengths), their `local_chunk` rows: one write."""
        listed, rows = [], []
        for oid, size, chunks in files:
            offs = list(accumulate((n for _, n in chunks), initial=0))
            if offs[-1] != size:
                raise ValueError("chunk lengths do not add up to the file's size")
            rows += [(cid[:KEY_SIZE], oid, off, n) for (cid, n), off in zip(chunks, offs)]
            listed.append((oid, size, encode_chunks(chunks)))
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO file VALUES (?, ?, ?)", listed)
            db.executemany("INSERT OR IGNORE INTO local_chunk VALUES (?, ?, ?, ?)", rows)

    def file_chunks(self, oid: bytes) -> list[tuple[bytes, int]] | None:
        rows = self._query("SELECT chunks FROM file WHERE oid = ?", (oid,))
        return decode_chunks(rows[0][0]) if rows else None

    def local_chunks(self, ids: Iterable[bytes]) -> dict[bytes, LocalChunk]:
        """Where the cache holds each chunk of `ids` (keyed by 16-byte key) it knows."""
        keys = sorted({i[:KEY_SIZE] for i in ids})
        out: dict[bytes, LocalChunk] = {}
        for part in (keys[i : i + 500] for i in range(0, len(keys), 500)):
            sql = f"SELECT id, oid, off, len FROM local_chunk WHERE id IN ({_marks(part)})"
            for k, oid, off, n in self._query(sql, part):
                out[bytes(k)] = LocalChunk(bytes(oid), off, n)
        return out

    def drop_files(self, oids: Iterable[bytes]) -> int:
        """Forget cached files that are gone: their `file` rows and the `local_chunk` rows that
        point into them. Returns how many files were forgotten."""
        n = 0
        with self._write() as db:
            for oid in oids:
                db.execute("DELETE FROM local_chunk WHERE oid = ?", (oid,))
                n += db.execute("DELETE FROM file WHERE oid = ?", (oid,)).rowcount
        return n

    def file_oids(self) -> set[bytes]:
        """Every oid the index places a chunk in (files and local chunks)."""
        rows = self._query("SELECT oid FROM file UNION SELECT DISTINCT oid FROM local_chunk")
        return {bytes(r[0]) for r in rows}

    # -- packs and where a store keeps chunks ---------------------------------------------

    def pack_row(self, store: int, pid: bytes, size: int, checked: float) -> int:
        with self._write() as db:
            db.execute(
                "INSERT INTO pack (store, pid, size, checked) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (store, pid) DO UPDATE SET checked = max(checked, excluded.checked),"
                " size = max(size, excluded.size)",
                (store, pid, size, checked),
            )
            sql = "SELECT id FROM pack WHERE store = ? AND pid = ?"
            return int(db.execute(sql, (store, pid)).fetchone()[0])

    def pack_size(self, store: int, pid: bytes) -> int | None:  # 0: its index is not known
        rows = self._query("SELECT size FROM pack WHERE store = ? AND pid = ?", (store, pid))
        return int(rows[0][0]) if rows else None

    def find_pack(self, store: int, pid: bytes) -> int | None:
        rows = self._query("SELECT id FROM pack WHERE store = ? AND pid = ?", (store, pid))
        return int(rows[0][0]) if rows else None

    def pack_checked(self, store: int, pid: bytes) -> float | None:
        """When the pack was last seen in `store` (4.8), or None for a pack not known."""
        rows = self._query("SELECT checked FROM pack WHERE store = ? AND pid = ?", (store, pid))
        return float(rows[0][0]) if rows else None

    def put_stored_chunks(
        self, store: int, pack: int, chunks: Iterable[tuple[bytes, int, int, int]]
    ) -> None:
        """Where `store` keeps chunks: (id, frame offset, frame length, encoding) in `pack`."""
        rows = [(store, cid[:KEY_SIZE], pack, off, flen, enc) for cid, off, flen, enc in chunks]
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO stored_chunk VALUES (?, ?, ?, ?, ?, ?)", rows)

    def stored_chunk(self, store: int, cid: bytes) -> tuple[bytes, int, int, int] | None:
        """Where `store` keeps chunk `cid`: (pack id, frame offset, frame length, encoding)."""
        sql = (
            "SELECT p.pid, s.off, s.flen, s.enc FROM stored_chunk s JOIN pack p ON p.id = s.pack "
            "WHERE s.store = ? AND s.id = ?"
        )
        rows = self._query(sql, (store, cid[:KEY_SIZE]))
        return (bytes(rows[0][0]), *rows[0][1:4]) if rows else None

    def stored_chunks_at(self, pack: int, start: int, end: int) -> list[StoredChunk]:
        """The frames the index places in `pack` within [start, end), in pack order."""
        sql = (
            "SELECT id, off, flen, enc FROM stored_chunk WHERE pack = ? AND off >= ? AND off < ?"
            " ORDER BY off"
        )
        return [
            StoredChunk(bytes(k), o, f, e) for k, o, f, e in self._query(sql, (pack, start, end))
        ]

    def drop_pack(self, store: int, pid: bytes) -> None:
        """A pack is gone from `store` (a 404, a listing): forget it, where it kept chunks, and
        every record that names it."""
        with self._write() as db:
            row = db.execute("SELECT id FROM pack WHERE store = ? AND pid = ?", (store, pid))
            found = row.fetchone()
            if found:
                db.execute("DELETE FROM stored_chunk WHERE pack = ?", (found[0],))
                db.execute("DELETE FROM pack WHERE id = ?", (found[0],))
            db.execute(_RECORDS_NAMING, (store, pid))
            db.execute("DELETE FROM key_chunk WHERE store = ? AND pid = ?", (store, pid))

    def drop_records_naming(self, store: int, oid: bytes) -> None:
        """A whole object (or a pack: `oid` its id) is gone from `store`: forget every record
        that names a range of it (a whole object's oid is stored padded to a pack id's length:
        rows.encode_terms)."""
        with self._write() as db:
            db.execute(_RECORDS_NAMING, (store, oid.ljust(ID_SIZE, b"\0")))

    # -- manifests and records --------------------------------------------------------------

    def manifests(self, store: int) -> set[bytes]:
        return {
            bytes(r[0]) for r in self._query("SELECT mid FROM manifest WHERE store = ?", (store,))
        }

    def add_manifest(self, store: int, mid: bytes, mtime: float, records: Iterable[Record],
                     key_chunks: Iterable[KeyChunk] = ()) -> None:  # fmt: skip
        rows = [(store, r.oid, mid, r.size, encode_terms(r.terms)) for r in records]
        keys = [(store, k.chunk_id[:KEY_SIZE], mid, k.pack, k.offset) for k in key_chunks]
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO manifest VALUES (?, ?, ?)", (store, mid, mtime))
            db.executemany("INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT OR REPLACE INTO key_chunk VALUES (?, ?, ?, ?, ?)", keys)

    def drop_manifests(self, store: int, mids: Iterable[bytes]) -> None:
        with self._write() as db:
            for mid in mids:
                db.execute("DELETE FROM manifest WHERE store = ? AND mid = ?", (store, mid))
                db.execute("DELETE FROM record WHERE store = ? AND mid = ?", (store, mid))
                db.execute("DELETE FROM key_chunk WHERE store = ? AND mid = ?", (store, mid))

    def holds(self, store: int, table: str) -> bool:  # any row of `store` in `table`?
        return bool(self._query(f"SELECT 1 FROM {table} WHERE store = ? LIMIT 1", (store,)))

    def key_ids(self, store: int) -> set[bytes]:  # the key chunks manifests list (4.6)
        return {bytes(k) for (k,) in self._query("SELECT id FROM key_chunk WHERE store=?", [store])}

    def key_chunk_packs(self, store: int, ids: Iterable[bytes]) -> dict[bytes, int]:
        """The packs that manifests of `store` say hold key chunks among `ids`, with how many
        of `ids` each holds, leaving out packs whose whole index is known (4.6)."""
        keys, out = sorted({i[:KEY_SIZE] for i in ids}), dict[bytes, int]()
        for part in (keys[i : i + 500] for i in range(0, len(keys), 500)):
            sql = (
                "SELECT k.pid, count(DISTINCT k.id) FROM key_chunk k LEFT JOIN pack p ON p.store"
                f" = k.store AND p.pid = k.pid WHERE k.store = ? AND k.id IN ({_marks(part)})"
                " AND coalesce(p.size, 0) = 0 GROUP BY k.pid"
            )
            for pid, n in self._query(sql, [store, *part]):
                out[bytes(pid)] = out.get(bytes(pid), 0) + int(n)
        return out

    def records(self, store: int, oid: bytes) -> list[StoredRecord]:
        """The records of `oid` in `store`, newest manifest first."""
        sql = (
            "SELECT r.mid, m.mtime, r.size, r.terms FROM record r JOIN manifest m"
            " ON m.store = r.store AND m.mid = r.mid WHERE r.store = ? AND r.oid = ?"
            " ORDER BY m.mtime DESC, r.mid"
        )
        return [
            StoredRecord(bytes(mid), mtime, Record(oid, size, decode_terms(terms)))
            for mid, mtime, size, terms in self._query(sql, (store, oid))
        ]

    def oids_naming(self, store: int, pid: bytes) -> set[bytes]:
        """The files whose records in `store` name pack `pid` in a term."""
        sql = "SELECT DISTINCT oid FROM record WHERE store = ? AND instr(terms, ?) > 0"
        return {bytes(r[0]) for r in self._query(sql, (store, pid))}

    def record_packs(self, store: int) -> set[bytes]:
        """Every pack a record of `store` names (fsck: packs named by none are garbage)."""
        rows = self._query("SELECT terms FROM record WHERE store = ?", (store,))
        return {t.source for (blob,) in rows for t in decode_terms(blob) if not t.whole}

    def drop_record(self, store: int, oid: bytes, mid: bytes) -> None:
        with self._write() as db:
            db.execute("DELETE FROM record WHERE store=? AND oid=? AND mid=?", (store, oid, mid))

    # -- upkeep -------------------------------------------------------------------------------

    def vacuum_if_sparse(self) -> bool:
        """VACUUM when more than a quarter of the pages are free (4.3)."""
        pages, free = (self._query(f"PRAGMA {p}")[0][0] for p in ("page_count", "freelist_count"))
        if not pages or free * 4 <= pages:
            return False
        with self._lock:
            self._db.execute("VACUUM")
        return True


def prune_index(data_dir: str, has: Callable[[str], bool]) -> int:
    """Upkeep from local gc and fsck (7.2, 7.3): forget the chunk lists of files not in the
    cache (`has(oid_hex)`), vacuum a sparse index; return how many were forgotten (0: no index)."""
    path = index_path(data_dir)
    if not os.path.exists(path):
        return 0
    index = LocalIndex(path)
    try:
        gone = [oid for oid in index.file_oids() if not has(oid.hex())]
        n = index.drop_files(gone) if gone else 0
        index.vacuum_if_sparse()
        return n
    finally:
        index.close()
