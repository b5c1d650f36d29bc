"""What people ask of the record: hits, full-text search, sources, trends, rematch input."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from watcher.model import Hit
from watcher.store.base import StoreBase, hit_from_row
from watcher.store.search import RANK, SNIPPET, fts_errors, fts_query
from watcher.timeparse import EVERY, period_of, periods

# Trend groups: the column, and the join that makes one row per (hit, topic) for topics.
GROUPS = {
    "entity": ("h.entity", ""),
    "source": ("i.source", ""),
    "topic": ("t.value", ", json_each(h.topics) t"),
    "status": ("h.review_status", ""),
}
# The date a hit counts at: its item's publication, else when regwatch found it.
WHEN = "substr(COALESCE(i.published, h.created), 1, 10)"


class QueryStore(StoreBase):
    def query_hits(
        self,
        *,
        entity: str | None = None,
        source: str | None = None,
        since: str | None = None,
        search: str | None = None,
        limit: int | None = 50,
        topic: str | None = None,
        status: str | None = None,
        until: str | None = None,
        offset: int = 0,
    ) -> list[Hit]:
        """Hits newest first, with their item's title, link, source and date.

        With `search` (full-text, see store/search.py) the hits are ranked by relevance, then
        date, and each has `match`: a snippet with the matching words marked.
        """
        where, args = [], []
        if entity:
            where.append("h.entity = ? COLLATE NOCASE")
            args.append(entity)
        if source:
            where.append("i.source = ?")
            args.append(source)
        if since:
            where.append("COALESCE(i.published, h.created) >= ?")
            args.append(since)
        if until:
            where.append("COALESCE(i.published, h.created) < ?")
            args.append(until)
        if topic:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(h.topics) t WHERE t.value = ? COLLATE NOCASE)"
            )
            args.append(topic)
        if status:
            # A database from before reviews (read read-only) has every hit `new`.
            have = self.has_column("hits", "review_status")
            where.append("h.review_status = ?" if have else "'new' = ?")
            args.append(status)
        columns = self.hit_columns()
        cut = f" LIMIT {int(limit)}" if limit else ""
        if limit and offset:
            cut += f" OFFSET {int(offset)}"
        if search:
            # Rank, keep the best, then make snippets for those only (a snippet is costly).
            query = fts_query(search)
            where.append("items_fts MATCH ?")
            args.append(query)
            sql = f"""WITH top AS (
                    SELECT h.id AS hit_id, {RANK} AS rank,
                        COALESCE(i.published, i.discovered) AS day
                    FROM items_fts JOIN items i INDEXED BY items_day ON i.id = items_fts.rowid
                    JOIN hits h ON h.item_id = i.id
                    WHERE {" AND ".join(where)}
                    ORDER BY rank, day DESC, h.id DESC{cut})
                SELECT {columns}, {SNIPPET} AS match, round(top.rank, 3) AS rank
                FROM top JOIN hits h ON h.id = top.hit_id JOIN items i ON i.id = h.item_id
                CROSS JOIN items_fts ON items_fts.rowid = i.id
                WHERE items_fts MATCH ?
                ORDER BY top.rank, top.day DESC, h.id DESC"""
            args.append(query)
        else:
            sql = f"""SELECT {columns}
               FROM hits h JOIN items i ON i.id = h.item_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC{cut}"""
        with fts_errors(search or ""):
            return [hit_from_row(r) for r in self._query(sql, args)]

    def search_items(
        self,
        query: str,
        *,
        source: str | None = None,
        since: str | None = None,
        limit: int | None = 20,
    ) -> list[dict[str, Any]]:
        """Stored items matching `query` (hit or not), most relevant first, then newest."""
        where, args = ["items_fts MATCH ?"], [fts_query(query)]
        if source:
            where.append("i.source = ?")
            args.append(source)
        if since:
            where.append("COALESCE(i.published, i.discovered) >= ?")
            args.append(since)
        # Rank first, then make snippets for the rows kept only: a snippet costs far more
        # than a rank, and SQLite would make one for every match before sorting. CROSS JOIN
        # keeps `top` as the outer loop, so the index is read by rowid, not scanned again.
        sql = f"""WITH top AS (
                    SELECT i.id, {RANK} AS rank, COALESCE(i.published, i.discovered) AS day
                    FROM items_fts JOIN items i INDEXED BY items_day ON i.id = items_fts.rowid
                    WHERE {" AND ".join(where)}
                    ORDER BY rank, day DESC {f"LIMIT {int(limit)}" if limit else ""})
                  SELECT i.id, i.source, top.day AS published, i.title, i.link, {SNIPPET} AS match,
                      (SELECT group_concat(h.entity, ', ') FROM hits h WHERE h.item_id = i.id)
                          AS entities,
                      round(top.rank, 3) AS rank
                  FROM top CROSS JOIN items_fts ON items_fts.rowid = top.id
                  JOIN items i ON i.id = top.id
                  WHERE items_fts MATCH ?
                  ORDER BY top.rank, top.day DESC"""
        args.append(args[0])
        with fts_errors(query):
            return self._query(sql, args)

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        """Re-index every item in one transaction; `progress(n)` is told of each batch done."""
        total = 0
        with self.writing("the search index"):
            self._execute("INSERT INTO items_fts (items_fts) VALUES ('delete-all')")
            last = 0
            while True:
                rows = self._execute(
                    "SELECT id, title, text FROM items WHERE id > ? ORDER BY id LIMIT 2000", [last]
                ).fetchall()
                if not rows:
                    break
                self.db.conn.executemany(
                    "INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)", rows
                )
                last = rows[-1][0]
                total += len(rows)
                if progress:
                    progress(len(rows))
            self._execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
        return total

    def hit_choices(self) -> dict[str, list[str]]:
        """The entities and sources that have hits, for a reviewer's filters."""
        return {
            "entities": [
                str(r[0])
                for r in self._execute(
                    "SELECT DISTINCT entity FROM hits ORDER BY entity"
                ).fetchall()
            ],
            "sources": [
                str(r[0])
                for r in self._execute(
                    "SELECT DISTINCT i.source FROM hits h JOIN items i ON i.id = h.item_id "
                    "ORDER BY i.source"
                ).fetchall()
            ],
        }

    def item_count(self) -> int:
        return int(self._value("SELECT COUNT(*) FROM items") or 0)

    def get_hit(self, hit_id: int) -> Hit | None:
        """One hit, or None if there is no such hit."""
        rows = self._query(
            f"SELECT {self.hit_columns()} FROM hits h JOIN items i ON i.id = h.item_id "
            "WHERE h.id = ?",
            [hit_id],
        )
        return hit_from_row(rows[0]) if rows else None

    def item_text(self, item_id: int) -> str:
        """The cleaned text stored for an item ("" if it was pruned)."""
        return str(self._value("SELECT text FROM items WHERE id = ?", [item_id]) or "")

    def source_report(self) -> list[dict[str, Any]]:
        """One row per stored source with its last poll, status, error, items and hits."""
        return self._query(
            # s.*: a database not migrated yet (read-only here) still answers.
            """SELECT s.*,
                   (SELECT COUNT(*) FROM items i WHERE i.source = s.name) AS items,
                   (SELECT COUNT(*) FROM hits h JOIN items i ON i.id = h.item_id
                    WHERE i.source = s.name) AS hits
            FROM sources s ORDER BY s.name"""
        )

    def poll_states(self) -> list[dict[str, Any]]:
        """Each stored source's name, last successful poll and consecutive failures."""
        return self._query("SELECT name, last_success_at, failures FROM sources ORDER BY name")

    def hit_counts(
        self, *, since: str, by: str = "entity", every: str = "week", until: str | None = None
    ) -> list[dict[str, Any]]:
        """Hit counts as tidy rows {period, <by>, hits} (see `count_hits`)."""
        return count_hits(self.db.conn, since=since, by=by, every=every, until=until)

    # -- rematch ---------------------------------------------------------------------------------

    def count_items_since(self, since: str | None) -> int:
        """How many items `items_since` gives."""
        where = "WHERE COALESCE(published, discovered) >= ?" if since else ""
        return int(self._value(f"SELECT COUNT(*) FROM items {where}", [since] if since else []))

    def items_since(self, since: str | None, batch: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Stored items published (or discovered) since `since`, in batches, oldest first."""
        where = "WHERE COALESCE(published, discovered) >= ? AND" if since else "WHERE"
        last = 0
        while True:
            rows = self._query(
                f"SELECT id, source, title, text, link FROM items {where} id > ? "
                f"ORDER BY id LIMIT {int(batch)}",
                [since, last] if since else [last],
            )
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def hits_of_items(self, item_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
        """Existing hits of these items: item id -> entity -> {id, unmatched_at}."""
        out: dict[int, dict[str, dict[str, Any]]] = {}
        if not item_ids:
            return out
        marks = ",".join("?" * len(item_ids))
        for r in self._query(
            f"SELECT id, item_id, entity, unmatched_at FROM hits WHERE item_id IN ({marks})",
            item_ids,
        ):
            out.setdefault(r["item_id"], {})[r["entity"]] = r
        return out

    def set_unmatched(self, hit_id: int, at: str | None) -> None:
        """Record that a hit no longer matches the config (`at`), or matches again (None)."""
        self._execute("UPDATE hits SET unmatched_at = ? WHERE id = ?", [at, hit_id])


def count_hits(
    conn: sqlite3.Connection,
    *,
    since: str,
    by: str = "entity",
    every: str = "week",
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Counts as tidy rows {period, <by>, hits}, every period present for every group.

    Takes a plain connection so the web view can run it on Datasette's read-only one.
    """
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}")
    column, join = GROUPS[by]
    start = datetime.fromisoformat(since).date()
    end = datetime.fromisoformat(until).date() if until else datetime.now(UTC).date()
    counts: dict[tuple[str, str], int] = {}
    groups: set[str] = set()
    rows = conn.execute(
        f"""SELECT {column} AS grp, {WHEN} AS day, COUNT(*) FROM hits h
            JOIN items i ON i.id = h.item_id{join}
            WHERE {WHEN} >= ? AND {WHEN} <= ? GROUP BY grp, day""",
        [start.isoformat(), end.isoformat()],
    ).fetchall()
    labels = periods(start, end, every)
    for grp, day, n in rows:
        try:
            label = period_of(date.fromisoformat(day), every)
        except (TypeError, ValueError):
            continue  # an item date regwatch could not read: left out rather than misfiled
        groups.add(str(grp))
        counts[(label, str(grp))] = counts.get((label, str(grp)), 0) + n
    return [
        {"period": p, by: g, "hits": counts.get((p, g), 0)}
        for p in labels
        for g in sorted(groups, key=str.casefold)
    ]
