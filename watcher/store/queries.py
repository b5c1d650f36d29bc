"""What people ask of the record: hits, full-text search, sources, trends, rematch input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from watcher.model import Hit
from watcher.store.base import StoreBase, hit_from_row
from watcher.store.dialect import SQLITE, Dialect
from watcher.store.fulltext import search_for
from watcher.store.search import fts_errors
from watcher.timeparse import EVERY, period_of, periods

# Trend groups: the column (for topics, one row per (hit, topic) is joined in).
GROUPS = {
    "entity": "h.entity",
    "source": "i.source",
    "topic": "t.value",
    "status": "h.review_status",
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
        where: list[str] = []
        args: list[Any] = []
        if entity:
            where.append(self.dialect.nocase_equals("h.entity"))
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
            topics = self.dialect.json_values("h.topics", "t")
            where.append(
                f"EXISTS (SELECT 1 FROM {topics} WHERE {self.dialect.nocase_equals('t.value')})"
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
            sql, args = search_for(self.dialect).hits(columns, (where, args), search, cut)
        else:
            sql = f"""SELECT {columns}
               FROM hits h JOIN items i ON i.id = h.item_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC{cut}"""
        with fts_errors(search or "", self.engine.errors):
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
        where: list[str] = []
        args: list[Any] = []
        if source:
            where.append("i.source = ?")
            args.append(source)
        if since:
            where.append("COALESCE(i.published, i.discovered) >= ?")
            args.append(since)
        cut = f" LIMIT {int(limit)}" if limit else ""
        sql, args = search_for(self.dialect).items((where, args), query, cut)
        with fts_errors(query, self.engine.errors):
            return self._query(sql, args)

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        """Re-index every item in one transaction; `progress(n)` is told of each batch done."""
        with self.writing("the search index"):
            return search_for(self.dialect).rebuild(
                self._execute, self.engine.executemany, progress
            )

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
        return count_hits(
            self.engine, since=since, by=by, every=every, until=until, dialect=self.dialect
        )

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
    conn: Any,
    *,
    since: str,
    by: str = "entity",
    every: str = "week",
    until: str | None = None,
    dialect: Dialect = SQLITE,
) -> list[dict[str, Any]]:
    """Counts as tidy rows {period, <by>, hits}, every period present for every group.

    `conn` is anything with execute(sql, args).fetchall(): an Engine, or the plain SQLite
    connection Datasette hands the web view (read-only).
    """
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}")
    column = GROUPS[by]
    join = ", " + dialect.json_values("h.topics", "t") if by == "topic" else ""
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
