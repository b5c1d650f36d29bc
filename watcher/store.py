"""The hit database: SQLite through sqlite-utils, in WAL mode, with migrations.

Tables: sources (poll state), items (every item seen, with its text), hits (item x entity)
and deliveries (hit x channel). A poll's writes for one source go in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from watcher.errors import StorageError


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- migrations: append only; each runs once, in its own transaction --------------------------


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            first_poll_at TEXT,
            last_poll_at TEXT,
            last_success_at TEXT,
            last_status TEXT,
            http_status INTEGER,
            last_error TEXT,
            failures INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT,
            published TEXT,
            discovered TEXT NOT NULL,
            text TEXT NOT NULL,
            UNIQUE (source, key)
        );
        CREATE TABLE hits (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            entity TEXT NOT NULL,
            matched TEXT NOT NULL,
            field TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            snippet TEXT NOT NULL,
            created TEXT NOT NULL,
            alerted INTEGER NOT NULL DEFAULT 1,
            UNIQUE (item_id, entity)
        );
        CREATE INDEX hits_created ON hits (created);
        CREATE INDEX hits_entity ON hits (entity);
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            hit_id INTEGER NOT NULL REFERENCES hits(id),
            channel TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (hit_id, channel)
        );
        CREATE INDEX deliveries_status ON deliveries (status);
        """
    )


def _m002_hit_topics(db: sqlite_utils.Database) -> None:
    # Topics found in the hit's item, as a JSON array of topic names.
    db.execute("ALTER TABLE hits ADD COLUMN topics TEXT NOT NULL DEFAULT '[]'")


def _m020_daemon(db: sqlite_utils.Database) -> None:
    # One row: the running (or last) daemon, for `regwatch status`; items_discovered
    # serves retention pruning. One statement per execute(): executescript() would commit
    # the migration's transaction.
    db.execute(
        """CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT
        )"""
    )
    db.execute("CREATE INDEX items_discovered ON items (discovered)")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_hit_topics", _m002_hit_topics),
    ("020_daemon", _m020_daemon),
]


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
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open database {self.path}: {exc}",
                hint="check the path in [storage] and that the folder is writable",
            ) from None

    def close(self) -> None:
        self.db.close()

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
        }
        if ok:
            row.update(
                etag=state.etag,
                last_modified=state.last_modified,
                body_hash=state.body_hash,
                last_success_at=at,
                first_poll_at=state.first_poll_at or at,
            )
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
        channels_for: Callable[[str], list[str]],
        *,
        alert: bool,
        http_status: int | None,
    ) -> list[int]:
        """Store a poll's new items, hits, deliveries and source state in one transaction.

        Returns the new hit ids. `channels_for(entity)` names the channels that get a delivery
        for a hit; with `alert` false (a new source's first poll) no delivery is created.
        """
        at = now_iso()
        hit_ids: list[int] = []
        with self.db.atomic():
            ids: dict[str, int] = {}
            for item in items:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO items (source, key, title, link, published, discovered, "
                    "text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        state.name,
                        item["key"],
                        item["title"],
                        item["link"],
                        item["published"],
                        at,
                        item["text"],
                    ],
                )
                if cur.rowcount:
                    ids[item["key"]] = int(cur.lastrowid or 0)
            for hit in hits:
                if hit.item_key not in ids:
                    continue
                cur = self.db.execute(
                    'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, '
                    "created, alerted, topics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        ids[hit.item_key],
                        hit.entity,
                        hit.matched,
                        hit.field,
                        hit.start,
                        hit.end,
                        hit.snippet,
                        at,
                        int(alert),
                        json.dumps(list(hit.topics)),
                    ],
                )
                hit_id = int(cur.lastrowid or 0)
                hit_ids.append(hit_id)
                if alert:
                    for channel in channels_for(hit.entity):
                        self.db.execute(
                            "INSERT INTO deliveries (hit_id, channel, status, created, updated) "
                            "VALUES (?, ?, 'pending', ?, ?)",
                            [hit_id, channel, at, at],
                        )
            self.record_source(state, status="ok", http_status=http_status, at=at)
        return hit_ids

    # -- deliveries ------------------------------------------------------------------------------

    def pending_deliveries(self, channels: Iterable[str]) -> list[dict[str, Any]]:
        """Deliveries still to send (pending or failed before) for the given channels."""
        names = list(channels)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        return list(
            self.db.query(
                f"""SELECT d.id, d.channel, d.attempts, h.id AS hit_id, h.entity, h.matched,
                       h.snippet, i.title, i.link, i.published, i.source
                FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
                WHERE d.status IN ('pending', 'failed') AND d.channel IN ({marks})
                ORDER BY d.id""",
                names,
            )
        )

    def mark_delivery(self, delivery_id: int, error: str | None) -> None:
        """Record a send: sent when `error` is None, failed (to retry) otherwise."""
        at = now_iso()
        if error is None:
            self.db.execute(
                "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
                " updated = ?, sent_at = ? WHERE id = ?",
                [at, at, delivery_id],
            )
        else:
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?,"
                " updated = ? WHERE id = ?",
                [error, at, delivery_id],
            )
        self.db.conn.commit()

    # -- queries -------------------------------------------------------------------------------

    def query_hits(
        self,
        *,
        entity: str | None = None,
        source: str | None = None,
        since: str | None = None,
        search: str | None = None,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Hits newest first, with their item's title, link, source and date."""
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
        if search:
            where.append("(i.title LIKE ? OR i.text LIKE ?)")
            args += [f"%{search}%", f"%{search}%"]
        sql = f"""SELECT h.id, h.entity, i.title, i.link, i.source,
                      COALESCE(i.published, i.discovered) AS published, h.matched, h.field,
                      h.start, h."end", h.snippet, h.created, h.alerted, h.topics
               FROM hits h JOIN items i ON i.id = h.item_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.query(sql, args))

    def source_report(self) -> list[dict[str, Any]]:
        """One row per stored source with its last poll, status, error, items and hits."""
        return list(
            self.db.query(
                """SELECT s.name, s.url, s.last_poll_at, s.last_status, s.http_status,
                       s.last_error, s.failures, s.last_success_at,
                       (SELECT COUNT(*) FROM items i WHERE i.source = s.name) AS items,
                       (SELECT COUNT(*) FROM hits h JOIN items i ON i.id = h.item_id
                        WHERE i.source = s.name) AS hits
                FROM sources s ORDER BY s.name"""
            )
        )
