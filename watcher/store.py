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


def _m040_outbox(db: sqlite_utils.Database) -> None:
    # Messages that are not one hit: digests and source-health alerts, same retry rules.
    # Statements one by one (not executescript, which commits) so the step stays atomic.
    for sql in (
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            body_format TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX messages_status ON messages (status, channel)",
        "ALTER TABLE deliveries ADD COLUMN next_attempt_at TEXT",
        # The digest message that carries this delivery (status 'digested' until it is sent).
        "ALTER TABLE deliveries ADD COLUMN message_id INTEGER REFERENCES messages(id)",
        "CREATE INDEX deliveries_channel ON deliveries (channel, status)",
        "CREATE TABLE digest_state (channel TEXT PRIMARY KEY, last_slot TEXT NOT NULL)",
    ):
        db.execute(sql)


def _m040_stories(db: sqlite_utils.Database) -> None:
    for sql in (
        """CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created TEXT NOT NULL
        )""",
        # What makes two items one story: "url:...", "ref:IP/24/1234", "title:..." (windowed).
        """CREATE TABLE story_keys (
            key TEXT NOT NULL,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            at TEXT NOT NULL,
            PRIMARY KEY (key, story_id)
        )""",
        "ALTER TABLE hits ADD COLUMN story_id INTEGER REFERENCES stories(id)",
        "CREATE INDEX hits_story ON hits (story_id)",
        # Hits stored before clustering existed: one story per item.
        """INSERT INTO stories (id, title, created)
           SELECT i.id, i.title, i.discovered FROM items i
           WHERE EXISTS (SELECT 1 FROM hits h WHERE h.item_id = i.id)""",
        "UPDATE hits SET story_id = item_id",
    ):
        db.execute(sql)


def _m040_source_health(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE sources ADD COLUMN health TEXT NOT NULL DEFAULT 'ok'")
    db.execute("ALTER TABLE sources ADD COLUMN health_since TEXT")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_hit_topics", _m002_hit_topics),
    ("040_outbox", _m040_outbox),
    ("040_stories", _m040_stories),
    ("040_source_health", _m040_source_health),
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
        hit_channels: Callable[[NewHit], list[str]] | None = None,
        story_window: float = 48 * 3600.0,
    ) -> list[int]:
        """Store a poll's new items, hits, deliveries and source state in one transaction.

        Returns the new hit ids. `channels_for(entity)` names the channels that get a delivery
        for a hit; with `alert` false (a new source's first poll) no delivery is created.
        `hit_channels(hit)`, when given, decides instead (routing by source, tags, topics).
        Each hit joins a story; a channel that already has a delivery for the story and entity
        gets a 'merged' one (recorded, not sent).
        """
        from watcher.story import assign_story, story_delivered

        at = now_iso()
        hit_ids: list[int] = []
        with self.db.atomic():
            ids: dict[str, int] = {}
            by_key = {item["key"]: item for item in items}
            stories: dict[str, int] = {}
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
                if hit.item_key not in stories:
                    stories[hit.item_key] = assign_story(
                        self.db, by_key[hit.item_key], at, story_window
                    )
                story = stories[hit.item_key]
                self.db.execute("UPDATE hits SET story_id = ? WHERE id = ?", [story, hit_id])
                if alert:
                    for channel in hit_channels(hit) if hit_channels else channels_for(hit.entity):
                        seen = story_delivered(self.db, channel, story, hit.entity)
                        self.db.execute(
                            "INSERT INTO deliveries (hit_id, channel, status, created, updated) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [hit_id, channel, "merged" if seen else "pending", at, at],
                        )
            self.record_source(state, status="ok", http_status=http_status, at=at)
        return hit_ids

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
                      h.start, h."end", h.snippet, h.created, h.alerted, h.topics,
                      {self._story()} AS story
               FROM hits h JOIN items i ON i.id = h.item_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.query(sql, args))

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
