"""Text normalisation for matching, with a map back to the original offsets.

Two forms: `fold` (NFKC, case folding, accents removed) for aliases, context and topic
terms, and `exact` (NFKC only) for exact aliases and exact context. Both unify typographic
apostrophes, quotes and hyphens, drop soft hyphens and zero-width characters, and turn any
run of whitespace (line breaks, non-breaking spaces) into one space.

Most text needs no offset map: a translation table does the work in C (through bytes for
Latin-1 text, the fastest way), and a map is kept only when a character changes length
(ß -> ss, a soft hyphen, a combining accent, a ligature) or a whitespace run is folded:
then the plain stretches between such characters are still translated in C, and only the
special characters are converted one by one.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# Characters that vanish: soft hyphen, zero-width space/joiners, word joiner, BOM.
_DROP = "\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e"
_APOSTROPHES = "\u2019\u2018\u02bc\u02bb\u201b\u00b4\u0060\u2032\uff07"
_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u301d\u301e\uff02"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
# Where the translation tables are precomputed; rarer characters take the slow path.
_TABLE_RANGES = ((0x0000, 0x3000), (0xFB00, 0xFB07), (0xFF00, 0xFFF0))
_SPACES = re.compile(r"\s{2,}")


def _unify(ch: str) -> str:
    if ch in _DROP:
        return ""
    if ch in _APOSTROPHES:
        return "'"
    if ch in _QUOTES:
        return '"'
    if ch in _HYPHENS:
        return "-"
    if ch.isspace():
        return " "
    return ch


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=8192)
def _fold_piece(piece: str) -> str:
    """One character cluster (a base and its combining marks) in folded form."""
    unified = "".join(_unify(c) for c in piece)
    out = _strip_marks(unified).casefold()
    # Case folding and compatibility mapping can produce more marks ("İ" -> "i̇").
    return "".join(_unify(c) for c in _strip_marks(unicodedata.normalize("NFKC", out)))


@lru_cache(maxsize=8192)
def _exact_piece(piece: str) -> str:
    """One character cluster in exact form (compatibility-normalised, case kept)."""
    return "".join(_unify(c) for c in unicodedata.normalize("NFKC", "".join(map(_unify, piece))))


def _table(convert: Callable[[str], str]) -> tuple[str, re.Pattern[str]]:
    """A str.translate table for length-1 changes, and a pattern finding what it can't do."""
    # A string indexed by code point: translate looks it up faster than a dict.
    table = [chr(code) for code in range(0x10000)]
    special: list[str] = []
    for lo, hi in _TABLE_RANGES:
        for code in range(lo, hi):
            ch = chr(code)
            out = convert(ch)
            if len(out) == 1 and not unicodedata.combining(ch):
                table[code] = out
            else:
                special.append(re.escape(ch))
    pattern = re.compile(
        "["
        + "".join(special)
        + r"\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
        r"\u3000-\ufaff\ufb07-\ufeff\ufff0-\U0010ffff]"
    )
    return "".join(table), pattern


# Frequent in news text outside Latin-1; each maps to one Latin-1 character.
_TYPOGRAPHIC = "\u2019\u2018\u201c\u201d\u201e\u2013\u2014\u2010\u2011\u2009\u202f\u2032"


def _latin1_table(table: str) -> tuple[bytes, re.Pattern[str]] | None:
    """The Latin-1 part of `table` as bytes, and a pattern of characters it cannot map."""
    unsafe = [chr(c) for c in range(256) if ord(table[c]) > 255]
    for ch in _TYPOGRAPHIC:
        if ord(table[ord(ch)]) > 255:
            return None  # this form keeps them: the bytes path does not apply
    mapped = bytes(ord(table[c]) if ord(table[c]) < 256 else c for c in range(256))
    return mapped, re.compile("[" + re.escape("".join(unsafe)) + "]" if unsafe else "(?!)")


# A piece of normalised text: (normalised start, original start, original end, linear).
# A linear piece maps character for character; any other maps as a whole to its span.
Piece = tuple[int, int, int, bool]


