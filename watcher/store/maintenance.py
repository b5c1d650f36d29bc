"""Keeping the database bounded (retention, WAL checkpoints, vacuum) and the daemon's row.

Items that produced no hit are deleted after `[storage] retention`. Hits are the users'
record and are kept unless `retention_hits` is set; then their hits and deliveries go, and
the item keeps only its key (title and text emptied) so that a feed still listing it
never makes it look new and alert again.

The running daemon keeps one row in the `daemon` table (pid, start, heartbeat), which
`regwatch status` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from watcher.store.base import StoreBase
from watcher.timeparse import iso, now_iso, utcnow


@dataclass
class PruneResult:
    items: int = 0  # items without hits deleted
    hits: int = 0  # hits deleted (retention_hits)
    deliveries: int = 0


def database_size(path: Path) -> int:
    """Bytes used by the database file, its WAL and shared-memory index."""
    return sum(
        p.stat().st_size
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


class MaintenanceStore(StoreBase):
    def prune(
        self,
        retention: float | None,
        retention_hits: float | None = None,
        now: datetime | None = None,
    ) -> PruneResult:
        """Delete what the retention settings allow, in one transaction."""
        result = PruneResult()
        now = now or utcnow()
        with self.writing("pruned rows"):
            if retention_hits is not None:
                old = iso(now - timedelta(seconds=retention_hits))
                old_hits = (
                    "SELECT h.id FROM hits h JOIN items i ON i.id = h.item_id "
                    "WHERE i.discovered < ?"
                )
                result.deliveries = self._execute(
                    f"DELETE FROM deliveries WHERE hit_id IN ({old_hits})", [old]
                ).rowcount
                item_ids = [
                    r[0]
                    for r in self._execute(
                        "SELECT DISTINCT i.id FROM items i JOIN hits h ON h.item_id = i.id "
                        "WHERE i.discovered < ?",
                        [old],
                    ).fetchall()
                ]
                result.hits = self._execute(
                    f"DELETE FROM hits WHERE id IN ({old_hits})", [old]
                ).rowcount
                for i in range(0, len(item_ids), 500):
                    chunk = item_ids[i : i + 500]
                    self._execute(
                        "UPDATE items SET title = '', text = '' "
                        f"WHERE id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
            if retention is not None:
                result.items = self._execute(
                    "DELETE FROM items WHERE discovered < ? AND NOT (title = '' AND text = '') "
                    "AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.item_id = items.id)",
                    [iso(now - timedelta(seconds=retention))],
                ).rowcount
        return result

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, so the -wal file stays small."""
        self._execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def vacuum(self) -> tuple[int, int]:
        """Checkpoint and VACUUM; returns the size before and after, in bytes."""
        before = database_size(self.path)
        self.checkpoint()
        self._execute("VACUUM")
        self.checkpoint()
        return before, database_size(self.path)

    # -- the daemon's row ------------------------------------------------------------------------

    def record_start(self, pid: int, host: str, version: str, config: str) -> None:
        """Write the daemon row at start-up."""
        at = now_iso()
        with self.writing("the daemon's start"):
            self.db.table("daemon").upsert(
                {
                    "id": 1,
                    "pid": pid,
                    "host": host,
                    "version": version,
                    "config": config,
                    "started_at": at,
                    "heartbeat_at": at,
                    "stopped_at": None,
                },
                pk="id",
            )

    def record_heartbeat(self) -> None:
        """The scheduler is alive: stamp the daemon row."""
        with self.writing("the daemon's heartbeat"):
            self._execute("UPDATE daemon SET heartbeat_at = ? WHERE id = 1", [now_iso()])

    def record_stop(self) -> None:
        """A clean stop: stamp the daemon row."""
        with self.writing("the daemon's stop"):
            self._execute("UPDATE daemon SET stopped_at = ? WHERE id = 1", [now_iso()])

    def daemon_row(self) -> dict[str, Any] | None:
        """The daemon's row (None on a database no daemon ever ran on)."""
        if "daemon" not in self.db.table_names():
            return None
        rows = self._query("SELECT * FROM daemon WHERE id = 1")
        return rows[0] if rows else None
