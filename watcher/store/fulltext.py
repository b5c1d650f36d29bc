"""Full-text search SQL, one class per engine: SQLite FTS5, PostgreSQL tsvector.

Both index an item's title (weighted 4) and text (weighted 1), folded for case and accents
(FTS5's unicode61 with remove_diacritics; PostgreSQL's `regwatch` text search
configuration, which runs `unaccent` before `simple`). Both rank the best matches first,
then the newest, and mark the matching words of the best column in a snippet. The query
language is one (search.py): the same search finds the same items on either engine.

`rank` is "lower is better" on both: FTS5's bm25 as it is, PostgreSQL's ts_rank negated.
The two scores are not comparable with each other; only their order means something.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from watcher.store.dialect import Dialect
from watcher.store.search import fts_query, tsquery
from watcher.text.clean import MARK_CLOSE, MARK_OPEN

Filters = tuple[list[str], list[Any]]  # SQL conditions on items `i` (and hits `h`), their args


class Fts5Search:
    """SQLite: the items_fts FTS5 table, kept in step with items by triggers."""

    RANK = "bm25(items_fts, 4.0, 1.0)"
    SNIPPET = f"snippet(items_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', '…', 24)"

    def hits(self, columns: str, filters: Filters, query: str, cut: str) -> tuple[str, list[Any]]:
        """Hits whose item matches `query`: best first, then newest; with `match` and `rank`."""
        where, args = filters
        # Rank, keep the best, then make snippets for those only (a snippet is costly).
        match = fts_query(query)
        conditions = " AND ".join([*where, "items_fts MATCH ?"])
        sql = f"""WITH top AS (
                SELECT h.id AS hit_id, {self.RANK} AS rank,
                    COALESCE(i.published, i.discovered) AS day
                FROM items_fts JOIN items i INDEXED BY items_day ON i.id = items_fts.rowid
                JOIN hits h ON h.item_id = i.id
                WHERE {conditions}
                ORDER BY rank, day DESC, h.id DESC{cut})
            SELECT {columns}, {self.SNIPPET} AS match, round(top.rank, 3) AS rank
            FROM top JOIN hits h ON h.id = top.hit_id JOIN items i ON i.id = h.item_id
            CROSS JOIN items_fts ON items_fts.rowid = i.id
            WHERE items_fts MATCH ?
            ORDER BY top.rank, top.day DESC, h.id DESC"""
        return sql, [*args, match, match]

    def items(self, filters: Filters, query: str, cut: str) -> tuple[str, list[Any]]:
        """Items matching `query` (hit or not), best first, then newest."""
        where, args = filters
        match = fts_query(query)
        conditions = " AND ".join(["items_fts MATCH ?", *where])
        # Rank first, then make snippets for the rows kept only: a snippet costs far more
        # than a rank, and SQLite would make one for every match before sorting. CROSS JOIN
        # keeps `top` as the outer loop, so the index is read by rowid, not scanned again.
        sql = f"""WITH top AS (
                    SELECT i.id, {self.RANK} AS rank, COALESCE(i.published, i.discovered) AS day
                    FROM items_fts JOIN items i INDEXED BY items_day ON i.id = items_fts.rowid
                    WHERE {conditions}
                    ORDER BY rank, day DESC{cut})
                  SELECT i.id, i.source, top.day AS published, i.title, i.link,
                      {self.SNIPPET} AS match,
                      (SELECT group_concat(h.entity, ', ') FROM hits h WHERE h.item_id = i.id)
                          AS entities,
                      round(top.rank, 3) AS rank
                  FROM top CROSS JOIN items_fts ON items_fts.rowid = top.id
                  JOIN items i ON i.id = top.id
                  WHERE items_fts MATCH ?
                  ORDER BY top.rank, top.day DESC"""
        return sql, [match, *args, match]

    def rebuild(
        self,
        execute: Callable[[str, Sequence[Any]], Any],
        executemany: Callable[[str, Sequence[Sequence[Any]]], None],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Re-index every item (inside the caller's transaction); the number indexed."""
        total = 0
        execute("INSERT INTO items_fts (items_fts) VALUES ('delete-all')", [])
        last = 0
        while True:
            rows = execute(
                "SELECT id, title, text FROM items WHERE id > ? ORDER BY id LIMIT 2000", [last]
            ).fetchall()
            if not rows:
                break
            executemany("INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)", rows)
            last = rows[-1][0]
            total += len(rows)
            if progress:
                progress(len(rows))
        execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')", [])
        return total


