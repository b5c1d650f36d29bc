"""The search language over stored items, and its translation for each engine.

The query language is SQLite FTS5's, made forgiving: words are quoted for the user, so
`Kommission's` or `AT&T` just work, while "phrases", AND/OR/NOT (upper case), prefixes
(`enquête*`), parentheses and `title:word` keep their meaning. `fts_query` writes it for
FTS5; `tsquery` parses it with FTS5's precedence (NOT, then AND, then OR) and writes a
PostgreSQL tsquery that means the same. Case and accents are folded by both engines'
indexes (fulltext.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from watcher.errors import WatcherError

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


@dataclass(frozen=True)
class Term:
    """A word or a "phrase" of the query, perhaps a prefix, perhaps limited to a column."""

    text: str
    phrase: bool = False
    prefix: bool = False
    column: str = ""  # "title" or "text", or "" for both


Token = str | Term  # an operator (AND, OR, NOT), a parenthesis, or a term


def tokens(text: str) -> list[Token]:
    """The query's operators, parentheses and terms; SearchError when it cannot be read."""
    if text.count('"') % 2:
        raise SearchError(f"search {text!r}: a double quote is not closed", hint=SYNTAX_HINT)
    out: list[Token] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m["phrase"]:
            out.append(Term(m["phrase"][1:-1], phrase=True, prefix=bool(m["pstar"])))
        elif m["paren"]:
            out.append(m["paren"])
        else:
            out.append(_term(m["word"], text))
    if not out:
        raise SearchError("empty search", hint=SYNTAX_HINT)
    return out


def fts_query(text: str) -> str:
    """Translate a user's search into an FTS5 MATCH expression, or raise SearchError."""
    parts = []
    for token in tokens(text):
        if isinstance(token, str):
            parts.append(token)
        elif token.phrase:
            parts.append(_quote(token.text) + ("*" if token.prefix else ""))
        else:
            column = token.column + ": " if token.column else ""
            parts.append(column + _quote(token.text) + ("*" if token.prefix else ""))
    return " ".join(parts)


def _term(word: str, text: str) -> Token:
    if word in ("AND", "OR", "NOT"):
        return word
    column = ""
    m = _COLUMN.match(word)
    if m:
        column, word = m[1], m[2]
    prefix = False
    if word.endswith("*"):
        word, prefix = word.rstrip("*"), True
        if not word:
            raise SearchError(f"search {text!r}: '*' must end a word, as in enquête*")
    return Term(word, prefix=prefix, column=column)


# -- PostgreSQL -------------------------------------------------------------------------------

_WEIGHT = {"title": "A", "text": "B"}  # the tsvector's weights (fulltext.py)


def tsquery(text: str) -> str:
    """Translate a user's search into PostgreSQL's to_tsquery() syntax, or raise SearchError.

    Parsed as FTS5 parses it: NOT binds tightest ("a NOT b" is a AND NOT b), then AND
    (also between two terms side by side), then OR; a syntax error names the token.
    """
    parser = _Parser(tokens(text), text)
    out = parser.expression()
    if parser.pos < len(parser.tokens):
        raise parser.fail()
    return out


class _Parser:
    def __init__(self, items: list[Token], text: str) -> None:
        self.tokens = items
        self.text = text
        self.pos = 0

    def fail(self) -> SearchError:
        """The syntax error FTS5 would raise, naming the token (or "" at the end)."""
        near = self.tokens[self.pos] if self.pos < len(self.tokens) else ""
        shown = near if isinstance(near, str) else near.text
        return SearchError(f'search {self.text!r}: syntax error near "{shown}"', hint=SYNTAX_HINT)

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expression(self) -> str:  # OR of ANDs
        parts = [self._and()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"

    def _and(self) -> str:  # AND of NOTs; AND may be left out
        parts = [self._not()]
        while True:
            token = self._peek()
            if token == "AND":
                self.pos += 1
            elif token is None or token in ("OR", ")"):
                break
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"

    def _not(self) -> str:  # a NOT b NOT c: a, without b, without c
        out = self._primary()
        while self._peek() == "NOT":
            self.pos += 1
            out = f"({out} & !{self._primary()})"
        return out

    def _primary(self) -> str:
        token = self._peek()
        if isinstance(token, Term):
            self.pos += 1
            return _lexemes(token)
        if token == "(":
            self.pos += 1
            inner = self.expression()
            if self._peek() != ")":
                raise self.fail()
            self.pos += 1
            return inner
        raise self.fail()


def _lexemes(term: Term) -> str:
    """A term as quoted tsquery lexemes: a phrase's words joined by <-> (followed by)."""
    words = term.text.split() if term.phrase else [term.text]
    weight = _WEIGHT.get(term.column, "")
    marks = ("*" if term.prefix else "") + weight
    quoted = ["'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words] or ["''"]
    quoted[-1] += ":" + marks if marks else ""
    if weight:  # a column applies to every word of the term
        quoted[:-1] = [q + ":" + weight for q in quoted[:-1]]
    return quoted[0] if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")"


@contextmanager
def fts_errors(query: str, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Turn the engine's search errors into a SearchError naming the query."""
    try:
        yield
    except errors as exc:
        message = str(exc)
        if "no such table: items_fts" in message or "no such index: items_day" in message:
            raise SearchError(
                "this database has no search index yet",
                hint="run `regwatch reindex` once (or restart the daemon) to build it",
            ) from None
        if any(word in message for word in ("fts5", "syntax error", "no such column", "tsquery")):
            raise SearchError(f"search {query!r}: {message}", hint=SYNTAX_HINT) from None
        raise
