"""The one place that knows which database engine the Store talks to.

An Engine runs SQL written with `?` placeholders and returns plain rows; it opens
transactions (nested ones become savepoints), inserts and returns the new id, and answers
what the schema holds. `SqliteEngine` (here) wraps a file through sqlite3;
`PostgresEngine` (postgres.py) a psycopg connection pool. What differs in the SQL text
itself is the Dialect's business (dialect.py).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watcher.config.model import BUSY_TIMEOUT
from watcher.errors import StorageError
from watcher.store.dialect import SQLITE, Dialect


@dataclass
class Result:
    """The rows a statement returned (as tuples), their column names, and the row count."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rowcount: int = 0

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# Statements that open or close transactions themselves: never committed behind their back.
_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def is_postgres_url(location: str | Path) -> bool:
    """True for a libpq URL (postgresql://... or postgres://...)."""
    return str(location).startswith(("postgresql://", "postgres://"))


class Engine:
    """What the Store needs of a database; see SqliteEngine and PostgresEngine."""

    dialect: Dialect
    label: str  # what to show the user: the path, or the URL without its password
    readonly: bool
    errors: tuple[type[BaseException], ...]  # the driver's exceptions for a failed statement

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def insert(self, sql: str, args: Sequence[Any] = ()) -> int | None:
        """Run an INSERT of one row; its new id, or None when ON CONFLICT skipped it."""
        raise NotImplementedError

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.execute(sql, args).dicts()

    def stream(self, sql: str, args: Sequence[Any] = (), size: int = 2000) -> Iterator[list[Any]]:
        """The rows of a query in batches of `size`, without holding them all in memory
        (inside `consistent_read()` on PostgreSQL: a server-side cursor lives in a transaction)."""
        raise NotImplementedError

    def reset_ids(self, table: str) -> None:
        """After rows were inserted with their ids: new rows get ids after the largest."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One transaction; a nested one is a savepoint of the outer."""
        raise NotImplementedError

    def consistent_read(self) -> contextlib.AbstractContextManager[None]:
        """Reads that all see the database as it was at their start (a read transaction)."""
        raise NotImplementedError

    def lock_wait(self, exc: BaseException) -> float | None:
        """Seconds waited when `exc` is a write lock held too long by another process, else None."""
        return None

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held by one process at a time (migrations); other engines' holders wait."""
        return contextlib.nullcontext()

    def table_names(self) -> set[str]:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def size(self) -> int:
        """Bytes the database takes on disk."""
        raise NotImplementedError

    def checkpoint(self) -> None:
        """Keep the write-ahead log small (where the engine leaves that to us)."""

    def vacuum(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteEngine(Engine):
    """A SQLite file in WAL mode; writers take the write lock at BEGIN (BEGIN IMMEDIATE).

    Statements go straight to the sqlite3 connection, committed at once outside a
    transaction (as sqlite-utils' `execute()` does); `db`, the same connection through
    sqlite-utils, is made on first use: loading sqlite-utils is a tenth of the start-up of
    a poll where every feed answers 304, which never needs it.
    """

    dialect = SQLITE
    errors = (sqlite3.Error,)

    def __init__(
        self, path: str | Path, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.label = str(self.path)
        self.readonly = readonly
        self._db: Any = None
        self._savepoints = 0
        try:
            if readonly:
                if not self.path.exists():
                    raise StorageError(
                        f"database {self.path} does not exist yet",
                        hint="run `regwatch poll` or start the daemon first",
                    )
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=busy_timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=busy_timeout)
            self.conn = conn
            self.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # What sqlite-utils sets on every connection: triggers behave the same either way.
            self.execute("PRAGMA recursive_triggers = on")
            if not readonly:
                self.execute("PRAGMA journal_mode = WAL")
                # FULL: a committed hit or delivery survives power loss, not just a crash.
                self.execute("PRAGMA synchronous = FULL")
                self.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"cannot open database {self.path}: {exc}",
                hint="check the path in [storage] and that the folder is writable",
            ) from None

    def lock_wait(self, exc: BaseException) -> float | None:
        if isinstance(exc, sqlite3.OperationalError) and (
            "database is locked" in str(exc) or "database is busy" in str(exc)
        ):
            return self.busy_timeout
        return None

    @property
    def db(self) -> Any:
        """The connection through sqlite-utils (`sqlite_utils.Database`), made on first use."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def _run(self, sql: str, args: Sequence[Any]) -> tuple[sqlite3.Cursor, list[tuple[Any, ...]]]:
        """Run one statement and fetch its rows; a write outside a transaction is committed
        (sqlite3 opened one before it), a failed one rolled back."""
        conn = self.conn
        was_in_transaction = conn.in_transaction
        try:
            cur = conn.execute(sql, list(args))
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        except Exception:
            if not was_in_transaction and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not was_in_transaction and conn.in_transaction and not _CONTROL.match(sql):
            conn.execute("COMMIT")
        return cur, rows

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        cur, rows = self._run(sql, args)
        columns = [d[0] for d in cur.description] if cur.description else []
        return Result(rows, columns, cur.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def insert(self, sql: str, args: Sequence[Any] = ()) -> int | None:
        cur, _ = self._run(sql, args)
        return int(cur.lastrowid or 0) if cur.rowcount else None

    def stream(self, sql: str, args: Sequence[Any] = (), size: int = 2000) -> Iterator[list[Any]]:
        cur = self.conn.execute(sql, list(args))
        while rows := cur.fetchmany(size):
            yield [tuple(r) for r in rows]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self.conn
        if conn.in_transaction:
            self._savepoints += 1
            name = f"regwatch_{self._savepoints}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # an error may have ended the whole transaction
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        # IMMEDIATE: take the write lock now, so a read-then-write transaction never fails
        # half-way because another process wrote in between (SQLITE_BUSY_SNAPSHOT).
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def consistent_read(self) -> Iterator[None]:
        conn = self.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")  # deferred: the snapshot is taken at the first read
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def table_names(self) -> set[str]:
        rows = self.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        return {r[0] for r in rows.rows}

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.execute(f"PRAGMA table_info([{table}])").rows]

    def size(self) -> int:
        return database_size(self.path)

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, so the -wal file stays small."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def vacuum(self) -> None:
        self.checkpoint()
        self.execute("VACUUM")
        self.checkpoint()

    def close(self) -> None:
        self.conn.close()


def database_size(path: Path) -> int:
    """Bytes used by a SQLite file, its WAL and shared-memory index."""
    return sum(
        p.stat().st_size
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


class Schema:
    """What a migration step is given: execute() on the engine, DDL in its dialect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        return self.engine.execute(self.engine.dialect.ddl(sql), args)
