"""The hit database: SQLite through sqlite-utils, in WAL mode, with migrations.

Tables: sources (poll state), items (every item seen, with its text), hits (item x entity)
and deliveries (hit x channel). A poll's writes for one source go in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from watcher.errors import StorageError
from watcher.migrations import MIGRATIONS


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class SourceState:
    """What the database remembers of a source between polls."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_poll_at: str | None = None
    failures: int = 0
    next_poll_at: str | None = None  # no poll before this (backoff, Retry-After)
    moved_to: str | None = None  # where permanent redirects led; polled instead of `url`
    gone_at: str | None = None  # when a 410 disabled the source


@dataclass
class NewHit:
    """A hit to save: the item's key within its source and the mention found."""

    item_key: str
    entity: str
    matched: str
    field: str
    start: int
    end: int
    snippet: str
    topics: tuple[str, ...] = ()
    alias: str | None = None  # the configured alias that matched
    kind: str = "alias"  # "alias", "exact_alias" or "weak_alias"
    confirmed_by: str | None = None  # context term that confirmed a weak alias
    marked: str | None = None  # snippet with the mention marked **like this**


class Store:
    """The database of one regwatch installation."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise StorageError(
                        f"database {self.path} does not exist yet",
                        hint="run `regwatch poll` or start the daemon first",
                    )
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=30)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                # FULL: a committed hit or delivery survives power loss, not just a crash.
                self.db.execute("PRAGMA synchronous = FULL")
                self.db.execute("PRAGMA foreign_keys = ON")
                self.migrate()
            elif "_migrations" not in self.db.table_names():
                raise StorageError(f"{self.path} is not a regwatch database")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"cannot open database {self.path}: {exc}",
                hint="check the path in [storage] and that the folder is writable",
            ) from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """One transaction; an SQLite failure (disk full, read-only) becomes a StorageError."""
        try:
            with self.db.atomic():
                yield
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot write {what} to {self.path}: {exc}",
                hint="check free disk space and write permission; nothing was half-written",
            ) from None

    # -- schema --------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied."""
        if "_migrations" not in self.db.table_names():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
        done = {r["name"] for r in self.db.query("SELECT name FROM _migrations")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self.db.atomic():
                step(self.db)
                self.db.execute("INSERT INTO _migrations VALUES (?, ?)", [name, now_iso()])
            applied.append(name)
        return applied

    # -- sources -------------------------------------------------------------------------------

    def source_state(self, name: str, url: str) -> SourceState:
        """The stored state of a source, or a fresh one if it was never polled."""
        rows = list(self.db.query("SELECT * FROM sources WHERE name = ?", [name]))
        if not rows:
            return SourceState(name=name, url=url)
        r = rows[0]
        return SourceState(
            name=name,
            url=r["url"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            body_hash=r["body_hash"],
            first_poll_at=r["first_poll_at"],
            failures=r["failures"],
            next_poll_at=r.get("next_poll_at"),
            moved_to=r.get("moved_to"),
            gone_at=r.get("gone_at"),
        )

    def record_source(
        self,
        state: SourceState,
        *,
        status: str,
        http_status: int | None,
        error: str | None = None,
        at: str | None = None,
    ) -> None:
        """Upsert a source's state after a poll (`error` set means the poll failed)."""
        at = at or now_iso()
        ok = error is None
        row: dict[str, Any] = {
            "name": state.name,
            "url": state.url,
            "last_poll_at": at,
            "last_status": status,
            "http_status": http_status,
            "last_error": error,
            "failures": 0 if ok else state.failures + 1,
            "next_poll_at": state.next_poll_at,
            "moved_to": state.moved_to,
            "gone_at": state.gone_at,
        }
        if ok:
            row.update(
                etag=state.etag,
                last_modified=state.last_modified,
                body_hash=state.body_hash,
                last_success_at=at,
                first_poll_at=state.first_poll_at or at,
            )
        with self.writing(f"the state of source {state.name!r}"):
            self.db.table("sources").upsert(row, pk="name")

    # -- items and hits --------------------------------------------------------------------------

    def seen_keys(self, source: str, keys: Iterable[str]) -> set[str]:
        """The subset of `keys` already stored for `source`."""
        keys = list(keys)
        seen: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in self.db.execute(
                    f"SELECT key FROM items WHERE source = ? AND key IN ({marks})", [source, *chunk]
                ).fetchall()
            )
        return seen

    def save_poll(
        self,
        state: SourceState,
        items: list[dict[str, Any]],
        hits: list[NewHit],
        channels_for: Callable[[NewHit], list[str]],
        *,
        alert: bool,
        http_status: int | None,
        story_window: float = 48 * 3600.0,
    ) -> list[int]:
        """Store a poll's new items, hits, deliveries and source state in one transaction.

        Returns the new hit ids. `channels_for(hit)` names the channels that get a delivery
        for a hit (routing); with `alert` false (a new source's first poll) none is created.
        Each hit joins a story; a channel that already has a delivery for the story and entity
        gets a 'merged' one (recorded, not sent).
        """
        from watcher.story import assign_story, story_delivered

        at = now_iso()
        hit_ids: list[int] = []
        with self.writing(f"the poll of source {state.name!r}"):
            ids: dict[str, int] = {}
            by_key = {item["key"]: item for item in items}
            stories: dict[str, int] = {}
            for item in items:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO items (source, key, title, link, published, discovered, "
                    "text, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        state.name,
                        item["key"],
                        item["title"],
                        item["link"],
                        item["published"],
                        at,
                        item["text"],
                        json.dumps(item.get("extra") or {}, ensure_ascii=False),
                    ],
                )
                if cur.rowcount:
                    ids[item["key"]] = int(cur.lastrowid or 0)
            for hit in hits:
                if hit.item_key not in ids:
                    continue
                hit_id = self.insert_hit(ids[hit.item_key], hit, at, alerted=alert)
                hit_ids.append(hit_id)
                if hit.item_key not in stories:
                    stories[hit.item_key] = assign_story(
                        self.db, by_key[hit.item_key], at, story_window
                    )
                story = stories[hit.item_key]
                self.db.execute("UPDATE hits SET story_id = ? WHERE id = ?", [story, hit_id])
                if alert:
                    for channel in channels_for(hit):
                        seen = story_delivered(self.db, channel, story, hit.entity)
                        self.db.execute(
                            "INSERT INTO deliveries (hit_id, channel, status, created, updated) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [hit_id, channel, "merged" if seen else "pending", at, at],
                        )
            self.record_source(state, status="ok", http_status=http_status, at=at)
        return hit_ids

    def insert_hit(
        self, item_id: int, hit: NewHit, at: str, *, alerted: bool, retroactive: bool = False
    ) -> int:
        """Insert one hit row (inside the caller's transaction); returns its id."""
        cur = self.db.execute(
            'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, created, '
            "alerted, topics, alias, kind, confirmed_by, marked, retroactive) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                item_id,
                hit.entity,
                hit.matched,
                hit.field,
                hit.start,
                hit.end,
                hit.snippet,
                at,
                int(alerted),
                json.dumps(list(hit.topics)),
                hit.alias,
                hit.kind,
                hit.confirmed_by,
                hit.marked,
                int(retroactive),
            ],
        )
        return int(cur.lastrowid or 0)

    # -- queries -------------------------------------------------------------------------------

    def query_hits(
        self,
        *,
        entity: str | None = None,
        source: str | None = None,
        since: str | None = None,
        search: str | None = None,
        limit: int | None = 50,
        topic: str | None = None,
    ) -> list[dict[str, Any]]:
        """Hits newest first, with their item's title, link, source and date.

        With `search` (full-text, see watcher.search) the hits are ranked by relevance, then
        date, and each row also has `match`: a snippet with the matching words marked.
        """
        from watcher.search import RANK, SNIPPET, fts_errors, fts_query

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
        if topic:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(h.topics) t WHERE t.value = ? COLLATE NOCASE)"
            )
            args.append(topic)
        order = "h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC"
        columns = f"""h.id, h.entity, i.title, i.link, i.source,
                      COALESCE(i.published, i.discovered) AS published, h.matched, h.field,
                      h.start, h."end", h.snippet, h.created, h.alerted, h.topics,
                      {self._story()} AS story{self._details()}"""
        cut = f" LIMIT {int(limit)}" if limit else ""
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
               ORDER BY {order}{cut}"""
        with fts_errors(search or ""):
            rows = list(self.db.query(sql, args))
        for row in rows:
            row["topics"] = json.loads(row["topics"] or "[]")
        return rows

    def _story(self) -> str:
        """The hit's story id for a SELECT (NULL on a database read before migrating)."""
        return "h.story_id" if "story_id" in self.db["hits"].columns_dict else "NULL"

    def source_report(self) -> list[dict[str, Any]]:
        """One row per stored source with its last poll, status, error, items and hits."""
        return list(
            self.db.query(
                # s.*: a database not migrated yet (read-only here) still answers.
                """SELECT s.*,
                       (SELECT COUNT(*) FROM items i WHERE i.source = s.name) AS items,
                       (SELECT COUNT(*) FROM hits h JOIN items i ON i.id = h.item_id
                        WHERE i.source = s.name) AS hits
                FROM sources s ORDER BY s.name"""
            )
        )

    # -- matching details and rematch -------------------------------------------------------------

    def _details(self) -> str:
        """The 050 hit columns for a SELECT, or nothing on a database read before migrating."""
        if "marked" not in self.db["hits"].columns_dict:
            return ""
        return ", h.marked, h.alias, h.kind, h.confirmed_by, h.retroactive, h.unmatched_at"

    def hit_details(self, hit_id: int) -> dict[str, Any] | None:
        """One hit with everything `regwatch explain` shows, or None if there is no such hit."""
        rows = list(
            self.db.query(
                """SELECT h.*, i.title, i.text, i.link, i.source, i.published, i.discovered
                FROM hits h JOIN items i ON i.id = h.item_id WHERE h.id = ?""",
                [hit_id],
            )
        )
        return rows[0] if rows else None

    def items_since(self, since: str | None, batch: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Stored items published (or discovered) since `since`, in batches, oldest first."""
        where = "WHERE COALESCE(published, discovered) >= ?" if since else ""
        last = 0
        while True:
            rows = list(
                self.db.query(
                    f"""SELECT id, source, title, text, link FROM items
                    {where + " AND" if where else "WHERE"} id > ? ORDER BY id LIMIT {int(batch)}""",
                    [since, last] if since else [last],
                )
            )
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def hits_of_items(self, item_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
        """Existing hits of these items: item id -> entity -> hit row."""
        out: dict[int, dict[str, dict[str, Any]]] = {}
        if not item_ids:
            return out
        marks = ",".join("?" * len(item_ids))
        for r in self.db.query(
            f"SELECT id, item_id, entity, unmatched_at FROM hits WHERE item_id IN ({marks})",
            item_ids,
        ):
            out.setdefault(r["item_id"], {})[r["entity"]] = r
        return out

    def set_unmatched(self, hit_id: int, at: str | None) -> None:
        """Record that a hit no longer matches the config (`at`), or matches again (None)."""
        self.db.execute("UPDATE hits SET unmatched_at = ? WHERE id = ?", [at, hit_id])

    def add_deliveries(self, hit_id: int, channels: Iterable[str], at: str) -> None:
        """Pending deliveries of one hit to these channels (inside the caller's transaction)."""
        for channel in channels:
            self.db.execute(
                "INSERT OR IGNORE INTO deliveries (hit_id, channel, status, created, updated) "
                "VALUES (?, ?, 'pending', ?, ?)",
                [hit_id, channel, at, at],
            )
