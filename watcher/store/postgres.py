"""PostgreSQL through psycopg 3 and psycopg-pool (the `regwatch[postgres]` extra).

Connections come from a small pool, in autocommit mode: a statement outside a transaction
commits alone, `transaction()` pins one connection to the calling thread for its length
(nested ones are savepoints). A connection the server dropped is replaced by the pool;
while the server is away every call fails fast with a StorageError, which the daemon
treats as "retry later". The URL's password never appears in a message (`label`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from watcher.config.secrets import mask_dsn
from watcher.errors import StorageError
from watcher.store.dialect import POSTGRES
from watcher.store.engine import Engine, Result

INSTALL_HINT = "install the PostgreSQL extra: pip install 'regwatch[postgres]'"
CONNECT_TIMEOUT = 5  # seconds to reach the server before giving up
CHECKOUT_TIMEOUT = 5.0  # seconds to wait for a pooled connection (the server is away if none)
# pg_advisory_lock key held while migrating: "regwatch" in ASCII.
MIGRATION_LOCK = 0x7265677761746368
_SERVER_GONE_HINT = (
    "check that PostgreSQL runs and accepts connections from this host; the daemon "
    "retries by itself, a command can be run again"
)


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """`?` placeholders (outside quotes) as psycopg's `%s`; a literal `%` doubled."""
    out = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # libpq says "connection failed: connection to server at ... failed: FATAL: why".
    return " ".join(lines[:2])


class PostgresEngine(Engine):
    """A PostgreSQL database named by a libpq URL."""

    dialect = POSTGRES

    def __init__(self, url: str, *, readonly: bool = False, max_size: int = 4) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StorageError(
                "[storage] url names a PostgreSQL database, but its driver is not installed",
                hint=INSTALL_HINT,
            ) from None
        self.psycopg = psycopg
        self.errors = (psycopg.Error,)
        self.url = url
        self.label = mask_dsn(url)
        self.readonly = readonly
        self._local = threading.local()
        # The first connection is made here, directly, so that a wrong password or an
        # unreachable server is reported with libpq's own words, before anything starts.
        try:
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL at {self.label}: {self._masked(exc)}",
                hint="check [storage] url, that the server runs and accepts connections from "
                "this host, and the password (${credential:NAME} in the URL, PGPASSWORD or "
                "~/.pgpass)",
            ) from None
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # we report failures
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            # prepare_threshold None: every statement planned afresh. A prepared statement
            # keeps a plan made while a new database's tables were nearly empty (sequential
            # scans) as they grow; planning each time costs less than that (measured:
            # benchmarks/cluster.py, more than twice the polls per second).
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "prepare_threshold": None,
            },
            configure=self._configure,
            open=True,
            timeout=CHECKOUT_TIMEOUT,
            reconnect_timeout=24 * 3600.0,  # keep trying in the background while it is away
            num_workers=1,
            name="regwatch",
        )
        _open_pools.add(self.pool)

    def _masked(self, exc: BaseException) -> str:
        return _first_line(exc).replace(self.url, self.label)

    def _configure(self, conn: Any) -> None:
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET application_name = 'regwatch'")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        try:
            with self.pool.connection() as conn:
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None
        except (self.psycopg.OperationalError, self.psycopg.InterfaceError) as exc:
            raise StorageError(
                f"PostgreSQL at {self.label} failed: {self._masked(exc)}",
                hint=_SERVER_GONE_HINT,
            ) from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        with self._connection() as conn:
            cur = conn.execute(to_pyformat(sql) if args else sql, list(args) if args else None)
            if cur.description is None:
                return Result([], [], cur.rowcount)
            return Result(cur.fetchall(), [d.name for d in cur.description], cur.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._connection() as conn, conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), [list(r) for r in rows])

    def stream(self, sql: str, args: Sequence[Any] = (), size: int = 2000) -> Iterator[list[Any]]:
        with self._connection() as conn, conn.cursor(name="regwatch_stream") as cur:
            cur.execute(to_pyformat(sql) if args else sql, list(args) if args else None)
            while rows := cur.fetchmany(size):
                yield rows

    def reset_ids(self, table: str) -> None:
        if "id" in self.columns(table):
            self.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
            )

    def insert(self, sql: str, args: Sequence[Any] = ()) -> int | None:
        row = self.execute(sql + " RETURNING id", args).fetchone()
        return int(row[0]) if row else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._connection() as conn, conn.transaction():
            yield

    @contextlib.contextmanager
    def consistent_read(self) -> Iterator[None]:
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield
            finally:
                with contextlib.suppress(self.psycopg.Error):
                    conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """A session-level advisory lock: one process migrates, the others wait, then find
        nothing left to do."""
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
            try:
                yield
            finally:
                with contextlib.suppress(self.psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])

    def table_names(self) -> set[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [r[0] for r in rows]

    def size(self) -> int:
        return int(self.execute("SELECT pg_database_size(current_database())").rows[0][0])

    def vacuum(self) -> None:
        # Plain VACUUM (not FULL): it frees space for reuse without locking out the daemons.
        self.execute("VACUUM (ANALYZE)")

    def close(self) -> None:
        self.pool.close()
        _open_pools.discard(self.pool)


_open_pools: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_pools() -> None:
    """A command that never closed its store still leaves without the pool's warnings."""
    for pool in list(_open_pools):
        with contextlib.suppress(Exception):
            pool.close(timeout=1.0)
