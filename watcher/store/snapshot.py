"""A SQLite copy of a PostgreSQL store's hit tables, for the web view (Datasette reads SQLite).

The copy is a regwatch SQLite database like any other (same migrations: the FTS index, the
`latest_hits` view), holding the hits, their items, stories, deliveries and sources. A
refresh copies, in one read transaction (REPEATABLE READ: a consistent view) and one SQLite
transaction, only what changed since the last: rows whose `rev` (the id of the transaction
that last wrote them, migration 081) is at least the oldest transaction that was still
running at the last refresh, and the rows deleted since (tombstones). A copy not refreshed
for longer than the tombstones are kept is rebuilt whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from watcher.store.base import StoreBase
from watcher.store.later_migrations import SNAPSHOT_TABLES
from watcher.timeparse import now_iso, utcnow

BATCH = 2000  # rows read per statement
TOMBSTONES_KEPT = timedelta(days=7)  # deleted rows remembered this long for snapshots
_STATE = "snapshot_state"
_HAS_HITS = "EXISTS (SELECT 1 FROM hits h WHERE h.item_id = t.id)"


class Snapshot:
    """Keeps `target` (a SQLite Store) a copy of `source`'s (a PostgreSQL Store) hit tables."""

    def __init__(self, source: StoreBase, target: StoreBase) -> None:
        self.source = source
        self.target = target
        # A read copy: rows arrive table by table, and messages (digests) are not copied.
        target.engine.execute("PRAGMA foreign_keys = OFF")
        target.engine.execute(
            f"CREATE TABLE IF NOT EXISTS {_STATE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )

    def _state(self, key: str) -> str | None:
        row = self.target.engine.execute(
            f"SELECT value FROM {_STATE} WHERE key = ?", [key]
        ).fetchone()
        return str(row[0]) if row else None

    def refreshed_at(self) -> str | None:
        """When the copy was last refreshed (None: never)."""
        return self._state("refreshed_at")

    def refresh(self, full: bool = False) -> dict[str, int]:
        """Copy what changed since the last refresh; the rows copied and deleted, by table."""
        since = None if full else self._state("xmin")
        last = self.refreshed_at()
        if last and datetime.fromisoformat(last) < utcnow() - TOMBSTONES_KEPT + timedelta(days=1):
            since = None  # the tombstones since then may be gone: start again
        counts: dict[str, int] = {}
        source, target = self.source.engine, self.target.engine
        with source.consistent_read(), self.target.writing("the web view's copy"):
            xmin = str(
                source.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").rows[0][0]
            )
            if since is None:
                for table in reversed(SNAPSHOT_TABLES):
                    target.execute(f"DELETE FROM {table}")
            for table, (key, _) in SNAPSHOT_TABLES.items():
                columns = [c for c in target.columns(table) if c in source.columns(table)]
                # Quoted: hits has a column "end".
                updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != key)
                upsert = (
                    f"INSERT INTO {table} ({', '.join(repr_columns(columns))}) "
                    f"VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
                )
                for rows in self._changed(table, key, columns, since):
                    target.executemany(upsert, rows)
                    counts[table] = counts.get(table, 0) + len(rows)
            if since is not None:
                counts["deleted"] = self._delete(since)
            for name, value in (("xmin", xmin), ("refreshed_at", now_iso())):
                target.execute(
                    f"INSERT INTO {_STATE} (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [name, value],
                )
        return counts

    def _changed(
        self, table: str, key: str, columns: list[str], since: str | None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Batches of the rows of `table` written since `since` (all rows when None)."""
        conditions, args = [], []
        if since is not None:
            if table == "items":  # an old item gets a new hit (rematch): it is needed now
                conditions.append(
                    "(t.rev >= ?::xid8 OR t.id IN (SELECT item_id FROM hits WHERE rev >= ?::xid8))"
                )
                args += [since, since]
            else:
                conditions.append("t.rev >= ?::xid8")
                args.append(since)
        if table == "items":
            conditions.append(_HAS_HITS)  # the copy holds the items that have hits
        where = " AND ".join([*conditions, f"t.{key} > ?"])
        select = ", ".join(f"t.{c}" for c in repr_columns(columns))
        position = columns.index(key)
        last: Any = "" if key == "name" else 0
        while True:
            rows = self.source.engine.execute(
                f"SELECT {select} FROM {table} t WHERE {where} ORDER BY t.{key} LIMIT {BATCH}",
                [*args, last],
            ).rows
            if not rows:
                return
            yield rows
            last = rows[-1][position]

    def _delete(self, since: str) -> int:
        """Remove from the copy what was deleted since `since`, and the items that lost their
        hits (emptied by retention); the number of rows removed."""
        source, target = self.source.engine, self.target.engine
        gone = source.execute("SELECT tbl, key FROM tombstones WHERE rev >= ?::xid8", [since]).rows
        gone += [
            ("items", str(r[0]))
            for r in source.execute(
                f"SELECT t.id FROM items t WHERE t.rev >= ?::xid8 AND NOT {_HAS_HITS}", [since]
            ).rows
        ]
        removed = 0
        for table, key in gone:
            if table in SNAPSHOT_TABLES:
                column = SNAPSHOT_TABLES[table][0]
                value: Any = key if column == "name" else int(key)
                removed += target.execute(
                    f"DELETE FROM {table} WHERE {column} = ?", [value]
                ).rowcount
        return removed


def repr_columns(columns: list[str]) -> list[str]:
    """Column names quoted for SQL."""
    return [f'"{c}"' for c in columns]


def prune_tombstones(store: StoreBase) -> int:
    """Forget deleted rows older than TOMBSTONES_KEPT (PostgreSQL); the number forgotten."""
    if not store.postgres:
        return 0
    cutoff = (utcnow() - TOMBSTONES_KEPT).isoformat()
    return store.engine.execute(
        "DELETE FROM tombstones WHERE at < ?::timestamptz", [cutoff]
    ).rowcount
