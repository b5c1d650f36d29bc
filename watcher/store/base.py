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
from typing import TYPE_CHECKING, Any, cast

from watcher.errors import StorageError
from watcher.model import Hit, Mention
from watcher.store.migrations import MIGRATIONS
from watcher.timeparse import now_iso

if TYPE_CHECKING:
    import sqlite_utils

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
    """One regwatch database: the connection, transactions and the schema.

    Statements go straight to the sqlite3 connection (`conn`); `db`, the same connection
    through sqlite-utils, is made on first use (migrations, upkeep): a poll never needs it,
    and loading it is a tenth of a poll's start-up when every feed answers 304.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._hit_columns: str | None = None
        self._db: sqlite_utils.Database | None = None
        self._savepoints = 0
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
            self.conn = conn
            self._execute("PRAGMA busy_timeout = 30000")
            # As sqlite-utils sets it: triggers behave the same whichever opened the file.
            self._execute("PRAGMA recursive_triggers = on")
            if not readonly:
                self._execute("PRAGMA journal_mode = WAL")
                # FULL: a committed hit or delivery survives power loss, not just a crash.
                self._execute("PRAGMA synchronous = FULL")
                self._execute("PRAGMA foreign_keys = ON")
                self.migrate()
            elif "_migrations" not in self.table_names():
                raise StorageError(f"{self.path} is not a regwatch database")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"cannot open database {self.path}: {exc}",
                hint="check the path in [storage] and that the folder is writable",
            ) from None

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection through sqlite-utils (made on first use)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """One transaction; an SQLite failure (disk full, read-only) becomes a StorageError.

        Nested uses join the outer transaction (as savepoints).
        """
        try:
            with self._transaction():
                yield
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot write {what} to {self.path}: {exc}",
                hint="check free disk space and write permission; nothing was half-written",
            ) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or a savepoint inside an open transaction (as sqlite-utils'
        atomic() does, on the same connection)."""
        conn = self.conn
        if conn.in_transaction:
            self._savepoints += 1
            name = f"regwatch_{self._savepoints}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # an error may have ended the transaction already
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; a write outside a transaction is committed at once."""
        conn = self.conn
        was_in_transaction = conn.in_transaction
        try:
            cursor = conn.execute(sql, list(args))
        except Exception:
            if not was_in_transaction and conn.in_transaction:
                conn.execute("ROLLBACK")  # the implicit transaction the statement opened
            raise
        if not was_in_transaction and conn.in_transaction and cursor.description is None:
            conn.execute("COMMIT")  # sqlite3 opened one before the write: end it
        return cursor

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, args)
        keys = [d[0] for d in cursor.description or ()]
        return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]

    def table_names(self) -> list[str]:
        """The tables of the database."""
        return [r[0] for r in self._execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def columns(self, table: str) -> list[str]:
        """The columns of a table, in order."""
        return [r[1] for r in self._execute(f"PRAGMA table_info({table})")]

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
        if "_migrations" not in self.table_names():
            self._execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
        done = {r["name"] for r in self._query("SELECT name FROM _migrations")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self._transaction():
                step(self._statements())
                self._execute("INSERT INTO _migrations VALUES (?, ?)", [name, now_iso()])
            applied.append(name)
        return applied

    def _statements(self) -> sqlite_utils.Database:
        """What a migration step runs its statements through: `execute(sql, params)`.

        Every step only calls execute(); a plain executor spares loading sqlite-utils when a
        new database is created (the first poll). A step needing more can use `store.db`.
        """
        return cast("sqlite_utils.Database", _Statements(self))

    def migrations(self) -> list[str]:
        """The names of the migrations this database has had."""
        return [r["name"] for r in self._query("SELECT name FROM _migrations ORDER BY name")]

    def has_column(self, table: str, column: str) -> bool:
        return column in self.columns(table)

    # -- hits as one type ------------------------------------------------------------------------

    def hit_columns(self) -> str:
        """The SELECT list that `hit_from_row` reads (hits `h` joined with items `i`)."""
        if self._hit_columns is None:
            have = self.columns("hits")
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


class _Statements:
    """sqlite-utils' Database.execute() over a store's connection, for migration steps."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> sqlite3.Cursor:
        return self.store._execute(sql, parameters or ())
