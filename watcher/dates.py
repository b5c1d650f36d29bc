"""Dates as web pages write them, in several languages, to ISO 8601 UTC.

Listing pages write "26 Feb 2024", "26 février 2024", "26. Februar 2024", "Sept 26, 2024",
"26/02/2024" or an ISO stamp in a ``datetime`` attribute. Day-first is assumed for numeric
dates (European regulators); a date without a time is taken at midnight UTC.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Month names and abbreviations (accents stripped, lower case): en, fr, de, nl, it, es, pt.
_MONTH_NAMES = {
    1: "january jan janvier janv januar jänner janner januari gennaio genn gen enero ene janeiro",
    2: "february feb fevrier fevr fev februar februari febbraio febrero fevereiro",
    3: "march mar mars marz maart marzo marco",
    4: "april apr avril avr aprile abril abr",
    5: "may mai mei maggio mag mayo maio",
    6: "june jun juin juni giugno giu junio junho",
    7: "july jul juillet juil juli luglio lug julio julho",
    8: "august aug aout augustus agosto ago",
    9: "september sep sept septembre settembre set septiembre setembro",
    10: "october oct octobre oktober okt ottobre ott octubre outubro out",
    11: "november nov novembre noviembre novembro",
    12: "december dec decembre dezember dez dicembre dic diciembre dezembro",
}
MONTHS = {name: num for num, names in _MONTH_NAMES.items() for name in names.split()}

_WORDS = re.compile(r"[a-z]+|\d+")
_NUMERIC = re.compile(r"\b(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})\b")
_TIME = re.compile(r"\b(\d{1,2})[:h](\d{2})\b")


def _fold(text: str) -> str:
    """Lower case without accents: "Février" -> "fevrier", "März" -> "marz"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _make(year: int, month: int, day: int, text: str) -> str | None:
    if year < 100:
        year += 2000
    hour = minute = 0
    clock = _TIME.search(text)
    if clock and int(clock.group(1)) < 24 and int(clock.group(2)) < 60:
        hour, minute = int(clock.group(1)), int(clock.group(2))
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC).isoformat(timespec="seconds")
    except ValueError:
        return None


def parse_date(text: str | None) -> str | None:
    """ISO 8601 UTC for a date written in any of the supported forms, or None."""
    if not text or not text.strip():
        return None
    text = " ".join(text.split())
    try:  # ISO 8601, as in <time datetime="2024-02-26T10:00:00+01:00">
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat(timespec="seconds")
    except ValueError:
        pass
    try:  # RFC 2822, as feeds and HTTP write it
        when = parsedate_to_datetime(text)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError, IndexError):
        pass
    numeric = _NUMERIC.search(text)
    if numeric:
        a, b, c = (int(g) for g in numeric.groups())
        if a > 31:  # 2024-02-26 or 2024/02/26
            return _make(a, b, c, text)
        return _make(c, b, a, text)  # 26/02/2024, 26.02.2024: day first
    return _with_month_name(text)


def _with_month_name(text: str) -> str | None:
    words = _WORDS.findall(_fold(text))
    month = year = day = None
    for i, word in enumerate(words):
        if month is None and word in MONTHS:
            month = MONTHS[word]
            # The day is the number just before the month ("26 Feb") or just after ("Feb 26").
            for j in (i - 1, i + 1):
                if 0 <= j < len(words) and words[j].isdigit() and 1 <= int(words[j]) <= 31:
                    day = int(words[j])
                    break
        elif word.isdigit() and len(word) == 4:
            year = int(word)
    if month is None or year is None:
        return None
    return _make(year, month, day or 1, text)
