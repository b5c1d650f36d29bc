"""The database connection: SQLite through sqlite-utils, in WAL mode, with migrations.

Tables: sources (poll state), items (every item seen, with its text), hits (item x entity),
stories, deliveries (hit x channel) and messages (digests, health alerts). Every SQL
statement of regwatch lives in this package; the other modules call the Store's methods,
named after what they need (`save_poll`, `due_work`, `mark_sent`, `query_hits` ...).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from watcher.errors import StorageError
from watcher.model import Hit, Mention
from watcher.store.migrations import MIGRATIONS
from watcher.timeparse import now_iso

# Hit columns added by migrations, and what a database read before them shows instead.
_LATER_COLUMNS = {
    "story_id": "NULL",
    "alias": "NULL",
    "kind": "'alias'",
    "confirmed_by": "NULL",
    "marked": "NULL",
    "retroactive": "0",
    "unmatched_at": "NULL",
    "review_status": "'new'",
    "reviewed_by": "NULL",
    "reviewed_at": "NULL",
    "review_note": "NULL",
}


class StoreBase:
    """One regwatch database: the connection, transactions and the schema."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._hit_columns: str | None = None
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
        """One transaction; an SQLite failure (disk full, read-only) becomes a StorageError.

        Nested uses join the outer transaction (as savepoints).
        """
        try:
            with self.db.atomic():
                yield
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot write {what} to {self.path}: {exc}",
                hint="check free disk space and write permission; nothing was half-written",
            ) from None

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, list(args))

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, list(args)))

    def _value(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self._execute(sql, args).fetchone()
        return row[0] if row else None

    def ping(self) -> None:
        """Raise unless the database answers a query (the watchdog's check)."""
        self._execute("SELECT COUNT(*) FROM _migrations").fetchone()

    # -- schema --------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns the names applied."""
        if "_migrations" not in self.db.table_names():
            self._execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
        done = {r["name"] for r in self._query("SELECT name FROM _migrations")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self.db.atomic():
                step(self.db)
                self._execute("INSERT INTO _migrations VALUES (?, ?)", [name, now_iso()])
            applied.append(name)
        return applied

    def migrations(self) -> list[str]:
        """The names of the migrations this database has had."""
        return [r["name"] for r in self._query("SELECT name FROM _migrations ORDER BY name")]

    def has_column(self, table: str, column: str) -> bool:
        return column in self.db[table].columns_dict

    # -- hits as one type ------------------------------------------------------------------------

    def hit_columns(self) -> str:
        """The SELECT list that `hit_from_row` reads (hits `h` joined with items `i`)."""
        if self._hit_columns is None:
            have = self.db["hits"].columns_dict
            later = ", ".join(
                f"h.{c}" if c in have else f"{missing} AS {c}"
                for c, missing in _LATER_COLUMNS.items()
            )
            self._hit_columns = (
                'h.id, h.item_id, h.entity, h.matched, h.field, h.start, h."end", h.snippet, '
                "h.topics, h.created, h.alerted, i.source, i.title, i.link, i.key AS item_key, "
                f"COALESCE(i.published, i.discovered) AS published, {later}"
            )
        return self._hit_columns


def hit_from_row(row: dict[str, Any]) -> Hit:
    """A Hit from a row selected with `hit_columns()` (plus `match` and `rank` if searched)."""
    mention = Mention(
        entity=row["entity"],
        matched=row["matched"],
        field=row["field"],
        start=row["start"],
        end=row["end"],
        snippet=row["snippet"],
        topics=tuple(json.loads(row["topics"] or "[]")),
        alias=row["alias"],
        kind=row["kind"] or "alias",
        confirmed_by=row["confirmed_by"],
        marked=row["marked"],
    )
    return Hit(
        id=row["id"],
        item_id=row["item_id"],
        mention=mention,
        source=row["source"],
        title=row["title"],
        link=row["link"],
        published=row["published"],
        created=row["created"],
        story=row["story_id"],
        alerted=bool(row["alerted"]),
        retroactive=bool(row["retroactive"]),
        unmatched_at=row["unmatched_at"],
        status=row["review_status"] or "new",
        reviewed_by=row["reviewed_by"],
        reviewed_at=row["reviewed_at"],
        note=row["review_note"],
        item_key=row["item_key"],
        match=row.get("match"),
        rank=row.get("rank"),
    )
