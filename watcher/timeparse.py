"""Time as users and web pages write it: durations, --since, dates, zones, digest schedules.

Durations: "90s", "15m", "1h30m", "1d". A --since is a duration ago or a date. Listing pages
write dates as "26 Feb 2024", "26 février 2024", "26. Februar 2024", "Sept 26, 2024",
"26/02/2024" or an ISO stamp in a ``datetime`` attribute: day-first is assumed for numeric
dates (European regulators); a date without a time is taken at midnight UTC. Everything is
stored as ISO 8601 UTC text. Imports nothing of regwatch's.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """A stored timestamp: ISO 8601 in UTC, to the second."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def now_iso() -> str:
    return iso(utcnow())


# -- durations and --since ---------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration like "90s", "15m", "1h30m" or "1d"; ValueError if malformed."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f'{text!r} is not a duration; write e.g. "90s", "15m", "1h", "1d"')
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def parse_since(text: str, now: datetime | None = None) -> str:
    """A cut-off timestamp from "7d"/"12h" (ago) or an ISO date like 2024-02-01; ValueError."""
    try:
        return iso((now or utcnow()) - timedelta(seconds=parse_duration(text)))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: give a duration like 7d or a date like 2024-02-01") from None
    return iso(when if when.tzinfo else when.replace(tzinfo=UTC))


def human_duration(seconds: float | None) -> str:
    """3725 -> "1h 2m"; None -> "-"."""
    if seconds is None:
        return "-"
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = (
        [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    )
    return " ".join(parts[:2]) if parts else f"{secs}s"


# -- dates as pages write them -------------------------------------------------------------------

# Month names and abbreviations (accents stripped, lower case): en, fr, de, nl, it, es, pt.
RETRY_AFTER_MAX = 24 * 3600.0  # a server asking for more than a day gets a day


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header (delta-seconds or an HTTP date) asks for, at most a day;
    None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


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


# -- periods of trend counts ---------------------------------------------------------------------

EVERY = ("day", "week", "month")


def period_of(day: date, every: str) -> str:
    """The label of the period holding `day`: 2024-02-26, week of 2024-02-26 (Monday), 2024-02."""
    if every == "month":
        return day.strftime("%Y-%m")
    if every == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def periods(start: date, end: date, every: str) -> list[str]:
    """Every period label from `start` to `end`, in order, with none missing."""
    out: list[str] = []
    day = start
    while day <= end:
        label = period_of(day, every)
        if not out or out[-1] != label:
            out.append(label)
        day += timedelta(days=1)
    return out


# -- time zones and digest schedules ------------------------------------------------------------


def zone(name: str | None) -> tzinfo:
    """The IANA time zone `name`, or the system's when None; ValueError if unknown."""
    if name is None:
        return system_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def system_zone() -> tzinfo:
    """The machine's time zone: $TZ, else /etc/localtime's zone, else its current offset."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _localtime_name()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def _localtime_name() -> str:
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return ""
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^(?:(?P<immediate>immediate)|(?P<hourly>hourly)|daily (?P<dh>\d{1,2}):(?P<dm>\d{2})|"
    r"weekly (?P<day>[a-z]{3}) (?P<wh>\d{1,2}):(?P<wm>\d{2}))$"
)


@dataclass(frozen=True)
class Schedule:
    """When a channel's alerts go out: "immediate", or a digest "hourly", "daily", "weekly"."""

    kind: str = "immediate"
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # 0 = Monday

    @property
    def immediate(self) -> bool:
        return self.kind == "immediate"

    def __str__(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.kind == "daily":
            return f"daily {at}"
        if self.kind == "weekly":
            return f"weekly {DAYS[self.weekday]} {at}"
        return self.kind


def parse_schedule(text: str) -> Schedule:
    """The schedule in `text`; ValueError naming the accepted forms when it is not one."""
    m = _SPEC.match(" ".join(text.lower().split()))
    forms = '"immediate", "hourly", "daily 08:00" or "weekly mon 08:00"'
    if not m:
        raise ValueError(f"{text!r} is not a digest schedule; write {forms}")
    if m["immediate"]:
        return Schedule("immediate")
    if m["hourly"]:
        return Schedule("hourly")
    if m["day"] and m["day"] not in DAYS:
        raise ValueError(f"{m['day']!r} is not a day; use one of {', '.join(DAYS)}")
    hour, minute = int(m["dh"] or m["wh"]), int(m["dm"] or m["wm"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    if m["day"]:
        return Schedule("weekly", hour, minute, DAYS.index(m["day"]))
    return Schedule("daily", hour, minute)


def last_slot(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest time at or before `now` when this schedule fires (None: immediate)."""
    local = now.astimezone(tz)
    if schedule.immediate:
        return None
    if schedule.kind == "hourly":
        return local.replace(minute=0, second=0, microsecond=0)
    # The slot is a wall-clock time in the zone, so 08:00 stays 08:00 across DST changes.
    at = time(schedule.hour, schedule.minute)
    day = local.date()
    step = timedelta(days=1)
    if schedule.kind == "weekly":
        day -= timedelta(days=(local.weekday() - schedule.weekday) % 7)
        step = timedelta(days=7)
    slot = datetime.combine(day, at, tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - step, at, tzinfo=tz)
    return slot
