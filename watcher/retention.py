"""Keeping the database bounded: prune old items, checkpoint the WAL, vacuum.

Items that produced no hit are deleted after `[storage] retention`. Hits are the users'
record and are kept unless `retention_hits` is set; then their hits and deliveries go, and
the item keeps only its key (title and text emptied) so that a feed still listing it
never makes it look new and alert again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.store import Store

log = logging.getLogger(__name__)


@dataclass
class PruneResult:
    items: int = 0  # items without hits deleted
    hits: int = 0  # hits deleted (retention_hits)
    deliveries: int = 0


def cutoff(seconds: float, now: datetime | None = None) -> str:
    """The ISO timestamp `seconds` before `now` (as stored in `discovered`)."""
    return ((now or datetime.now(UTC)) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def prune(
    store: Store,
    retention: float | None,
    retention_hits: float | None = None,
    now: datetime | None = None,
) -> PruneResult:
    """Delete what the retention settings allow, in one transaction."""
    result = PruneResult()
    db = store.db
    with db.atomic():
        if retention_hits is not None:
            old = cutoff(retention_hits, now)
            old_hits = (
                "SELECT h.id FROM hits h JOIN items i ON i.id = h.item_id WHERE i.discovered < ?"
            )
            result.deliveries = db.execute(
                f"DELETE FROM deliveries WHERE hit_id IN ({old_hits})", [old]
            ).rowcount
            item_ids = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT i.id FROM items i JOIN hits h ON h.item_id = i.id "
                    "WHERE i.discovered < ?",
                    [old],
                ).fetchall()
            ]
            result.hits = db.execute(f"DELETE FROM hits WHERE id IN ({old_hits})", [old]).rowcount
            for i in range(0, len(item_ids), 500):
                chunk = item_ids[i : i + 500]
                db.execute(
                    f"UPDATE items SET title = '', text = '' WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
        if retention is not None:
            result.items = db.execute(
                "DELETE FROM items WHERE discovered < ? AND NOT (title = '' AND text = '') "
                "AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.item_id = items.id)",
                [cutoff(retention, now)],
            ).rowcount
    return result


def checkpoint(store: Store) -> None:
    """Copy the WAL into the database and truncate it, so the -wal file stays small."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def database_size(path: Path) -> int:
    """Bytes used by the database file, its WAL and shared-memory index."""
    return sum(
        p.stat().st_size
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


def vacuum(store: Store) -> tuple[int, int]:
    """Checkpoint and VACUUM; returns the size before and after, in bytes."""
    before = database_size(store.path)
    checkpoint(store)
    store.db.execute("VACUUM")
    checkpoint(store)
    return before, database_size(store.path)
