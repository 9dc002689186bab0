"""Which registry blob holds which layer (Docker's ``distribution/metadata`` v2metadata).

A pulled layer is stored unpacked, so its compressed blob (and digest) is
gone; to push it again without recompressing and uploading, we remember per
DiffID the blob digests it came from or went to, with registry and
repository.  ``push`` then asks the registry (HEAD) or mounts across
repositories.  Kept in the ``kv`` table, at most ``KEEP`` entries per layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.state.db import Database

_KEY = "distmeta/"
KEEP = 16


@dataclass(frozen=True)
class BlobSource:
    digest: str
    registry: str
    repository: str


def lookup(db: Database, diff_id: str) -> list[BlobSource]:
    row = db.query_one("SELECT value FROM kv WHERE key=?", (_KEY + diff_id,))
    if row is None:
        return []
    try:
        return [BlobSource(e["digest"], e["registry"], e["repository"]) for e in json.loads(row["value"])]
    except (ValueError, KeyError, TypeError):
        return []


def add(db: Database, diff_id: str, source: BlobSource) -> None:
    """Remember ``source`` for ``diff_id`` (newest first)."""
    with db.tx() as cur:
        row = cur.execute("SELECT value FROM kv WHERE key=?", (_KEY + diff_id,)).fetchone()
        try:
            entries = json.loads(row["value"]) if row is not None else []
        except ValueError:
            entries = []
        new = {"digest": source.digest, "registry": source.registry, "repository": source.repository}
        entries = [new] + [e for e in entries if e != new]
        cur.execute("INSERT INTO kv(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (_KEY + diff_id, json.dumps(entries[:KEEP])))
