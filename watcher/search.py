"""Full-text search over stored items (SQLite FTS5, case- and accent-folded).

The query language is FTS5's, made forgiving: words are quoted for the user, so
`Kommission's` or `AT&T` just work, while "phrases", AND/OR/NOT (upper case), prefixes
(`enquête*`), parentheses and `title:word` keep their meaning.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from watcher.errors import WatcherError
from watcher.text import MARK_CLOSE, MARK_OPEN

if TYPE_CHECKING:
    from watcher.store import Store

# Marks put around the matching words in a search snippet (kept in JSON/CSV too).
# Title matches weigh more than body matches in the relevance ranking.
RANK = "bm25(items_fts, 4.0, 1.0)"
SNIPPET = f"snippet(items_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', '…', 24)"
SYNTAX_HINT = (
    'words are ANDed; use "exact phrase", OR, NOT (as in: merger NOT agriculture), '
    "prefix* and parentheses; operators in upper case"
)

_TOKEN = re.compile(r'\s*(?:(?P<phrase>"[^"]*")(?P<pstar>\*?)|(?P<paren>[()])|(?P<word>[^\s()"]+))')
_COLUMN = re.compile(r"^(title|text):(.+)$")


class SearchError(WatcherError):
    """A search query that cannot be run (bad syntax)."""


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> str:
    """Translate a user's search into an FTS5 MATCH expression, or raise SearchError."""
    if text.count('"') % 2:
        raise SearchError(f"search {text!r}: a double quote is not closed", hint=SYNTAX_HINT)
    parts: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m["phrase"]:
            parts.append(m["phrase"] + m["pstar"])
        elif m["paren"]:
            parts.append(m["paren"])
        else:
            parts.append(_term(m["word"], text))
    if not parts:
        raise SearchError("empty search", hint=SYNTAX_HINT)
    return " ".join(parts)


def _term(word: str, text: str) -> str:
    if word in ("AND", "OR", "NOT"):
        return word
    column = ""
    m = _COLUMN.match(word)
    if m:
        column, word = m[1] + ": ", m[2]
    star = ""
    if word.endswith("*"):
        word, star = word.rstrip("*"), "*"
        if not word:
            raise SearchError(f"search {text!r}: '*' must end a word, as in enquête*")
    return column + _quote(word) + star


@contextmanager
def fts_errors(query: str) -> Iterator[None]:
    """Turn SQLite's FTS syntax errors into a SearchError naming the query."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "no such table: items_fts" in message or "no such index: items_day" in message:
            raise SearchError(
                "this database has no search index yet",
                hint="run `regwatch reindex` once (or restart the daemon) to build it",
            ) from None
        if "fts5" in message or "syntax error" in message or "no such column" in message:
            raise SearchError(f"search {query!r}: {message}", hint=SYNTAX_HINT) from None
        raise


def search_items(
    store: Store,
    query: str,
    *,
    source: str | None = None,
    since: str | None = None,
    limit: int | None = 20,
) -> list[dict[str, Any]]:
    """Stored items matching `query` (hit or not), most relevant first, then newest."""
    where, args = ["items_fts MATCH ?"], [fts_query(query)]
    if source:
        where.append("i.source = ?")
        args.append(source)
    if since:
        where.append("COALESCE(i.published, i.discovered) >= ?")
        args.append(since)
    # Rank first, then make snippets for the rows kept only: a snippet costs far more
    # than a rank, and SQLite would make one for every match before sorting. CROSS JOIN
    # keeps `top` as the outer loop, so the index is read by rowid, not scanned again.
    sql = f"""WITH top AS (
                SELECT i.id, {RANK} AS rank, COALESCE(i.published, i.discovered) AS day
                FROM items_fts JOIN items i INDEXED BY items_day ON i.id = items_fts.rowid
                WHERE {" AND ".join(where)}
                ORDER BY rank, day DESC {f"LIMIT {int(limit)}" if limit else ""})
              SELECT i.id, i.source, top.day AS published, i.title, i.link, {SNIPPET} AS match,
                  (SELECT group_concat(h.entity, ', ') FROM hits h WHERE h.item_id = i.id)
                      AS entities,
                  round(top.rank, 3) AS rank
              FROM top CROSS JOIN items_fts ON items_fts.rowid = top.id
              JOIN items i ON i.id = top.id
              WHERE items_fts MATCH ?
              ORDER BY top.rank, top.day DESC"""
    args.append(args[0])
    with fts_errors(query):
        return list(store.db.query(sql, args))


def rebuild_index(store: Store, progress: Callable[[int], None] | None = None) -> int:
    """Re-index every item in one transaction; `progress(n)` is told of each batch done."""
    total = 0
    with store.db.atomic():
        store.db.execute("INSERT INTO items_fts (items_fts) VALUES ('delete-all')")
        last = 0
        while True:
            rows = store.db.execute(
                "SELECT id, title, text FROM items WHERE id > ? ORDER BY id LIMIT 2000", [last]
            ).fetchall()
            if not rows:
                break
            store.db.conn.executemany(
                "INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)", rows
            )
            last = rows[-1][0]
            total += len(rows)
            if progress:
                progress(len(rows))
        store.db.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
    return total