# ts_rank's weights are {D, C, B, A}: text is B, the title A, four times as much (as bm25 above).
_PG_RANK = "-ts_rank('{0, 0, 0.25, 1}', i.search, q.q)"
_PG_OPTIONS = (
    f'StartSel="{MARK_OPEN}", StopSel="{MARK_CLOSE}", MaxWords=24, MinWords=12, '
    'ShortWord=0, MaxFragments=1, FragmentDelimiter=" … "'
)
# The snippet comes from the text when the text matches, else from the title.
_PG_SNIPPET = (
    "CASE WHEN to_tsvector('regwatch', i.text) @@ q.q "
    f"THEN ts_headline('regwatch', i.text, q.q, '{_PG_OPTIONS}') "
    f"ELSE ts_headline('regwatch', i.title, q.q, '{_PG_OPTIONS}') END"
)


class PostgresSearch:
    """PostgreSQL: items.search, a generated tsvector with a GIN index (migration 030)."""

    def hits(self, columns: str, filters: Filters, query: str, cut: str) -> tuple[str, list[Any]]:
        where, args = filters
        conditions = " AND ".join([*where, "i.search @@ q.q"])
        sql = f"""WITH q AS (SELECT to_tsquery('regwatch', ?) AS q),
            top AS (
                SELECT h.id AS hit_id, {_PG_RANK} AS rank,
                    COALESCE(i.published, i.discovered) AS day
                FROM q, items i JOIN hits h ON h.item_id = i.id
                WHERE {conditions}
                ORDER BY rank, day DESC, h.id DESC{cut})
            SELECT {columns}, {_PG_SNIPPET} AS match, round(top.rank::numeric, 3)::float8 AS rank
            FROM q, top JOIN hits h ON h.id = top.hit_id JOIN items i ON i.id = h.item_id
            ORDER BY top.rank, top.day DESC, h.id DESC"""
        return sql, [tsquery(query), *args]

    def items(self, filters: Filters, query: str, cut: str) -> tuple[str, list[Any]]:
        where, args = filters
        conditions = " AND ".join(["i.search @@ q.q", *where])
        sql = f"""WITH q AS (SELECT to_tsquery('regwatch', ?) AS q),
            top AS (
                SELECT i.id, {_PG_RANK} AS rank, COALESCE(i.published, i.discovered) AS day
                FROM q, items i
                WHERE {conditions}
                ORDER BY rank, day DESC{cut})
            SELECT i.id, i.source, top.day AS published, i.title, i.link, {_PG_SNIPPET} AS match,
                (SELECT string_agg(h.entity, ', ' ORDER BY h.id) FROM hits h
                 WHERE h.item_id = i.id) AS entities,
                round(top.rank::numeric, 3)::float8 AS rank
            FROM q, top JOIN items i ON i.id = top.id
            ORDER BY top.rank, top.day DESC"""
        return sql, [tsquery(query), *args]

    def rebuild(
        self,
        execute: Callable[[str, Sequence[Any]], Any],
        executemany: Callable[[str, Sequence[Sequence[Any]]], None],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Recompute every item's tsvector (an UPDATE recomputes a generated column)."""
        total = 0
        last = 0
        while True:
            rows = execute(
                "SELECT id FROM items WHERE id > ? ORDER BY id LIMIT 2000", [last]
            ).fetchall()
            if not rows:
                break
            execute("UPDATE items SET title = title WHERE id > ? AND id <= ?", [last, rows[-1][0]])
            last = rows[-1][0]
            total += len(rows)
            if progress:
                progress(len(rows))
        return total


def search_for(dialect: Dialect) -> Fts5Search | PostgresSearch:
    """The full-text search of an engine's dialect."""
    return PostgresSearch() if dialect.name == "postgresql" else Fts5Search()
