"""The Store's base: its engine (SQLite or PostgreSQL), transactions, migrations, hit rows.

Tables: sources (poll state), items (every item seen, with its text), hits (item x entity),
stories, deliveries (hit x channel) and messages (digests, health alerts). Every SQL
statement of regwatch lives in this package; the other modules call the Store's methods,
named after what they need (`save_poll`, `due_work`, `mark_sent`, `query_hits` ...).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from watcher.config.model import BUSY_TIMEOUT
from watcher.errors import StorageError
from watcher.model import Hit, Mention
from watcher.store.engine import Engine, Result, Schema, SqliteEngine, is_postgres_url
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


def open_engine(
    location: str | Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT
) -> Engine:
    """The engine for a location: a postgresql:// URL, else a SQLite file path."""
    if is_postgres_url(location):
        from watcher.store.postgres import PostgresEngine

        return PostgresEngine(str(location), readonly=readonly)
    return SqliteEngine(location, readonly=readonly, busy_timeout=busy_timeout)


def apply_migrations(engine: Engine) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied.

    `engine.exclusive()` (an advisory lock on PostgreSQL) makes processes that start
    together take turns: the first migrates, the others then find nothing to do.
    """
    schema = Schema(engine)
    applied = []
    with engine.exclusive():
        if "_migrations" not in engine.table_names():
            schema.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
        done = {r[0] for r in engine.execute("SELECT name FROM _migrations").fetchall()}
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with engine.transaction():
                step(schema)
                engine.execute("INSERT INTO _migrations VALUES (?, ?)", [name, now_iso()])
            applied.append(name)
    return applied


class StoreBase:
    """One regwatch database: the engine, transactions and the schema.

    `location` is a SQLite file path or a postgresql:// URL (see engine.py).
    """

    def __init__(
        self, location: str | Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.engine: Engine = open_engine(location, readonly=readonly, busy_timeout=busy_timeout)
        self.dialect = self.engine.dialect
        self.label = self.engine.label  # the path, or the URL with its password masked
        self._hit_columns: str | None = None
        self._known_sources: set[str] = set()
        try:
            if not readonly:
                self.migrate()
            elif "_migrations" not in self.engine.table_names():
                raise StorageError(f"{self.label} is not a regwatch database")
        except self.engine.errors as exc:
            self.engine.close()
            if self.engine.lock_wait(exc) is not None:  # migrating next to another writer
                raise self._write_error("its schema", exc) from None
            raise StorageError(
                f"cannot open database {self.label}: {exc}",
                hint="check [storage] in the config, and that regwatch may write there",
            ) from None
        except BaseException:
            self.engine.close()
            raise

    @property
    def postgres(self) -> bool:
        return self.dialect.name == "postgresql"

    def close(self) -> None:
        self.engine.close()

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """One transaction; a database failure (disk full, read-only, server gone) becomes
        a StorageError and nothing of the transaction is kept.

        Nested uses join the outer transaction (as savepoints).
        """
        try:
            with self.engine.transaction():
                yield
        except BaseException as exc:
            # What was undone may include rows this store remembers having seen (a source's
            # first row, made by a claim inside a batch of writes): forget them.
            self._known_sources.clear()
            if isinstance(exc, self.engine.errors):
                raise self._write_error(what, exc) from None
            raise

    def _write_error(self, what: str, exc: BaseException) -> StorageError:
        """The StorageError for a failed write: a lock held too long by another process has
        its own message and hint (no disk to check), anything else names the failure."""
        waited = self.engine.lock_wait(exc)
        if waited is not None:
            return StorageError(
                f"another regwatch process is writing: cannot write {what} to {self.label}: "
                f"database is locked (waited {waited:g} s for it)",
                hint="wait for it to finish (a `regwatch vacuum`, a long poll or the daemon's "
                "writes) and try again, or raise [storage] busy_timeout; nothing was "
                "half-written",
            )
        return StorageError(
            f"cannot write {what} to {self.label}: {exc}",
            hint="check free disk space and write permission (or that the database "
            "server runs); nothing was half-written",
        )

    def _write(self, what: str, sql: str, args: Sequence[Any] = ()) -> Result:
        """One writing statement, atomic by itself: no BEGIN and COMMIT around it (one round
        trip to PostgreSQL, not three); inside a `writing()` block, part of that transaction.
        A database failure becomes a StorageError, as in `writing()`."""
        try:
            return self.engine.execute(sql, args)
        except self.engine.errors as exc:
            raise self._write_error(what, exc) from None

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        return self.engine.execute(sql, args)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.engine.query(sql, args)

    def _value(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self._execute(sql, args).fetchone()
        return row[0] if row else None

    def _insert(self, sql: str, args: Sequence[Any] = ()) -> int | None:
        """Insert one row; its id, or None when ON CONFLICT DO NOTHING skipped it."""
        return self.engine.insert(sql, args)

    def ping(self) -> None:
        """Raise unless the database answers a query (the watchdog's check)."""
        self._execute("SELECT COUNT(*) FROM _migrations").fetchone()

    # -- schema --------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns the names applied.

        On PostgreSQL an advisory lock makes daemons starting together migrate once.
        """
        return apply_migrations(self.engine)

    def migrations(self) -> list[str]:
        """The names of the migrations this database has had."""
        return [r["name"] for r in self._query("SELECT name FROM _migrations ORDER BY name")]

    def has_column(self, table: str, column: str) -> bool:
        return column in self.engine.columns(table)

    # -- hits as one type ------------------------------------------------------------------------

    def hit_columns(self) -> str:
        """The SELECT list that `hit_from_row` reads (hits `h` joined with items `i`)."""
        if self._hit_columns is None:
            have = set(self.engine.columns("hits"))
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
