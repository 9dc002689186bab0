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
        self._migrate()

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
