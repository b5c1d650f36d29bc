"""Reviews: every hit's status (new, reviewed, actioned, dismissed), and the log of changes.

The status lives on the hit (`review_status`, `reviewed_by`, `reviewed_at`, `review_note`);
every change is also appended to `review_log` (who, when, from, to, note), which is never
updated. A review is one transaction that locks its hits, then reads the clock and the
statuses it replaces, so two people reviewing one hit at once both get a row, in order.
"""

from __future__ import annotations

from typing import Any

from watcher.errors import WatcherError
from watcher.model import REVIEW_STATUSES, Review
from watcher.store.base import StoreBase
from watcher.timeparse import now_iso


class ReviewError(WatcherError):
    """A review that cannot be recorded: an unknown hit or story, or a bad status."""


class ReviewStore(StoreBase):
    def review_hits(
        self, hit_ids: list[int], status: str, by: str, note: str | None = None
    ) -> list[Review]:
        """Set these hits' status, attributed to `by`; all or none. Returns the log rows."""
        if status not in REVIEW_STATUSES:
            raise ReviewError(
                f"unknown review status {status!r}", hint="one of: " + ", ".join(REVIEW_STATUSES)
            )
        if not by.strip():
            raise ReviewError("a review needs a reviewer's name", hint="pass --by NAME")
        ids = list(dict.fromkeys(hit_ids))
        if not ids:
            raise ReviewError("no hit to review", hint="give hit ids, or --story STORY_ID")
        note = note if note and note.strip() else None
        logged = []
        with self.writing("a review"):
            # Lock the hits first (SQLite: the write lock BEGIN IMMEDIATE took; PostgreSQL:
            # their rows), then read the clock: two concurrent reviews of a hit get their
            # times, ids and from-statuses in the same order, so the log reads as a chain.
            marks = ", ".join("?" * len(ids))
            current = dict(
                self._execute(
                    f"SELECT id, review_status FROM hits WHERE id IN ({marks}) ORDER BY id"
                    + self.dialect.for_update,
                    ids,
                ).fetchall()
            )
            missing = [i for i in ids if i not in current]
            if missing:
                raise ReviewError(
                    f"no hit with id {missing[0]}", hint="`regwatch hits` lists the hit ids"
                )
            at = now_iso()
            for hit_id in ids:
                log_id = self._insert(
                    "INSERT INTO review_log (hit_id, at, reviewer, from_status, to_status, note) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [hit_id, at, by, current[hit_id], status, note],
                )
                assert log_id is not None  # no ON CONFLICT clause: the row is always added
                self._execute(
                    "UPDATE hits SET review_status = ?, reviewed_by = ?, reviewed_at = ?, "
                    "review_note = ? WHERE id = ?",
                    [status, by, at, note, hit_id],
                )
                logged.append(Review(log_id, hit_id, at, by, str(current[hit_id]), status, note))
        return logged

    def story_hit_ids(self, story: int) -> list[int]:
        """The ids of a story's hits, oldest first; ReviewError when there is no such story."""
        ids = [
            int(r[0])
            for r in self._execute(
                "SELECT id FROM hits WHERE story_id = ? ORDER BY id", [story]
            ).fetchall()
        ]
        if not ids:
            raise ReviewError(
                f"no story with id {story}", hint="`regwatch hits --stories` lists the stories"
            )
        return ids

    def review_log(
        self, *, since: str | None = None, hit_id: int | None = None, limit: int | None = None
    ) -> list[Review]:
        """The review log, newest first: every change since `since`, or of one hit."""
        where: list[str] = []
        args: list[object] = []
        if since:
            where.append("at >= ?")
            args.append(since)
        if hit_id is not None:
            where.append("hit_id = ?")
            args.append(hit_id)
        if "review_log" not in self.engine.table_names():
            return []  # a database from before reviews, read read-only
        sql = (
            "SELECT id, hit_id, at, reviewer, from_status, to_status, note FROM review_log"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY at DESC, id DESC"
            + (f" LIMIT {int(limit)}" if limit else "")
        )
        return [
            Review(
                r["id"],
                r["hit_id"],
                r["at"],
                r["reviewer"],
                r["from_status"],
                r["to_status"],
                r["note"],
            )
            for r in self._query(sql, args)
        ]

    def review_backlog(self) -> dict[str, Any]:
        """Hits by review status, and when the oldest hit still `new` was found."""
        if not self.has_column("hits", "review_status"):
            total = int(self._value("SELECT COUNT(*) FROM hits") or 0)
            oldest = self._value("SELECT MIN(created) FROM hits")
            return {"counts": {"new": total}, "oldest_new": oldest}
        counts = dict.fromkeys(REVIEW_STATUSES, 0)
        for status, n in self._execute(
            "SELECT review_status, COUNT(*) FROM hits GROUP BY review_status"
        ).fetchall():
            counts[str(status)] = int(n)
        oldest = self._value("SELECT MIN(created) FROM hits WHERE review_status = 'new'")
        return {"counts": counts, "oldest_new": oldest}
