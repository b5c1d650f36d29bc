"""Full-text search queries over stored items (SQLite FTS5, case- and accent-folded).

The query language is FTS5's, made forgiving: words are quoted for the user, so
`Kommission's` or `AT&T` just work, while "phrases", AND/OR/NOT (upper case), prefixes
(`enquête*`), parentheses and `title:word` keep their meaning.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from watcher.errors import WatcherError
from watcher.text.clean import MARK_CLOSE, MARK_OPEN

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
