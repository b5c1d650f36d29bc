"""Keeping the database bounded: retention, WAL checkpoints, vacuum.

Items that produced no hit are deleted after `[storage] retention`. Hits are the users'
record and are kept unless `retention_hits` is set; then hits still `new` (never reviewed)
go with their deliveries and evidence, and the item keeps only its key (title and text
emptied) so that a feed still listing it never makes it look new and alert again. The
evidence of hits still `new` goes after `retention_evidence`; that of reviewed hits only
when asked (`vacuum --evidence`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.store.evidence import EvidenceStore
from watcher.store.snapshot import prune_tombstones
from watcher.timeparse import human_duration, iso, utcnow


@dataclass
class PruneResult:
    items: int = 0  # items without hits deleted
    hits: int = 0  # hits deleted (retention_hits)
    deliveries: int = 0
    evidence: int = 0  # hits whose evidence was pruned (retention_evidence)


class MaintenanceStore(EvidenceStore):
    def prune(
        self,
        retention: float | None,
        retention_hits: float | None = None,
        now: datetime | None = None,
        *,
        retention_evidence: float | None = None,
        all_evidence: bool = False,
    ) -> PruneResult:
        """Delete what the retention settings allow, in one transaction.

        Hits (and their evidence) go only while still `new` and never reviewed; evidence
        alone goes after `retention_evidence` for hits still `new`, or for every hit with
        `all_evidence` (`vacuum --evidence`). A pruned hit's evidence records when and why.
        """
        result = PruneResult()
        now = now or utcnow()
        with self.writing("pruned rows"):
            if retention_hits is not None:
                self._prune_hits(iso(now - timedelta(seconds=retention_hits)), result)
            if retention is not None:
                result.items = self._execute(
                    "DELETE FROM items WHERE discovered < ? AND NOT (title = '' AND text = '') "
                    "AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.item_id = items.id)",
                    [iso(now - timedelta(seconds=retention))],
                ).rowcount
            if retention_evidence is not None:
                age = human_duration(retention_evidence)
                why = (
                    f"vacuum --evidence: older than retention_evidence ({age})"
                    if all_evidence
                    else f"retention_evidence ({age}): the hit was still new"
                )
                result.evidence = self.prune_evidence(
                    iso(now - timedelta(seconds=retention_evidence)),
                    any_status=all_evidence,
                    why=why,
                    at=iso(now),
                )
            prune_tombstones(self)
        return result

    def _prune_hits(self, old: str, result: PruneResult) -> None:
        # Never a hit someone reviewed: it and its evidence are the team's record.
        rows = self._execute(
            "SELECT h.id, h.item_id FROM hits h JOIN items i ON i.id = h.item_id "
            "WHERE i.discovered < ? AND h.review_status = 'new' "
            "AND NOT EXISTS (SELECT 1 FROM review_log r WHERE r.hit_id = h.id)",
            [old],
        ).fetchall()
        hit_ids = [r[0] for r in rows]
        item_ids = sorted({r[1] for r in rows})
        for i in range(0, len(hit_ids), 500):
            chunk = hit_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            result.deliveries += self._execute(
                f"DELETE FROM deliveries WHERE hit_id IN ({marks})", chunk
            ).rowcount
            self.forget_evidence(chunk, why=None, at="")
            result.hits += self._execute(f"DELETE FROM hits WHERE id IN ({marks})", chunk).rowcount
        for i in range(0, len(item_ids), 500):
            chunk = item_ids[i : i + 500]
            # Emptied only once none of its hits is left (a reviewed one keeps its item whole).
            self._execute(
                "UPDATE items SET title = '', text = '' "
                f"WHERE id IN ({','.join('?' * len(chunk))}) "
                "AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.item_id = items.id)",
                chunk,
            )
        if hit_ids:
            self._drop_unlinked()

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