@dataclass(frozen=True)
class Normalized:
    """Normalised text and, when it differs in length, how its pieces map to the original."""

    text: str
    pieces: tuple[Piece, ...] = ()  # empty: same offsets as the original
    marks: tuple[int, ...] = ()  # normalised start of each piece, for bisect

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) of the normalised [start, end)."""
        if not self.pieces:
            return start, end
        return self._original(start, False), self._original(end - 1, True)

    def _original(self, i: int, end: bool) -> int:
        n0, o0, o1, linear = self.pieces[bisect_right(self.marks, i) - 1]
        if linear:
            return o0 + (i - n0) + end
        return o1 if end else o0


class Normalizer:
    """One normalisation form: `fold` or `exact`."""

    def __init__(self, convert: Callable[[str], str]) -> None:
        self.convert = convert
        self._tables: tuple[str, re.Pattern[str]] | None = None
        self._latin1: tuple[bytes, re.Pattern[str]] | None = None
        self._ascii: str | None = None

    def __call__(self, text: str) -> Normalized:
        """Normalise `text`, keeping a map to its offsets when the length changes."""
        if text.isascii():
            # Every ASCII character maps to one character: 128 entries do, without the
            # full table (~70 ms to build, which English configs and items never need).
            if self._ascii is None:
                self._ascii = "".join(self.convert(chr(code)) for code in range(128))
            out = text.translate(self._ascii)
            if "  " not in out:
                return Normalized(out)
        if self._tables is None:  # built on first use: ~100 ms a CLI command may not need
            self._tables = _table(self.convert)
            self._latin1 = _latin1_table(self._tables[0])
        table, special = self._tables
        # An ASCII character never changes length, so ASCII text skips the search.
        if text.isascii() or not special.search(text):
            out = self._plain(text, table)
            if "  " not in out:
                return Normalized(out)
        return self._mapped(text, table, special)

    def term(self, text: str) -> str:
        """A config term in this form, trimmed (aliases, context and topic terms)."""
        return self(text).text.strip()

    def _plain(self, text: str, table: str) -> str:
        """Text without special characters through the table, the fastest way available."""
        if text.isascii() or self._latin1 is None:
            return text.translate(table)  # CPython translates ASCII in C
        # European text is mostly Latin-1 once typographic punctuation is replaced, and
        # bytes.translate is several times faster than str.translate on non-ASCII text.
        bytes_table, unsafe = self._latin1
        plain = text
        for ch in _TYPOGRAPHIC:
            if ch in plain:
                plain = plain.replace(ch, table[ord(ch)])
        try:
            raw = plain.encode("latin-1")
        except UnicodeEncodeError:
            return text.translate(table)
        if unsafe.search(plain):
            return text.translate(table)
        return raw.translate(bytes_table).decode("latin-1")

    def _mapped(self, text: str, table: str, special: re.Pattern[str]) -> Normalized:
        # Plain stretches go through the table in C; only special characters (each with its
        # base and combining marks) and whitespace runs are converted one by one.
        events: list[tuple[int, int]] = []
        n = len(text)
        for m in special.finditer(text):
            i = m.start()
            if events and i < events[-1][1]:
                continue  # a combining mark already taken with its base
            first = i - 1 if i > 0 and unicodedata.combining(text[i]) else i
            j = i + 1
            while j < n and unicodedata.combining(text[j]):
                j += 1
            events.append((first, j))
        events += [m.span() for m in _SPACES.finditer(text)]
        events.sort()
        pieces: list[Piece] = []
        parts: list[str] = []
        pos = size = 0
        for first, j in events:
            if first < pos:
                return self._slow(text)  # overlapping events: rare enough to go slowly
            if first > pos:
                parts.append(self._plain(text[pos:first], table))
                pieces.append((size, pos, first, True))
                size += first - pos
            out = self.convert(text[first:j])
            if out:
                parts.append(out)
                pieces.append((size, first, j, False))
                size += len(out)
            pos = j
        if pos < n:
            parts.append(self._plain(text[pos:], table))
            pieces.append((size, pos, n, True))
        out = "".join(parts)
        if "  " in out:  # e.g. a soft hyphen between two spaces
            return self._slow(text)
        return Normalized(out, tuple(pieces), tuple(p[0] for p in pieces))

    def _slow(self, text: str) -> Normalized:
        """Cluster by cluster: always right, used only when the fast path cannot be."""
        parts: list[str] = []
        pieces: list[Piece] = []
        size, i, n = 0, 0, len(text)
        while i < n:
            j = i + 1
            while j < n and unicodedata.combining(text[j]):
                j += 1
            for ch in self.convert(text[i:j]):
                if ch == " " and parts and parts[-1] == " ":
                    pieces[-1] = (*pieces[-1][:2], j, False)  # one space covers the run
                    continue
                parts.append(ch)
                pieces.append((size, i, j, False))
                size += 1
            i = j
        return Normalized("".join(parts), tuple(pieces), tuple(p[0] for p in pieces))


def is_word_char(ch: str) -> bool:
    """Letters, digits and underscore: what an alias may not touch on either side."""
    return ch.isalnum() or ch == "_"


fold = Normalizer(_fold_piece)
exact = Normalizer(_exact_piece)
