"""Copy one regwatch database into another: SQLite into PostgreSQL (or back, or across).

Every table that is the users' record or the daemon's state is copied with its ids, in an
order that satisfies the references, inside one read transaction of the source (a
consistent view, even with a daemon writing) and one transaction of the target (a failed
copy leaves it empty, ready for another try). The target must be empty. What each engine
derives by itself is not copied: PostgreSQL's search vector and row revisions, SQLite's
FTS index (filled by its triggers).
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.errors import StorageError
from watcher.store.base import StoreBase

# Copied in this order: a row's references are there before it.
TABLES = (
    "sources",
    "stories",
    "items",
    "hits",
    "messages",
    "deliveries",
    "story_keys",
    "story_title_words",
    "digest_state",
    "evidence_bodies",
    "captures",
    "hit_captures",
    "hit_evidence",
    "review_log",
)
DERIVED = {"search", "rev"}  # columns an engine computes itself
BATCH = 2000


def row_counts(store: StoreBase, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """The number of rows of each of `tables` the database has."""
    have = store.engine.table_names()
    return {
        t: int(store.engine.execute(f"SELECT COUNT(*) FROM {t}").rows[0][0])
        for t in tables
        if t in have
    }


def copy_store(
    source: StoreBase, target: StoreBase, progress: Callable[[int], None] | None = None
) -> dict[str, tuple[int, int]]:
    """Copy every table of `source` into the empty `target`; per table (rows in the source,
    rows in the target afterwards). `progress(n)` is told of each batch copied."""
    filled = [t for t, n in row_counts(target).items() if n]
    if filled:
        raise StorageError(
            f"{target.label} is not empty ({', '.join(filled)} have rows)",
            hint="copy into a new, empty database (createdb), so nothing is mixed or lost",
        )
    result: dict[str, tuple[int, int]] = {}
    with source.engine.consistent_read(), target.writing("the copied database"):
        counts = row_counts(source)
        for table, count in counts.items():
            columns = [
                c
                for c in source.engine.columns(table)
                if c in target.engine.columns(table) and c not in DERIVED
            ]
            names = ", ".join(f'"{c}"' for c in columns)  # quoted: hits has a column "end"
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            for rows in source.engine.stream(f"SELECT {names} FROM {table}", (), BATCH):
                target.engine.executemany(insert, rows)
                if progress:
                    progress(len(rows))
            target.engine.reset_ids(table)
            result[table] = (count, 0)
        copied = row_counts(target, tuple(counts))
    return {t: (n, copied[t]) for t, (n, _) in result.items()}
