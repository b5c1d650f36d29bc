"""Keeping the database bounded: retention, WAL checkpoints, vacuum.

Items that produced no hit are deleted after `[storage] retention`. Hits are the users'
record and are kept unless `retention_hits` is set; then their hits and deliveries go, and
the item keeps only its key (title and text emptied) so that a feed still listing it
never makes it look new and alert again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.store.base import StoreBase
from watcher.store.snapshot import prune_tombstones
from watcher.timeparse import iso, utcnow


@dataclass
class PruneResult:
    items: int = 0  # items without hits deleted
    hits: int = 0  # hits deleted (retention_hits)
    deliveries: int = 0


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
            prune_tombstones(self)
        return result

    def checkpoint(self) -> None:
        """Keep SQLite's write-ahead log small (PostgreSQL looks after its own)."""
        self.engine.checkpoint()

    def vacuum(self) -> tuple[int, int]:
        """Give free space back (SQLite: VACUUM; PostgreSQL: VACUUM ANALYZE); returns the
        size before and after, in bytes."""
        before = self.engine.size()
        self.engine.vacuum()
        return before, self.engine.size()

    def size(self) -> int:
        """Bytes the database takes on disk."""
        return self.engine.size()
