"""Opening the local index's SQLite file (docs/chunked-store.md, 4.3): its schema, the
pragmas several processes need to share it (WAL, a busy timeout), and the one error line when
it cannot be used. index.py holds what is read and written in it."""

from __future__ import annotations

import os
import sqlite3
import time

from ...errors import GitDataError

SCHEMA_VERSION = 1
MEMORY = ":memory:"  # an index for this process only (where the file cannot be written)
BUSY_TIMEOUT = 10.0

SCHEMA = """
CREATE TABLE store (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
    format TEXT, legacy INTEGER, synced REAL);
CREATE TABLE file (oid BLOB PRIMARY KEY, size INTEGER NOT NULL, chunks BLOB NOT NULL)
    WITHOUT ROWID;
CREATE TABLE local_chunk (id BLOB PRIMARY KEY, oid BLOB NOT NULL, off INTEGER NOT NULL,
    len INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE pack (id INTEGER PRIMARY KEY, store INTEGER NOT NULL, pid BLOB NOT NULL,
    size INTEGER NOT NULL, checked REAL NOT NULL, UNIQUE (store, pid));
CREATE TABLE stored_chunk (store INTEGER NOT NULL, id BLOB NOT NULL, pack INTEGER NOT NULL,
    off INTEGER NOT NULL, flen INTEGER NOT NULL, enc INTEGER NOT NULL,
    PRIMARY KEY (store, id)) WITHOUT ROWID;
CREATE INDEX stored_chunk_at ON stored_chunk (pack, off);
CREATE TABLE manifest (store INTEGER NOT NULL, mid BLOB NOT NULL, mtime REAL NOT NULL,
    PRIMARY KEY (store, mid)) WITHOUT ROWID;
CREATE TABLE record (store INTEGER NOT NULL, oid BLOB NOT NULL, mid BLOB NOT NULL,
    size INTEGER NOT NULL, terms BLOB NOT NULL, PRIMARY KEY (store, oid, mid)) WITHOUT ROWID;
"""
#: added to schema 1, where missing (older gitdata ignores it): key chunks of manifests (4.6)
ADDED = """CREATE TABLE IF NOT EXISTS key_chunk (store INTEGER NOT NULL, id BLOB NOT NULL,
    mid BLOB NOT NULL, pid BLOB NOT NULL, off INTEGER NOT NULL,
    PRIMARY KEY (store, id, mid, pid)) WITHOUT ROWID"""


class LocalIndexError(GitDataError):
    """The local index cannot be used (a newer schema, a damaged file)."""

    unwritable = False  # the file cannot be made or opened (a read-only repository)


def index_path(data_dir: str) -> str:
    """`<git common dir>/data/chunked/index.sqlite`, from `<git common dir>/data`."""
    return os.path.join(data_dir, "chunked", "index.sqlite")


def connect(path: str) -> sqlite3.Connection:
    """One connection to the index at `path` (made if missing, schema set up), shared by
    threads; a LocalIndexError when it cannot be used."""
    db = None
    try:
        if path != MEMORY:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        _wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
        _setup(db, path)
        return db
    except BaseException as e:
        if db is not None:
            db.close()
        if not isinstance(e, (sqlite3.DatabaseError, OSError)):
            raise  # a newer schema says so itself
        err = LocalIndexError(
            f"cannot use the chunked store's local index {path}: {e}",
            "delete it; it is rebuilt as needed (only dedup is lost meanwhile, never data)",
        )
        err.unwritable = isinstance(e, (OSError, sqlite3.OperationalError))
        raise err from e


def _wal(db: sqlite3.Connection) -> None:
    """Switch to the WAL journal. Switching a new file takes an exclusive lock, and SQLite
    answers "database is locked" at once, without the busy timeout, while another process
    opens the same new file: retry until BUSY_TIMEOUT."""
    until = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= until:
                raise
            time.sleep(0.01)


def _setup(db: sqlite3.Connection, path: str) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)  # executescript would commit on its own
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise LocalIndexError(
                f"the chunked store's local index {path} was written by a newer "
                f"gitdata (schema {version})",
                "delete it; it is rebuilt as needed",
            )
        db.execute(ADDED)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
