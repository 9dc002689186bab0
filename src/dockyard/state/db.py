"""Metadata store: SQLite in WAL mode, one transaction per change.

A ``kill -9`` at any point leaves either the old record or the new one, never
half of one (SQLite's atomic commit).  Blobs (layers, configs) live on disk,
content-addressed; this database only holds the records that point at them.
Each object is stored as a JSON document plus the columns we look it up by.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

# Append-only: each entry upgrades the schema from version i to i+1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE tags (
        ref TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        parent TEXT,
        cache_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        refcount INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE execs (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    """,
]


WAL_SIZE_LIMIT = 4 * 1024 * 1024
FREE_LIMIT = 1024 * 1024


class Database:
    """A thin, thread-safe wrapper around one SQLite file."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # a checkpointed WAL is cut back to this size (else it keeps its largest size for ever)
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._ensure_incremental_vacuum()
        self._migrate()

    def _ensure_incremental_vacuum(self) -> None:
        """Free pages can be given back to the file system (auto_vacuum=INCREMENTAL).

        The mode of an existing database changes only with a VACUUM: done once, here."""
        if self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._conn.execute("VACUUM")

    def _compact_if_needed(self) -> None:
        """After a write: when more than FREE_LIMIT bytes of pages are free (a large record was
        deleted), give them back and cut the WAL, so the files do not keep their peak size."""
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        if free * self._page_size() <= FREE_LIMIT:
            return
        # executescript steps it to the end (execute() would step once: one page)
        self._conn.executescript("PRAGMA incremental_vacuum;")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _page_size(self) -> int:
        if not hasattr(self, "_page"):
            self._page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        return self._page

    def _migrate(self) -> None:
        with self.tx() as cur:
            version = cur.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        cur.execute(statement)
            if version != len(MIGRATIONS):
                cur.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: all of it lands, or none of it."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
                self._compact_if_needed()
            finally:
                cur.close()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def dumps(data: Any) -> str:
    # allow_nan=False: an Infinity or NaN would make the record unreadable JSON; refuse it here
    return json.dumps(data, separators=(",", ":"), sort_keys=True, allow_nan=False)


def loads(text: str) -> Any:
    return json.loads(text)
